"""Open-set identity evaluation: enroll a few photos per person, probe with the rest and with strangers.

Protocol, on folders ``<root>/<person>/<photos>``:

- people with at least two photos: the first ``enroll`` photos (at most 3)
  are enrolled, every other photo is a *genuine* probe that must get that name;
- people with one photo are never enrolled: their photo is a *stranger* probe
  that must come out "unknown". Each genuine person is also held out once as
  a stranger (leave-one-person-out), so strangers outnumber the single photos.

Reported at every threshold: correct-name rate (genuine probes named right),
false reject rate, false accept rate (strangers given any name). Faces narrower
than ``min_face_px`` are treated as the service treats them: never enrolled,
never named (so they count against the correct-name rate, never as false accepts).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from edge.crops import IMAGE_SUFFIXES
from edge.detection import FaceDetector
from edge.identity.embedders import Embedder
from edge.identity.gallery import person_templates
from training.identity.photo_faces import largest_face


@dataclass
class Probe:
    person: str
    path: str
    vector: np.ndarray
    face_px: float = 1e9  # width of the face box in the photo
    quality: float = 1.0  # edge.identity.quality of the face, as the service scores it


def embed_folder_tree(roots: Sequence[Path], embedder: Embedder, detector: FaceDetector) -> Dict[str, List[Probe]]:
    """One embedding per photo (its largest face); photos without a face are skipped."""
    people: Dict[str, List[Probe]] = {}
    for root in roots:
        for person_dir in sorted(p for p in Path(root).iterdir() if p.is_dir()):
            for photo in sorted(p for p in person_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
                found = largest_face(photo, embedder, detector)
                if found is None:
                    continue
                chip, face_px, quality = found
                vec = embedder.embed_chips(chip[None])[0]
                key = person_dir.name  # the same person may have photos under several roots
                people.setdefault(key, []).append(Probe(key, str(photo), vec, face_px, quality))
    return people


# One embedding -> (best name, its score): what an identification method answers for a probe.
Matcher = Callable[[np.ndarray], Tuple[str, float]]


def gallery_matcher(enrolled: Dict[str, np.ndarray]) -> Optional[Matcher]:
    """The service's gallery: the enrolled person whose template (mean embedding) is most similar (cosine)."""
    if not enrolled:
        return None
    names = list(enrolled)
    templates = person_templates([enrolled[n] for n in names])

    def match(vector: np.ndarray) -> Tuple[str, float]:
        scores = templates @ vector
        best = int(scores.argmax())
        return names[best], float(scores[best])

    return match


def head_matcher(enrolled: Dict[str, np.ndarray]) -> Optional[Matcher]:
    """The trained head (``python -m training identity``) fitted on the enrolled embeddings; the score is
    its top softmax probability. A classifier needs two people at least."""
    from edge.identity.head import IdentityHead
    from training.identity.head import fit_head

    if len(enrolled) < 2:
        return None
    names = list(enrolled)
    labels = np.concatenate([np.full(len(enrolled[n]), i) for i, n in enumerate(names)])
    weight, bias = fit_head(np.concatenate([enrolled[n] for n in names]), labels, len(names))
    head = IdentityHead(weight, bias, names, "", 0.0)

    def match(vector: np.ndarray) -> Tuple[str, float]:
        ident = head.predict(vector[None])[0]
        return ident.name or "", ident.score

    return match


def open_set_scores(
    people: Dict[str, List[Probe]],
    enroll: int = 3,
    min_face_px: float = 0,
    fit: Callable[[Dict[str, np.ndarray]], Optional[Matcher]] = gallery_matcher,
    min_quality: float = 0,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(genuine best-match scores, whether the best match was the right person, stranger best scores).

    ``fit`` turns each pass's enrolled embeddings into a matcher (the gallery, or the head). A probe
    narrower than ``min_face_px`` or of quality under ``min_quality`` scores -1 (never named), as the
    service skips such faces; they are not enrolled either.
    """

    def usable(p: Probe) -> bool:
        return p.face_px >= min_face_px and p.quality >= min_quality

    enrollable = {k: v for k, v in people.items() if len(v) >= 2}
    singles = [v[0] for k, v in people.items() if len(v) == 1]
    genuine_scores, genuine_right, stranger_scores = [], [], []

    def split(probes: List[Probe]) -> Tuple[List[Probe], List[Probe]]:
        """(enrolled, probes): the first ``enroll`` photos, always leaving one to probe with."""
        k = min(enroll, len(probes) - 1)
        return [p for p in probes[:k] if usable(p)], probes[k:]

    for held_out in [None, *enrollable]:
        enrolled = {
            name: np.stack([p.vector for p in split(probes)[0]])
            for name, probes in enrollable.items()
            if name != held_out and split(probes)[0]
        }
        match = fit(enrolled)

        def best(p: Probe, match: Optional[Matcher] = match) -> Tuple[str, float]:
            if not usable(p) or match is None:
                return "", -1.0
            return match(p.vector)

        if held_out is None:
            for name, probes in enrollable.items():
                for p in split(probes)[1]:
                    who, score = best(p)
                    genuine_scores.append(score)
                    genuine_right.append(who == name)
            stranger_scores += [best(p)[1] for p in singles]
        else:
            stranger_scores += [best(p)[1] for p in enrollable[held_out]]
    return np.array(genuine_scores), np.array(genuine_right), np.array(stranger_scores)


def rates_at(threshold: float, genuine: np.ndarray, right: np.ndarray, strangers: np.ndarray) -> Dict[str, float]:
    named = genuine >= threshold
    return {
        "threshold": round(float(threshold), 3),
        "correct_name_rate": float((named & right).mean()) if len(genuine) else 0.0,
        "false_reject_rate": float((~named).mean()) if len(genuine) else 0.0,
        "false_accept_rate": float((strangers >= threshold).mean()) if len(strangers) else 0.0,
    }


def evaluate_identity(
    roots: Sequence[Path], embedder: Embedder, enroll: int = 3, min_face_px: float = 0, min_quality: float = 0
) -> Dict[str, object]:
    """Gallery (and head) rates on the folder trees under ``roots``; see the module docstring."""
    detector = FaceDetector(max_side=1280, min_face_px=20)
    people = embed_folder_tree(roots, embedder, detector)
    genuine, right, strangers = open_set_scores(people, enroll, min_face_px, min_quality=min_quality)
    sweep = [rates_at(t, genuine, right, strangers) for t in np.arange(0.5, 0.99, 0.01)]
    h_genuine, h_right, h_strangers = open_set_scores(people, enroll, min_face_px, head_matcher, min_quality)
    return {
        "head_at_0.7": rates_at(0.7, h_genuine, h_right, h_strangers),
        "embedder": embedder.name,
        "min_face_px": min_face_px,
        "min_quality": min_quality,
        "people": {k: len(v) for k, v in people.items()},
        "genuine_probes": int(len(genuine)),
        "stranger_probes": int(len(strangers)),
        "at_default_threshold": rates_at(embedder.threshold, genuine, right, strangers),
        "sweep": sweep,
        "genuine_scores": np.round(np.sort(genuine), 3).tolist(),
        "stranger_scores": np.round(np.sort(strangers), 3).tolist(),
    }
