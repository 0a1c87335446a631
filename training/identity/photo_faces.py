"""The face a training photo is about: its largest face, as the embedder's aligned chip.

Shared by identity evaluation and head training (so neither imports the other).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

import cv2
import numpy as np

from edge.analyzer import face_crop
from edge.detection import FaceDetector
from edge.identity.embedders import Embedder
from edge.identity.quality import face_quality


def largest_face(photo: Path, embedder: Embedder, detector: FaceDetector) -> Optional[Tuple[np.ndarray, float, float]]:
    """The embedder's chip of the largest face in ``photo``, that face's width and its quality (as the service
    scores a tracked face), or None (unreadable, no face)."""
    img = cv2.imread(str(photo))
    if img is None:
        return None
    dets = detector.detect(img)
    if len(dets) == 0:
        return None
    widths = dets.boxes[:, 2] - dets.boxes[:, 0]
    k = int(np.argmax(widths * (dets.boxes[:, 3] - dets.boxes[:, 1])))
    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    crop, box, landmarks = face_crop(img, dets.boxes[k], dets.landmarks[k])
    quality = face_quality(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), box, landmarks)
    chip = embedder.chips(rgb, dets.boxes[k : k + 1], dets.landmarks[k : k + 1])[0]
    return chip, float(widths[k]), quality
