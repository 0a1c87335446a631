"""The face a training photo is about: its largest face, as the embedder's aligned chip.

Shared by identity evaluation and head training (so neither imports the other).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

import cv2
import numpy as np

from edge.detection import FaceDetector
from edge.identity.embedders import Embedder


def largest_face(photo: Path, embedder: Embedder, detector: FaceDetector) -> Optional[Tuple[np.ndarray, float]]:
    """The embedder's chip of the largest face in ``photo`` and that face's width, or None (unreadable, no face)."""
    img = cv2.imread(str(photo))
    if img is None:
        return None
    dets = detector.detect(img)
    if len(dets) == 0:
        return None
    widths = dets.boxes[:, 2] - dets.boxes[:, 0]
    k = int(np.argmax(widths * (dets.boxes[:, 3] - dets.boxes[:, 1])))
    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return embedder.chips(rgb, dets.boxes[k : k + 1], dets.landmarks[k : k + 1])[0], float(widths[k])
