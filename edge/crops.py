"""Cutting face crops out of frames for the networks."""

from __future__ import annotations

import cv2
import numpy as np

# File endings of the face images read from folders (enrollment sets, FER2013, INT8 calibration).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def square_box(box: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """The square around ``box`` (x1, y1, x2, y2), grown by ``margin`` of its side."""
    x1, y1, x2, y2 = [float(v) for v in box]
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = max(x2 - x1, y2 - y1) * (1 + margin)
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


def crop_resize(frame: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Crop ``box`` from ``frame`` and resize to ``size`` x ``size``; outside the frame is edge-replicated."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1, 1.0)
    scale = size / side
    # One affine warp instead of crop+pad+resize: handles boxes that leave the frame.
    m = np.array([[scale, 0, -x1 * scale], [0, scale, -y1 * scale]], dtype=np.float32)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(frame, m, (size, size), flags=interp, borderMode=cv2.BORDER_REPLICATE)
