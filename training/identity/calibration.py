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
from training.identity.evaluate import embed_folder_tree

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


def pair_scores(people: Dict[str, np.ndarray], block: slice = slice(None)) -> Tuple[np.ndarray, np.ndarray]:
    """The cosine of every pair of photos (on the dimensions ``block`` of their vectors), and whether the
    pair is of one person."""
    vectors = np.concatenate(list(people.values()))[:, block]
    labels = np.concatenate([[i] * len(v) for i, v in enumerate(people.values())])
    upper = np.triu_indices(len(vectors), 1)
    return (vectors @ vectors.T)[upper], labels[upper[0]] == labels[upper[1]]


def tar_at_far(people: Dict[str, np.ndarray], far: float = 0.001) -> float:
    """Verification: the share of same-person photo pairs scoring above the similarity that ``far`` of the
    different-person pairs exceed (the true-accept rate at that false-accept rate per comparison)."""
    scores, same = pair_scores(people)
    return float((scores[same] > np.quantile(scores[~same], 1 - far)).mean())


def one_to_n(
    people: Dict[str, np.ndarray],
    scorer: Scorer,
    threshold: float,
    sizes: Sequence[int] = (10, 25, 50, 100, 120),
    trials: int = 5,
    enroll: int = 3,
    seed: int = 0,
) -> List[Dict]:
    """Strangers named as the gallery grows: per size, ``trials`` random galleries of that many people enrolled
    from ``enroll`` photos; every photo of everyone else is a stranger probe, named when its best score reaches
    ``threshold`` (a stranger compared with more people finds a look-alike more often)."""
    names = sorted(people)
    rng = np.random.default_rng(seed)
    rows = []
    for size in sizes:
        if size >= len(names):
            continue
        named = probes = 0
        for _ in range(trials):
            chosen = set(rng.choice(len(names), size, replace=False).tolist())
            enrolled = [people[names[i]][:enroll] for i in sorted(chosen)]
            strangers = np.concatenate([people[names[i]] for i in range(len(names)) if i not in chosen])
            named += int((scorer(strangers, enrolled).max(axis=1) >= threshold).sum())
            probes += len(strangers)
        rows.append({"enrolled": size, "stranger_probes": probes, "strangers_named": round(named / probes, 4)})
    return rows


def zscore_fusion(dims: Sequence[int], people: Dict[str, np.ndarray], weights: Sequence[float]) -> Scorer:
    """Score-level fusion of networks whose unit vectors are concatenated (``dims`` wide each): each network's
    template score is standardised by the mean and spread of its different-person pair scores on ``people``,
    then the weighted mean is taken (the networks' scores live on different scales)."""
    edges = np.cumsum([0, *dims])
    blocks = [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]
    stats = []
    for block in blocks:
        scores, same = pair_scores(people, block)
        stats.append((float(scores[~same].mean()), float(scores[~same].std())))

    def fused(probes: np.ndarray, enrolled: List[np.ndarray]) -> np.ndarray:
        total = np.zeros((len(probes), len(enrolled)))
        for block, (mean, std), weight in zip(blocks, stats, weights):
            total += weight * (template(probes[:, block], [e[:, block] for e in enrolled]) - mean) / std
        return total / float(sum(weights))

    return fused


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
    people = photo_embeddings(root, embedder)
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
    point = report["rules"][SHIPPED_RULE]["operating_point"]
    report["tar_at_far_0.1%"] = round(tar_at_far(people), 4)
    report["one_to_n"] = one_to_n(people, SCORERS[SHIPPED_RULE], point["threshold"], enroll=enroll)
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


def photo_embeddings(root: Path, embedder: Embedder) -> Dict[str, np.ndarray]:
    """Each person's photo embeddings (the largest face of each photo, in file order), cached under ``runs/``
    by network and alignment (results depend on both)."""
    cache = Path("runs") / "identity" / f"{root.name}-{embedder.name}-{embedder.alignment}.npz"
    if cache.exists():
        data = np.load(cache)
        return {k: data[k] for k in data.files}
    detector = FaceDetector(max_side=1280, min_face_px=20)
    found = embed_folder_tree([root], embedder, detector)
    people = {k: np.stack([p.vector for p in v]) for k, v in found.items()}
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **people)
    return people


def compare_embedders(
    root: Path, embedders: Sequence[Embedder], out: Path, folds: int = 5, enroll: int = 3, max_far: float = 0.01
) -> List[Dict]:
    """Every network alone and the z-score fusion of every combination of them, by the fold protocol with the
    gallery's rule: named / strangers named at the threshold keeping ``max_far`` of strangers, the
    true-accept rate at 0.1% false accepts per comparison, strangers named as the gallery grows. Writes
    ``det.png`` and ``comparison.json`` into ``out``."""
    from itertools import combinations

    embedded = {e.name: photo_embeddings(root, e) for e in embedders}
    # The same detector finds the same photos for every network, so the rows line up; check it.
    counts = {name: {k: len(v) for k, v in people.items()} for name, people in embedded.items()}
    if len({json.dumps(c, sort_keys=True) for c in counts.values()}) != 1:
        raise ValueError("the networks were given different photos; delete runs/identity/*.npz and rerun")
    rows, curves = [], {}
    names = [e.name for e in embedders]
    for k in range(1, len(names) + 1):
        for combo in combinations(names, k):
            people = {p: np.concatenate([embedded[n][p] for n in combo], axis=1) for p in embedded[combo[0]]}
            dims = [embedded[n][next(iter(embedded[n]))].shape[1] for n in combo]
            scorer = template if k == 1 else zscore_fusion(dims, people, [1.0] * k)
            g, r, s = fold_scores(people, scorer, folds, enroll)
            point = operating_point(g, r, s, max_far)
            label = " + ".join(combo)
            curves[label] = (g, r, s)
            rows.append(
                {
                    "networks": label,
                    **point,
                    "tar_at_far_0.1%": round(tar_at_far(people), 4) if k == 1 else None,
                    "one_to_n": one_to_n(people, scorer, point["threshold"], enroll=enroll),
                }
            )
    out.mkdir(parents=True, exist_ok=True)
    plot_det(curves, out / "det.png", ", networks and fusions (template rule)")
    (out / "comparison.json").write_text(json.dumps({"set": root.name, "max_far": max_far, "rows": rows}, indent=2))
    return rows


def comparison_rows(rows: Sequence[Dict]) -> List[str]:
    """The comparison as a Markdown table."""
    sizes = [r["enrolled"] for r in rows[0]["one_to_n"]] if rows else []
    head = "| networks | threshold | named correctly | strangers named | TAR @ 0.1% FAR |"
    head += "".join(f" strangers named, {n} enrolled |" for n in sizes)
    out = [head, "|" + "---|" * (4 + len(sizes) + 1)]
    for r in rows:
        tar = "" if r["tar_at_far_0.1%"] is None else f"{r['tar_at_far_0.1%']:.1%}"
        line = (
            f"| {r['networks']} | {r['threshold']} | {r['named_correctly']:.1%} | {r['strangers_named']:.1%} | {tar} |"
        )
        out.append(line + "".join(f" {x['strangers_named']:.1%} |" for x in r["one_to_n"]))
    return out


def candidate_rows(report: Dict, names: Sequence[str] = tuple(SCORERS)) -> List[str]:
    rows = ["| rule | threshold | named correctly | wrong name | strangers named |", "|---|---|---|---|---|"]
    for name in names:
        p = report["rules"][name]["operating_point"]
        rows.append(
            f"| {name} | {p['threshold']} | {p['named_correctly']:.1%} | {p['wrong_name']:.1%} | "
            f"{p['strangers_named']:.1%} |"
        )
    return rows
