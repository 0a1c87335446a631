"""Box geometry shared by detection, tracking and the benchmarks."""

from __future__ import annotations

import cv2
import numpy as np


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes ``a`` (N, 4) and ``b`` (M, 4)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-6)


def nms_by_union(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression on intersection over union, best score first, a box
    dropped when its IoU with a kept one exceeds ``threshold``: what ``torchvision.ops.nms`` computes, without
    importing torchvision (seconds at every start; ``tests/edge/test_boxes.py`` checks they agree). ``scores``
    must be above 0 (MTCNN's are probabilities over its thresholds).

    OpenCV's C++ loop: on P-Net's thousands of windows a numpy loop over the kept boxes took a fifth of the
    detection thread (py-spy on the live service)."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=int)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1).astype(np.float64)
    kept = cv2.dnn.NMSBoxes(xywh, np.asarray(scores, np.float32), 0.0, float(threshold))
    return np.asarray(kept, dtype=int).reshape(-1)


def nms_by_smaller(boxes: np.ndarray, scores: np.ndarray, threshold: float = 0.7) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression on intersection over the smaller box, best score first:
    MTCNN's last step (a box mostly inside another is the same face), in pixel-inclusive areas as MTCNN's
    reference code computes them."""
    area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)

    def overlap(i: int, rest: np.ndarray) -> np.ndarray:
        return _intersection(boxes, i, rest, 1.0) / np.minimum(area[i], area[rest])

    return _greedy(scores, threshold, overlap)


def _intersection(boxes: np.ndarray, i: int, rest: np.ndarray, inclusive: float) -> np.ndarray:
    """Area shared by box ``i`` and each of ``rest`` (``inclusive`` 1: pixel-inclusive, as MTCNN counts)."""
    iw = np.maximum(0.0, np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]) + inclusive)
    ih = np.maximum(0.0, np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]) + inclusive)
    return iw * ih


def _greedy(scores: np.ndarray, threshold: float, overlap) -> np.ndarray:
    """Best score first, keep a box and drop the rest that ``overlap(kept, rest)`` puts over ``threshold``."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        order = rest[overlap(i, rest) <= threshold]
    return np.array(keep, dtype=int)
