"""Measure where MTCNN's landmarks fall in dlib's 150x150 face chips.

The result is ``DLIB_CHIP_150`` in ``edge/identity/align.py``: aligning MTCNN
faces onto it gives the 128-d descriptor network the chips it was trained on.
Needs ``dlib-bin`` and the photos in ../shared. Run:
``python -m training.derive_chip_template``.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import cv2
import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared"


def sample_images() -> List[np.ndarray]:
    """RGB photos of the shared face set and ten frames of the demo video."""
    paths = sorted((SHARED / "data/faces/people").glob("*/*")) + sorted((SHARED / "data/faces/scenes").iterdir())
    images = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]
    cap = cv2.VideoCapture(str(SHARED / "data/video/walking.mp4"))
    for index in range(0, 100, 10):
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
        if ok:
            images.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    return images


def measure(max_deviation_px: float = 12.0) -> np.ndarray:
    """Robust mean (5, 2) of MTCNN landmarks on dlib chips; outlier chips are dropped."""
    import dlib
    from facenet_pytorch import MTCNN

    weights = SHARED / "weights/dlib"
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(weights / "shape_predictor_5_face_landmarks.dat"))
    mtcnn = MTCNN(keep_all=True, min_face_size=20)
    points = []
    for img in sample_images():
        for rect in detector(img, 1):
            chip = dlib.get_face_chip(img, predictor(img, rect), size=150, padding=0.25)
            boxes, probs, landmarks = mtcnn.detect(chip, landmarks=True)
            if boxes is not None:
                points.append(np.asarray(landmarks[int(np.argmax(probs))], np.float64))
    pts = np.stack(points)
    keep = np.abs(pts - np.median(pts, 0)).max(axis=(1, 2)) < max_deviation_px
    print(f"{len(pts)} chips, {int(keep.sum())} kept")
    return pts[keep].mean(0)


if __name__ == "__main__":
    print(np.round(measure(), 1).tolist())
