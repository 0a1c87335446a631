"""Honest emotion confidence: temperature scaling on PublicTest and the "uncertain" threshold.

The ResNet9 is over-confident out of its training domain (the demo's walkers were called sad or afraid
with high probability). Temperature scaling (Guo et al. 2017) divides the logits by one number fitted to
minimise the negative log-likelihood on held-out faces; the expected calibration error (ECE, 15 bins)
says how far stated confidence is from accuracy, before and after. The uncertain threshold is the
lowest calibrated top probability at which the kept answers are right at least ``target_precision`` of
the time on PublicTest: under it the service shows "?" and sends no ``emotion.changed``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
from tqdm import tqdm

from edge.config import DEMO_VIDEO, load_settings
from edge.detection import FaceDetector
from edge.emotion import EmotionClassifier, probabilities
from edge.manifest import ModelManifest
from training.emotion.fer import load_fer

TARGET_PRECISION = 0.80  # an emotion the service names is right at least this often on PublicTest
ECE_BINS = 15


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by their share of faces."""
    confidence, predicted = probs.max(axis=1), probs.argmax(axis=1)
    correct = predicted == labels
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(ece)


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean())


def fit_temperature(view_logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the NLL of the views' mean probability (coarse grid, then a fine one)."""
    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 61))
    best = min(grid, key=lambda t: nll(probabilities(view_logits, t), labels))
    fine = np.linspace(best / 1.08, best * 1.08, 41)
    return float(min(fine, key=lambda t: nll(probabilities(view_logits, t), labels)))


def uncertain_threshold(probs: np.ndarray, labels: np.ndarray, target: float = TARGET_PRECISION) -> float:
    """The lowest top probability at which the answers kept (top >= it) are right ``target`` of the time."""
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
    for t in np.arange(0.20, 0.96, 0.01):
        kept = confidence >= t
        if kept.sum() >= 50 and correct[kept].mean() >= target:
            return round(float(t), 2)
    return 0.95


def demo_faces(classifier: EmotionClassifier, every: int = 3) -> np.ndarray:
    """Every face the service's live detector finds in every ``every``-th demo frame, as classifier input."""
    detector = FaceDetector.from_config(load_settings(None, environ={}).detector)
    cap = cv2.VideoCapture(str(DEMO_VIDEO))
    batches, index = [], 0
    with tqdm(desc="demo faces", unit="frame") as bar:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if index % every == 0:
                dets = detector.detect(frame)
                if len(dets):
                    batches.append(classifier.crops(frame, dets.boxes))
            index += 1
            bar.update()
    return np.concatenate(batches) if batches else np.zeros((0, 1, 48, 48), np.float32)


def distribution(probs: np.ndarray, classes: List[str], below: float = 0.0) -> Dict[str, float]:
    labels = [classes[k] if p.max() >= below else "uncertain" for k, p in zip(probs.argmax(axis=1), probs)]
    return {c: round(labels.count(c) / max(len(labels), 1), 3) for c in [*classes, "uncertain"] if c in labels}


def plot_reliability(before: np.ndarray, after: np.ndarray, labels: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    edges = np.linspace(0, 1, ECE_BINS + 1)
    for probs, name in ((before, "before"), (after, "after")):
        conf, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
        xs, ys = [], []
        for lo, hi in zip(edges[:-1], edges[1:]):
            inside = (conf > lo) & (conf <= hi)
            if inside.sum() >= 10:
                xs.append(conf[inside].mean())
                ys.append(correct[inside].mean())
        ece = expected_calibration_error(probs, labels)
        ax.plot(xs, ys, "o-", label=f"{name} (ECE {ece:.3f})")
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set_xlabel("stated confidence")
    ax.set_ylabel("accuracy")
    ax.set_title("Emotion reliability on PublicTest")
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def publictest_view_logits(classifier: EmotionClassifier, val: Path) -> Tuple[np.ndarray, np.ndarray]:
    """The classifier's raw logits ``(views, N, classes)`` for every PublicTest face in ``val``, and the labels."""
    data = load_fer(val, classifier.classes, usage=("PublicTest",))
    faces = data.images[:, None].astype(np.float32) / 255.0
    view_logits = np.concatenate(
        [classifier.view_logits(faces[i : i + 256]) for i in tqdm(range(0, len(faces), 256), desc="PublicTest")],
        axis=1,
    )
    return view_logits, data.labels


def check_calibration(val: Path, models_dir: Path, name: str = "emotion") -> List[Dict]:
    """Does the shipped temperature and threshold still hold for each network a CPU may run (float, and INT8
    when one of these weights ships)? One row per precision: accuracy, ECE before and after, share uncertain.

    The calibration is fitted once; this says whether the INT8 network (98% the same class) keeps it honest."""
    manifest = ModelManifest(models_dir)
    rows = []
    for cpu_int8 in (False, True):
        classifier = EmotionClassifier.from_manifest(manifest, name, backend="onnx", cpu_int8=cpu_int8)
        if cpu_int8 and classifier.precision != "int8":
            break  # no INT8 network of these weights ships
        view_logits, labels = publictest_view_logits(classifier, val)
        before = probabilities(view_logits, 1.0)
        after = probabilities(view_logits, classifier.temperature)
        rows.append(
            {
                "precision": classifier.precision,
                "temperature": classifier.temperature,
                "accuracy": round(float((after.argmax(axis=1) == labels).mean()), 4),
                "ece_before": round(expected_calibration_error(before, labels), 4),
                "ece_after": round(expected_calibration_error(after, labels), 4),
                "uncertain_share": round(float((after.max(axis=1) < classifier.uncertain_below).mean()), 3),
            }
        )
    return rows


def calibrate_emotion(
    val: Path,
    models_dir: Path,
    out: Optional[Path] = None,
    write: bool = False,
    name: str = "emotion",
    demo: bool = True,
) -> Dict:
    """Fit the temperature and threshold on ``val`` (PublicTest) for the model ``name``; with ``demo``, report
    the labels it gives the demo video's faces before and after."""
    manifest = ModelManifest(models_dir)
    # Fitted on the float network, the reference every backend approximates; `--check` measures INT8 with it.
    classifier = EmotionClassifier.from_manifest(manifest, name, backend="auto", cpu_int8=False)
    view_logits, labels = publictest_view_logits(classifier, val)
    before = probabilities(view_logits, 1.0)
    temperature = fit_temperature(view_logits, labels)
    after = probabilities(view_logits, temperature)
    threshold = uncertain_threshold(after, labels)
    kept = after.max(axis=1) >= threshold
    report = {
        "temperature": round(temperature, 3),
        "uncertain_below": threshold,
        "target_precision": TARGET_PRECISION,
        "publictest": {
            "faces": int(len(labels)),
            "accuracy": round(float((after.argmax(axis=1) == labels).mean()), 4),
            "ece_before": round(expected_calibration_error(before, labels), 4),
            "ece_after": round(expected_calibration_error(after, labels), 4),
            "nll_before": round(nll(before, labels), 4),
            "nll_after": round(nll(after, labels), 4),
            "named_share": round(float(kept.mean()), 3),
            # None when no face clears the threshold (a tiny or weak set): NaN is not JSON.
            "named_accuracy": round(float((after.argmax(axis=1) == labels)[kept].mean()), 4) if kept.any() else None,
        },
        "command": f"python -m training calibrate-emotion --name {name} --write",
    }
    if demo:
        faces = demo_faces(classifier)
        logits = classifier.view_logits(faces) if len(faces) else np.zeros((1, 0, len(classifier.classes)))
        report["demo_video"] = {
            "faces": int(len(faces)),
            "labels_before": distribution(probabilities(logits, 1.0), classifier.classes),
            "labels_after": distribution(probabilities(logits, temperature), classifier.classes, threshold),
            "how": "live detector on every 3rd frame of models/demo/walking.mp4, one frame at a time (no smoothing)",
        }
    if out is not None:
        plot_reliability(before, after, labels, out / "reliability.png")
        (out / "calibration.json").write_text(json.dumps(report, indent=2))
    if write:
        path = models_dir / "manifest.json"
        manifest_data = json.loads(path.read_text())
        manifest_data["models"][name]["calibration"] = report
        path.write_text(json.dumps(manifest_data, indent=2) + "\n")
    return report
