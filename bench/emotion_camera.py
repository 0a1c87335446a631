"""Emotion on camera-like faces: labelled faces degraded the way a camera degrades them, through the service's path.

Two labelled sets, neither trained on by the shipped model: the muxspace/facial_expressions photos (found by
the live detector on the degraded photo, the face nearest the centre, classified as the live pipeline
classifies a track's face) and FER2013 PublicTest (48x48 crops: the whole crop is the face). Each face is
scored clean and "camera-like": at a fixed seed per face, the face is brought to 32-64 px wide (the photo
resized, the crop shrunk and enlarged back), seen from a little above (squashed vertically by up to 20%),
defocused or motion-blurred, darkened with sensor noise, and JPEG-compressed at quality 30-70.

Also the demo video through the live pipeline, with faces of every quality read and with
``emotion.min_quality``: each visit's emotion and the share of time per label (``not_read`` apart).

Reported per set and condition: faces scored, accuracy, the share named (not ``uncertain``), accuracy on
the faces named, per-class recall. For the camera-like photos, also the faces' quality
(:func:`edge.identity.quality.face_quality`: size x sharpness x frontal pose) against accuracy, to choose
the quality under which a face is "not read".
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from tqdm import tqdm

QUALITY_STEPS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)


def degrade(image: np.ndarray, face_width: float, rng: np.random.Generator) -> np.ndarray:
    """``image`` (BGR) as a camera would show it with its face ``face_width`` px wide: a new face size of
    32-64 px, a view from above, blur, low light with noise, JPEG."""
    scale = rng.uniform(32, 64) / max(face_width, 1.0)
    h, w = image.shape[:2]
    squash = rng.uniform(0.8, 1.0)  # seen from above: the face is shorter than it is wide
    size = (max(int(round(w * scale)), 8), max(int(round(h * scale * squash)), 8))
    out = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    if rng.random() < 0.5:  # defocus
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.5))
    else:  # motion along a random direction
        length = int(rng.integers(3, 8))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        turn = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), rng.uniform(0, 180), 1.0)
        kernel = cv2.warpAffine(kernel, turn, (length, length))
        out = cv2.filter2D(out, -1, kernel / max(float(kernel.sum()), 1e-6))
    dark = out.astype(np.float32) * rng.uniform(0.35, 0.9) + rng.normal(0, rng.uniform(2, 8), out.shape)
    out = np.clip(dark, 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 71))])
    return cv2.imdecode(jpeg, cv2.IMREAD_COLOR)


def summarise(probs: np.ndarray, labels: np.ndarray, classes: Sequence[str], below: float) -> Dict[str, object]:
    """Accuracy, share named, accuracy when named, per-class recall."""
    predicted = probs.argmax(axis=1)
    named = probs.max(axis=1) >= below
    right = predicted == labels
    recall = {c: round(float(right[labels == i].mean()), 4) for i, c in enumerate(classes) if (labels == i).any()}
    return {
        "faces": int(len(labels)),
        "accuracy": round(float(right.mean()), 4) if len(labels) else None,
        "named": round(float(named.mean()), 4) if len(labels) else None,
        "accuracy_when_named": round(float(right[named].mean()), 4) if named.any() else None,
        "recall": recall,
        "labels_predicted": dict(Counter(classes[k] if n else "uncertain" for k, n in zip(predicted, named))),
    }


def quality_rows(
    probs: np.ndarray, labels: np.ndarray, quality: np.ndarray, below: float
) -> List[Dict[str, Optional[float]]]:
    """For each quality threshold: the share of faces read (quality at least it), the share named among all
    faces, and the accuracy on the faces read and named."""
    rows = []
    for q in QUALITY_STEPS:
        read = quality >= q
        named = read & (probs.max(axis=1) >= below)
        right = probs.argmax(axis=1) == labels
        rows.append(
            {
                "min_quality": q,
                "read": round(float(read.mean()), 4),
                "named": round(float(named.mean()), 4),
                "accuracy_when_named": round(float(right[named].mean()), 4) if named.any() else None,
                "accuracy_when_read": round(float(right[read].mean()), 4) if read.any() else None,
            }
        )
    return rows


def photo_faces(legend: Path, images: Path, classes: Sequence[str], per_class: int) -> List[Tuple[Path, int]]:
    """(photo, class index) of at most ``per_class`` photos of each class, seeded."""
    from training.emotion.photos import read_legend, sample_per_class

    rows = sample_per_class(read_legend(legend, list(classes)), per_class)
    return [(images / file, list(classes).index(label)) for file, label in rows]


def score_photos(classifier, detector, photos: Sequence[Tuple[Path, int]], seed: int) -> Dict[str, object]:
    """Clean and camera-like scores of the photos; the quality of each camera-like face found."""
    from edge.analyzer import choose_face, face_crop
    from edge.identity.quality import face_quality

    found: Dict[str, List] = {"clean": [], "camera": []}
    quality: List[float] = []
    missed: Counter = Counter()
    for index, (path, label) in enumerate(tqdm(photos, desc="photos", unit="photo")):
        image = cv2.imread(str(path))
        if image is None:
            missed["unreadable"] += 1
            continue
        dets = detector.detect(image, 1280, 20)  # the clean photo fixes the face the label is about
        if len(dets) == 0:
            missed["no face in the clean photo"] += 1
            continue
        k, _ = choose_face(dets.boxes, image.shape[1], image.shape[0], "center", path.name, "")
        found["clean"].append((classifier.classify(image, dets.boxes[k : k + 1])[0], label))
        camera = degrade(image, float(dets.boxes[k, 2] - dets.boxes[k, 0]), np.random.default_rng([seed, index]))
        live = detector.detect(camera)  # as the live pipeline finds faces
        if len(live) == 0:
            missed["no face found on the camera-like photo"] += 1
            continue
        j, _ = choose_face(live.boxes, camera.shape[1], camera.shape[0], "center", path.name, "")
        found["camera"].append((classifier.classify(camera, live.boxes[j : j + 1])[0], label))
        crop, box, landmarks = face_crop(camera, live.boxes[j], live.landmarks[j])
        quality.append(face_quality(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), box, landmarks))
    return {"found": found, "quality": np.array(quality), "missed": dict(missed)}


def score_crops(classifier, folder: Path, per_class: int, seed: int) -> Dict[str, List]:
    """Clean and camera-like scores of FER2013 crops (``folder/<class>/*.jpg``)."""
    found: Dict[str, List] = {"clean": [], "camera": []}
    rng = np.random.default_rng(seed)
    files = []
    for label, name in enumerate(classifier.classes):
        mine = sorted((folder / name).glob("*.jpg")) if (folder / name).is_dir() else []
        files += [(mine[i], label) for i in sorted(rng.permutation(len(mine))[:per_class])]
    for index, (path, label) in enumerate(tqdm(files, desc="PublicTest", unit="face")):
        image = cv2.imread(str(path))
        box = np.array([[0, 0, image.shape[1], image.shape[0]]], np.float32)
        found["clean"].append((classifier.classify(image, box)[0], label))
        camera = degrade(image, float(image.shape[1]), np.random.default_rng([seed, 1_000_000 + index]))
        # the crop is the face: back to the network's size, as the service's square crop would give it
        camera = cv2.resize(camera, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
        found["camera"].append((classifier.classify(camera, box)[0], label))
    return found


def demo_visits(min_quality: float, classifier=None) -> Dict[str, object]:
    """The demo once through the live pipeline: each visit's emotion (``face.left``'s ``dominant_emotion``)
    and the time shares of all visits together, with faces under ``min_quality`` not read. ``classifier``: an
    EmotionClassifier to use instead of the shipped models' (the pipeline is built on the shipped folder: a
    service start refreshes a models folder from the shipped one, and would overwrite a candidate's entry)."""
    import tempfile

    from bench.tracking import VIDEOS, read_frames
    from edge.bootstrap import build_analyzer
    from edge.config import load_settings
    from edge.video import VideoAnalyzer

    with tempfile.TemporaryDirectory() as tmp:
        env = {"EDGE_STORAGE__DATABASE": str(Path(tmp) / "edge.db"), "EDGE_EMOTION__MIN_QUALITY": str(min_quality)}
        settings = load_settings(None, environ=env)
        analyzer = build_analyzer(settings)
        if classifier is not None:
            analyzer.emotion = classifier
        pipeline = VideoAnalyzer(analyzer, settings)
        left, now = [], 0.0
        for frame in read_frames(VIDEOS[0].video):
            now += 0.04
            left += [e for e in pipeline.step(frame, now)[1] if e.type == "face.left"]
        left += pipeline.finish()
    seconds: Counter = Counter()
    for e in left:
        for label, share in (e.data.get("emotion_shares") or {}).items():
            seconds[label] += float(share) * float(e.data.get("duration_s") or 0)
    total = sum(seconds.values()) or 1.0
    return {
        "min_quality": min_quality,
        "visits": len(left),
        "visit_emotions": dict(Counter(str(e.data.get("dominant_emotion")) for e in left)),
        "time_shares": {k: round(v / total, 3) for k, v in sorted(seconds.items())},
    }


def benchmark(
    legend: Optional[Path],
    images: Optional[Path],
    fer_val: Optional[Path],
    per_class: int = 150,
    seed: int = 0,
    models: Optional[Path] = None,
) -> Dict[str, object]:
    """Every set clean and camera-like, and the demo's visits, through the emotion model of ``models`` (a models
    folder; default: the shipped one)."""
    from edge.config import REPO_ROOT, load_settings
    from edge.detection import FaceDetector
    from edge.emotion import EmotionClassifier
    from edge.manifest import ModelManifest

    classifier = EmotionClassifier.from_manifest(ModelManifest(models or REPO_ROOT / "models"), backend="auto")
    classes, below = classifier.classes, classifier.uncertain_below
    result: Dict[str, object] = {
        "model": classifier.model,
        "uncertain_below": below,
        "per_class": per_class,
        "sets": {},
    }
    sets: Dict[str, Dict[str, object]] = result["sets"]  # type: ignore[assignment]
    if legend is not None and images is not None and legend.exists():
        detector = FaceDetector.from_config(load_settings(None, environ={}).detector)
        scored = score_photos(classifier, detector, photo_faces(legend, images, classes, per_class), seed)
        entry: Dict[str, object] = {"missed": scored["missed"]}
        for condition, pairs in scored["found"].items():
            probs, labels = np.stack([p for p, _ in pairs]), np.array([y for _, y in pairs])
            entry[condition] = summarise(probs, labels, classes, below)
            if condition == "camera":
                entry["quality"] = quality_rows(probs, labels, scored["quality"], below)
        sets["muxspace photos"] = entry
    if fer_val is not None and fer_val.exists():
        crops = score_crops(classifier, fer_val, per_class, seed)
        sets["FER2013 PublicTest"] = {
            condition: summarise(np.stack([p for p, _ in pairs]), np.array([y for _, y in pairs]), classes, below)
            for condition, pairs in crops.items()
        }
    from edge.config import EmotionConfig

    configured = EmotionConfig().min_quality
    candidate = classifier if models is not None else None
    result["demo"] = [demo_visits(0.0, candidate), demo_visits(configured, candidate)]
    shown = f" --models {models}" if models is not None else ""
    result["command"] = f"python -m bench emotion-camera --per-class {per_class} --seed {seed}{shown}"
    return result


def print_table(result: Dict[str, object]) -> None:
    for demo in result.get("demo", []):  # type: ignore[union-attr]
        print(
            f"demo, emotion.min_quality {demo['min_quality']}: {demo['visits']} visits, by visit "
            f"{demo['visit_emotions']}; time {demo['time_shares']}"
        )
    sets: Dict[str, Dict] = result["sets"]  # type: ignore[assignment]
    classes = sorted({c for s in sets.values() for cond in ("clean", "camera") for c in s[cond]["recall"]})
    head = f"{'set':20} {'condition':>10} {'faces':>6} {'accuracy':>8} {'named':>6} {'acc named':>9} "
    print(head + " ".join(f"{c[:7]:>7}" for c in classes))
    for name, s in sets.items():
        for condition in ("clean", "camera"):
            r = s[condition]
            print(
                f"{name[:20]:20} {condition:>10} {r['faces']:>6} {r['accuracy']:>8.1%} {r['named']:>6.1%} "
                f"{(r['accuracy_when_named'] or 0):>9.1%} "
                + " ".join(f"{r['recall'].get(c, 0):>7.1%}" for c in classes)
            )
        if "quality" in s:
            print(f"  {name}, camera-like, by face quality (missed: {s['missed']}):")
            print(f"  {'min quality':>11} {'read':>6} {'named':>6} {'acc named':>9} {'acc read':>8}")
            for q in s["quality"]:
                print(
                    f"  {q['min_quality']:>11} {q['read']:>6.1%} {q['named']:>6.1%} "
                    f"{(q['accuracy_when_named'] or 0):>9.1%} {(q['accuracy_when_read'] or 0):>8.1%}"
                )
