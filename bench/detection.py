"""Live detection recall: the service's detector settings against full-resolution MTCNN, per data set.

Faces at least ``min_face_px`` tall (the smallest the service is set to find) must be found (IoU >= ``match_iou``
with a detection); smaller annotated faces are "don't care", so a detection on one is neither a hit nor a false
alarm. A detection that matches no annotated face counts against precision, even where the annotation simply
lacks a face (the annotations are MTCNN's own at full resolution, checked by eye; see ``bench/data``), so
precision here is a lower bound.

Data: every 3rd frame of the annotated videos (``bench.tracking.VIDEOS``), and, with ``dlib_faces``, the boxed
example photos of dlib (``examples/faces/{training,testing}.xml`` of github.com/davisking/dlib: PASCAL VOC
photos with hand-drawn square boxes; not committed here).
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment
from tqdm import tqdm

from bench.tracking import VIDEOS, read_frames, read_mot
from edge.boxes import iou_matrix
from edge.config import load_settings
from edge.detection import FaceDetector
from edge.types import Detections

Sample = Tuple[np.ndarray, np.ndarray]  # image, annotated boxes (N, 4) x1, y1, x2, y2


@dataclass
class Tally:
    """Hits, misses and false alarms of one detector on one data set, and its time."""

    hits: int = 0
    faces: int = 0
    false_alarms: int = 0
    seconds: List[float] = field(default_factory=list)

    def add(self, truth: np.ndarray, found: Detections, min_height: float, match_iou: float) -> None:
        big = truth[truth[:, 3] - truth[:, 1] >= min_height]
        small = truth[truth[:, 3] - truth[:, 1] < min_height]
        iou = iou_matrix(big, found.boxes)
        rows, cols = linear_sum_assignment(-iou) if iou.size else ([], [])
        matched = {int(c) for r, c in zip(rows, cols) if iou[r, c] >= match_iou}
        self.hits += len(matched)
        self.faces += len(big)
        for col in range(len(found)):
            on_small = len(small) and iou_matrix(found.boxes[col : col + 1], small).max() >= match_iou
            self.false_alarms += int(col not in matched and not on_small)

    def row(self) -> Dict[str, float]:
        found = self.hits + self.false_alarms
        return {
            "recall": round(self.hits / max(self.faces, 1), 4),
            "precision": round(self.hits / max(found, 1), 4),
            "faces": self.faces,
            "missed": self.faces - self.hits,
            "false_alarms": self.false_alarms,
            "ms_median": round(1000 * float(np.median(self.seconds)), 1) if self.seconds else 0.0,
        }


def video_samples(every: int = 3) -> Iterator[Tuple[str, List[Sample]]]:
    for video in VIDEOS:
        gt = read_mot(video.gt)
        frames = read_frames(video.video)
        yield (
            video.name,
            [
                (frames[i - 1], np.array(list(gt.get(i, {}).values()), np.float32).reshape(-1, 4))
                for i in range(1, len(frames) + 1, every)
            ],
        )


def dlib_samples(folder: Path) -> List[Sample]:
    """dlib's boxed example photos: ``training.xml`` and ``testing.xml`` in ``folder``, ignored boxes left out."""
    samples = []
    for name in ("training.xml", "testing.xml"):
        for image in ET.parse(folder / name).getroot().iter("image"):
            img = cv2.imread(str(folder / image.get("file")))
            if img is None:
                raise FileNotFoundError(f"{folder / image.get('file')}: missing or unreadable")
            boxes = [
                [
                    float(b.get("left")),
                    float(b.get("top")),
                    float(b.get("left")) + float(b.get("width")),
                    float(b.get("top")) + float(b.get("height")),
                ]  # fmt: skip
                for b in image.iter("box")
                if b.get("ignore") != "1"
            ]
            samples.append((img, np.array(boxes, np.float32).reshape(-1, 4)))
    return samples


def detectors() -> Dict[str, Callable[[np.ndarray], Detections]]:
    """The live settings with and without the recheck, a larger frame, and the reference."""
    d = load_settings(None, environ={}).detector
    live = FaceDetector.from_config(d)
    plain = FaceDetector(d.max_side, d.min_face_px, d.thresholds, d.min_score)
    return {
        f"live: {d.max_side} px, recheck from {d.recheck_from} (default)": live.detect,
        f"live without recheck ({d.max_side} px)": plain.detect,
        "960 px, no recheck": lambda img: plain.detect(img, max_side=960),
        f"reference: full resolution, faces from {d.photo_min_face_px} px": lambda img: plain.detect(
            img, max_side=max(img.shape[:2]), min_face_px=d.photo_min_face_px
        ),
    }


def benchmark(
    dlib_faces: Optional[Path] = None, match_iou: float = 0.5, every: int = 3
) -> Dict[str, Dict[str, Dict[str, float]]]:
    """{data set: {detector: recall, precision, ...}} for faces at least ``detector.min_face_px`` tall.

    dlib's boxes are squares from the eyebrows to the chin, MTCNN's reach the hairline: a face counts as found
    there at IoU >= 0.4 (measured: full-resolution MTCNN boxes meet dlib's at 0.45-0.75).
    """
    min_height = load_settings(None, environ={}).detector.min_face_px
    sets = dict(video_samples(every))
    if dlib_faces is not None:
        sets["dlib photos"] = dlib_samples(dlib_faces)
    results: Dict[str, Dict[str, Dict[str, float]]] = {}
    candidates = detectors()  # built once: each loads MTCNN's weights
    for set_name, samples in sets.items():
        iou = 0.4 if set_name == "dlib photos" else match_iou
        for det_name, detect in candidates.items():
            tally = Tally()
            detect(samples[0][0])  # warm-up
            for img, truth in tqdm(samples, desc=f"{set_name}: {det_name}", leave=False):
                t0 = time.perf_counter()
                found = detect(img)
                tally.seconds.append(time.perf_counter() - t0)
                tally.add(truth, found, min_height, iou)
            results.setdefault(set_name, {})[det_name] = tally.row()
    return results


def print_table(results: Dict[str, Dict[str, Dict[str, float]]], min_height: int) -> None:
    print(f"| faces >= {min_height} px | detector | recall | precision | missed | false alarms | median ms per image |")
    print("|---|---|---|---|---|---|---|")
    for set_name, rows in results.items():
        for det_name, r in rows.items():
            print(
                f"| {set_name} ({r['faces']} faces) | {det_name} | {r['recall']:.1%} | {r['precision']:.1%} | "
                f"{r['missed']} | {r['false_alarms']} | {r['ms_median']:.0f} |"
            )
