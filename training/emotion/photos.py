"""Emotion on labelled photos through the service's own path: a second evaluation, independent of FER2013.

FER2013's faces were cut and scaled by its authors; the service finds faces itself. Here every labelled
photo goes through what ``POST /analyze`` does: the detector with the still-photo settings, the face
nearest the photo's centre (the one the label is about), the classifier's square crop, its test-time
views and calibration, and the uncertain threshold.

Labels come from a CSV with ``image`` and ``emotion`` columns, the layout of muxspace/facial_expressions
(``data/legend.csv``, Apache-2.0: about 13,700 photos, many from LFW, labelled by students). Its label
names are mapped onto the model's classes; labels the model has no class for (contempt) are skipped.
The set is mostly neutral and happy faces, so the report gives per-class recall and their mean beside
plain accuracy, and a sample of at most ``per_class`` photos of each label keeps the run short.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np
from tqdm import tqdm

from edge.analyzer import choose_face
from edge.config import load_settings
from edge.detection import FaceDetector
from edge.emotion import EmotionClassifier
from edge.manifest import ModelManifest
from training.emotion.calibrate import distribution
from training.metrics import classification_report, plot_confusion

# Label names used by expression sets -> FER2013's class names.
LABEL_NAMES = {
    "anger": "angry",
    "angry": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happiness": "happy",
    "happy": "happy",
    "sadness": "sad",
    "sad": "sad",
    "surprise": "surprise",
    "neutral": "neutral",
}


def read_legend(path: Path, classes: List[str]) -> List[Tuple[str, str]]:
    """(image file name, class) for each row whose label maps onto one of ``classes``."""
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            label = LABEL_NAMES.get(row["emotion"].strip().lower())
            if label in classes:
                rows.append((row["image"].strip(), label))
    if not rows:
        raise ValueError(f"{path}: no rows with an 'image' and an 'emotion' of {sorted(LABEL_NAMES)}")
    return rows


def sample_per_class(rows: List[Tuple[str, str]], per_class: int, seed: int = 0) -> List[Tuple[str, str]]:
    """At most ``per_class`` rows of each class, drawn with a fixed seed."""
    rng = np.random.default_rng(seed)
    out = []
    for label in sorted({c for _, c in rows}):
        mine = [r for r in rows if r[1] == label]
        keep = rng.permutation(len(mine))[:per_class]
        out += [mine[i] for i in sorted(keep)]
    return out


def evaluate_emotion_photos(
    legend: Path,
    images: Path,
    out: Path,
    per_class: int = 400,
    models: Path = Path("models"),
    name: str = "emotion",
) -> Dict[str, object]:
    """Accuracy, per-class recall, the confusion matrix and the uncertain share; writes report.json and
    confusion.png into ``out``."""
    return compare_emotion_photos(legend, images, [out], per_class, [models], name)[0]


def compare_emotion_photos(
    legend: Path,
    images: Path,
    outs: Sequence[Path],
    per_class: int,
    models: Sequence[Path],
    name: str = "emotion",
) -> List[Dict[str, object]]:
    """:func:`evaluate_emotion_photos` for the model of each folder in ``models`` (report into the matching
    ``outs``), on the same photos and the same detected faces: the detector runs once per photo, and it is
    most of the cost."""
    classifiers = [EmotionClassifier.from_manifest(ModelManifest(m), name=name, backend="auto") for m in models]
    if len({tuple(c.classes) for c in classifiers}) != 1:
        raise ValueError(f"the {name} models of {[str(m) for m in models]} have different classes")
    classes = classifiers[0].classes
    d = load_settings(None, environ={}).detector
    detector = FaceDetector.from_config(d)
    all_rows = read_legend(legend, classes)
    rows = sample_per_class(all_rows, per_class)
    labels: List[int] = []
    probs: List[List[np.ndarray]] = [[] for _ in classifiers]
    skipped: Counter = Counter()
    for file, label in tqdm(rows, desc="photos", unit="photo"):
        img = cv2.imread(str(images / file))
        if img is None:
            skipped["unreadable"] += 1
            continue
        dets = detector.detect(img, d.photo_max_side, d.photo_min_face_px)
        if len(dets) == 0:
            skipped["no face found"] += 1
            continue
        k, _ = choose_face(dets.boxes, img.shape[1], img.shape[0], "center", file, label)
        for found, classifier in zip(probs, classifiers):
            found.append(classifier.classify(img, dets.boxes[k : k + 1])[0])
        labels.append(classes.index(label))
    y = np.array(labels)
    in_set = Counter(c for _, c in all_rows)
    command = f"python -m training evaluate-emotion-photos --legend {legend} --images {images} --per-class {per_class}"
    reports = []
    for found, classifier, folder, out in zip(probs, classifiers, models, outs):
        p = np.stack(found)
        report = classification_report(y, p.argmax(axis=1), classes)
        recalls = [v["recall"] for c, v in report["per_class"].items() if v["support"] > 0]
        confident = p.max(axis=1) >= classifier.uncertain_below
        report.update(
            {
                "model": name,
                "models": str(folder),
                "legend": str(legend),
                "photos_in_set": dict(sorted(in_set.items())),
                "photos_sampled": len(rows),
                "photos_scored": int(len(y)),
                "skipped": dict(skipped),
                "mean_class_recall": round(float(np.mean(recalls)), 4),
                # Recall of each class weighted by its share of the whole set: the accuracy the full set would give.
                "accuracy_at_set_distribution": round(
                    sum(report["per_class"][c]["recall"] * n for c, n in in_set.items()) / sum(in_set.values()), 4
                ),
                "uncertain_below": classifier.uncertain_below,
                "uncertain_share": round(float(1 - confident.mean()), 4),
                "accuracy_when_named": round(float((p.argmax(axis=1) == y)[confident].mean()), 4)
                if confident.any()
                else None,
                "labels_predicted": distribution(p, classes, classifier.uncertain_below),
                "command": f"{command} --models {folder} --name {name}",
            }
        )
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report, indent=2))
        plot_confusion(report, out / "confusion.png", title=f"{name} on {legend.parent.parent.name} (service path)")
        reports.append(report)
    return reports


def summary(report: Dict[str, object]) -> str:
    per_class = report["per_class"]
    lines = [
        f"{report['photos_scored']} photos scored ({report['skipped']} skipped): accuracy {report['accuracy']:.1%}, "
        f"mean class recall {report['mean_class_recall']:.1%}, at the set's own mix "
        f"{report['accuracy_at_set_distribution']:.1%}; uncertain {report['uncertain_share']:.1%}",
        "| class | photos | recall | precision |",
        "|---|---|---|---|",
    ]
    for c, v in per_class.items():
        lines.append(f"| {c} | {v['support']} | {v['recall']:.1%} | {v['precision']:.1%} |")
    return "\n".join(lines)
