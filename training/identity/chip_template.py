"""Measure where landmarks fall in dlib's 150x150 face chips (the 128-d descriptor's input).

- MTCNN's five points: ``DLIB_CHIP_150`` in ``edge/identity/align.py`` (the fallback alignment),
  ``python -m training.identity.chip_template``;
- dlib's own five points: ``DLIB5_CHIP_150`` in ``edge/identity/landmarks.py`` (what the
  descriptor uses), ``python -m training.identity.chip_template --dlib5``.

Needs ``dlib-bin`` and the photos of the data root (``edge.datasets``).
"""

from __future__ import annotations

from typing import List

import cv2
import numpy as np

from edge.datasets import data_root

SHARED = data_root()  # the data sets not shipped (edge.datasets)


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


def chip_mapping(details) -> np.ndarray:
    """The 2x3 image-to-chip map of a dlib ``chip_details`` (its rotated rectangle onto the chip's corners)."""
    r = details.rect
    centre = np.array([(r.left() + r.right()) / 2, (r.top() + r.bottom()) / 2])
    c, s = np.cos(details.angle), np.sin(details.angle)
    corners = np.array([[r.left(), r.top()], [r.right(), r.top()], [r.right(), r.bottom()]]) - centre
    src = corners @ np.array([[c, -s], [s, c]]).T + centre
    dst = np.array([[0, 0], [details.cols - 1, 0], [details.cols - 1, details.rows - 1]])
    return cv2.getAffineTransform(src.astype(np.float32), dst.astype(np.float32))


# dlib's mean 5-point face (get_face_chip_details), in units of the unpadded chip.
DLIB5_MEAN_FACE = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ]
)


def measure_dlib5(size: int = 150, padding: float = 0.25) -> np.ndarray:
    """(5, 2): where dlib's mean face lands in its own chips (its similarity fit, then its chip rectangle)."""
    import dlib

    from edge.identity.align import similarity_transform

    weights = SHARED / "weights/dlib"
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(weights / "shape_predictor_5_face_landmarks.dat"))
    template = (DLIB5_MEAN_FACE + padding) / (1 + 2 * padding) * size
    mapped = []
    for img in sample_images():
        for rect in detector(img, 1):
            shape = predictor(img, rect)
            parts = np.array([[p.x, p.y] for p in shape.parts()], np.float64)
            to_face = similarity_transform(template, parts)  # the fit get_face_chip_details makes
            on_face = template @ to_face[:, :2].T + to_face[:, 2]
            to_chip = chip_mapping(dlib.get_face_chip_details(shape, size=size, padding=padding))
            mapped.append(on_face @ to_chip[:, :2].T + to_chip[:, 2])
    print(f"{len(mapped)} chips")
    return np.mean(mapped, axis=0)


if __name__ == "__main__":
    import sys

    print(np.round(measure_dlib5() if "--dlib5" in sys.argv else measure(), 2).tolist())
