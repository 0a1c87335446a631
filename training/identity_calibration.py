"""Open-set identity calibration on a public set (``lfw_calib``): k folds of enrolled people and strangers.

Protocol (repeatable, seeded): the people are split into ``folds`` groups; in each fold one group are
strangers (every photo of theirs is a stranger probe) and the others are enrolled from their first
``enroll`` photos, their remaining photos being genuine probes. Every scoring rule is run on the same
folds and the same embeddings, and reported as the share of genuine probes named correctly and of
stranger probes given a name, at each threshold; the operating point is the threshold that names the
most genuine probes while naming at most ``max_far`` of strangers.

Scoring rules (each gives every enrolled person a score, the best one is the answer):

- ``nearest``: cosine to the person's most similar enrolled face (the gallery before this change);
- ``template``: cosine to the mean of the person's enrolled faces, re-normalised (dlib's habit);
- ``both``: the mean of the two;
- ``template-cohort``: ``template`` minus the mean of the next 10 people's template scores, a score
  normalisation that discounts probes that look like everybody.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from edge.detection import FaceDetector
from edge.identity.embedders import Embedder
from edge.identity.gallery import person_templates
from training.identity_eval import embed_folder_tree

Scorer = Callable[[np.ndarray, List[np.ndarray]], np.ndarray]  # probes (N, d), enrolled per person -> (N, P)


def nearest(probes: np.ndarray, enrolled: List[np.ndarray]) -> np.ndarray:
    return np.stack([(probes @ faces.T).max(axis=1) for faces in enrolled], axis=1)


def template(probes: np.ndarray, enrolled: List[np.ndarray]) -> np.ndarray:
    return probes @ person_templates(enrolled).T  # what the service's gallery does


def both(probes: np.ndarray, enrolled: List[np.ndarray]) -> np.ndarray:
    return 0.5 * (nearest(probes, enrolled) + template(probes, enrolled))


def template_cohort(probes: np.ndarray, enrolled: List[np.ndarray], cohort: int = 10) -> np.ndarray:
    scores = template(probes, enrolled)
    ranked = -np.sort(-scores, axis=1)
    background = ranked[:, 1 : 1 + cohort].mean(axis=1, keepdims=True)
    return scores - background


SCORERS: Dict[str, Scorer] = {
    "nearest": nearest,
    "template": template,
    "both": both,
    "template-cohort": template_cohort,
}


def fold_scores(
    people: Dict[str, np.ndarray], scorer: Scorer, folds: int = 5, enroll: int = 3, seed: int = 0
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(genuine best scores, whether the best was the right person, stranger best scores) over all folds."""
    names = sorted(people)
    order = np.random.default_rng(seed).permutation(len(names))
    genuine, right, strangers = [], [], []
    for fold in range(folds):
        held = {names[i] for i in order[fold::folds]}
        enrolled_names = [n for n in names if n not in held and len(people[n]) > enroll]
        enrolled = [people[n][:enroll] for n in enrolled_names]
        probes = [(n, v) for n in enrolled_names for v in people[n][enroll:]]
        if probes:
            scores = scorer(np.stack([v for _, v in probes]), enrolled)
            best = scores.argmax(axis=1)
            genuine += scores.max(axis=1).tolist()
            right += [enrolled_names[b] == n for b, (n, _) in zip(best, probes)]
        stranger_vectors = [v for n in held for v in people[n]]
        if stranger_vectors:
            strangers += scorer(np.stack(stranger_vectors), enrolled).max(axis=1).tolist()
    return np.array(genuine), np.array(right), np.array(strangers)


def operating_point(genuine: np.ndarray, right: np.ndarray, strangers: np.ndarray, max_far: float) -> Dict:
    """The threshold naming the most genuine probes correctly with at most ``max_far`` strangers named."""
    best = None
    for t in np.unique(np.concatenate([genuine, strangers])):
        far = float((strangers >= t).mean())
        if far > max_far:
            continue
        named = float(((genuine >= t) & right).mean())
        if best is None or named > best["named_correctly"]:
            best = {"threshold": round(float(t), 4), "named_correctly": named, "strangers_named": far}
    if best is None:
        raise ValueError("no threshold keeps strangers under the limit")
    wrong = float(((genuine >= best["threshold"]) & ~right).mean())
    return {
        **best,
        "wrong_name": round(wrong, 4),
        "named_correctly": round(best["named_correctly"], 4),
        "strangers_named": round(best["strangers_named"], 4),
    }


def plot_det(curves: Dict[str, Tuple[np.ndarray, np.ndarray, np.ndarray]], path: Path, label: str = "") -> None:
    """Missed genuine probes against strangers named, per scoring rule (log axes: a DET curve)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    for name, (genuine, right, strangers) in curves.items():
        ts = np.unique(np.concatenate([genuine, strangers]))
        far = np.array([(strangers >= t).mean() for t in ts])
        miss = np.array([1 - ((genuine >= t) & right).mean() for t in ts])
        ax.plot(np.maximum(far, 1e-4), np.maximum(miss, 1e-4), label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("strangers given a name (FAR)")
    ax.set_ylabel("genuine probes not named correctly")
    ax.axvline(0.02, color="grey", ls=":", lw=1)
    ax.axhline(0.02, color="grey", ls=":", lw=1)
    ax.set_title(f"Open-set identity on lfw_calib (5 folds){label}")
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


SHIPPED_RULE = "template"  # what IdentityGallery.match does; "both" named 0.6 points more but 0.3% wrongly


def calibrate_identity(
    root: Path,
    embedder: Embedder,
    out: Path,
    folds: int = 5,
    enroll: int = 3,
    max_far: float = 0.02,
    manifest: Optional[Path] = None,
) -> Dict:
    """Every scoring rule on ``root`` by the fold protocol; writes det.png and calibration.json into ``out``."""
    # Embeddings: a cache, not shipped; named by how chips are cut, since results depend on it.
    cache = Path("runs") / "identity" / f"{root.name}-{embedder.name}-{embedder.alignment}.npz"
    if cache.exists():
        data = np.load(cache)
        people = {k: data[k] for k in data.files}
    else:
        detector = FaceDetector(max_side=1280, min_face_px=20)
        found = embed_folder_tree([root], embedder, detector)
        people = {k: np.stack([p.vector for p in v]) for k, v in found.items()}
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **people)
    curves = {name: fold_scores(people, scorer, folds, enroll) for name, scorer in SCORERS.items()}
    out.mkdir(parents=True, exist_ok=True)
    plot_det(curves, out / "det.png", f", {embedder.name}, {embedder.alignment} alignment")
    report = {
        "embedder": embedder.name,
        "alignment": embedder.alignment,
        "people": len(people),
        "photos": int(sum(len(v) for v in people.values())),
        "folds": folds,
        "enroll": enroll,
        "max_far": max_far,
        "rules": {
            name: {
                "genuine_probes": int(len(g)),
                "stranger_probes": int(len(s)),
                "operating_point": operating_point(g, r, s, max_far),
            }
            for name, (g, r, s) in curves.items()
        },
    }
    (out / "calibration.json").write_text(json.dumps(report, indent=2))
    if manifest is not None:  # ship the operating point of the rule the gallery uses
        data = json.loads(manifest.read_text())
        point = report["rules"][SHIPPED_RULE]["operating_point"]
        data["models"][embedder.name]["calibration"] = {
            "threshold": point["threshold"],
            "scoring": SHIPPED_RULE,
            "alignment": embedder.alignment,
            "set": f"{root.name}: {report['people']} people, {report['photos']} photos, {folds} folds, "
            f"{enroll} photos enrolled, at most {max_far:.0%} strangers named",
            **{k: v for k, v in point.items() if k != "threshold"},
            "command": "python -m training calibrate-identity --write",
        }
        manifest.write_text(json.dumps(data, indent=2) + "\n")
    return report


def candidate_rows(report: Dict, names: Sequence[str] = tuple(SCORERS)) -> List[str]:
    rows = ["| rule | threshold | named correctly | wrong name | strangers named |", "|---|---|---|---|---|"]
    for name in names:
        p = report["rules"][name]["operating_point"]
        rows.append(
            f"| {name} | {p['threshold']} | {p['named_correctly']:.1%} | {p['wrong_name']:.1%} | "
            f"{p['strangers_named']:.1%} |"
        )
    return rows
