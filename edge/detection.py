"""Face detection with MTCNN (facenet-pytorch; its wheel ships the weights)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Optional, Sequence

import cv2
import numpy as np

from edge.types import Detections

if TYPE_CHECKING:  # pragma: no cover
    from edge.config import DetectorConfig

log = logging.getLogger(__name__)


class FaceDetector:
    """Finds faces and their five landmarks in a BGR frame.

    The frame is downscaled so its longer side is at most ``max_side``: MTCNN's
    cost grows with the pixel count, and faces smaller than ``min_face_px``
    are not wanted anyway.
    """

    def __init__(
        self,
        max_side: int = 640,
        min_face_px: int = 40,
        thresholds: Sequence[float] = (0.6, 0.7, 0.8),
        min_score: float = 0.9,
        device: str = "cpu",
    ) -> None:
        import torch
        from facenet_pytorch import MTCNN

        torch.set_flush_denormal(True)
        self.max_side = max_side
        self.min_face_px = min_face_px
        self.min_score = min_score
        self._mtcnn = MTCNN(keep_all=True, thresholds=list(thresholds), device=device, post_process=False)

    @classmethod
    def from_config(cls, config: DetectorConfig, device: str = "cpu") -> FaceDetector:
        """The live-video detector the service runs with ``config`` (the ``detector`` settings)."""
        return cls(config.max_side, config.min_face_px, config.thresholds, config.min_score, device=device)

    def detect(
        self, frame_bgr: np.ndarray, max_side: Optional[int] = None, min_face_px: Optional[int] = None
    ) -> Detections:
        """Faces in ``frame_bgr`` (H, W, 3 uint8), boxes and landmarks in its pixels.

        ``max_side``/``min_face_px`` override the live-video settings (still photos use larger ones).
        """
        h, w = frame_bgr.shape[:2]
        max_side = max_side or self.max_side
        min_face_px = min_face_px or self.min_face_px
        scale = min(1.0, max_side / float(max(h, w)))
        small = (
            frame_bgr
            if scale == 1.0
            else cv2.resize(frame_bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        )
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        self._mtcnn.min_face_size = max(12, int(min_face_px * scale))
        boxes, probs, points = self._mtcnn.detect(rgb, landmarks=True)
        if boxes is None:
            return Detections.empty()
        keep = np.asarray(probs, dtype=np.float32) >= self.min_score
        boxes = np.asarray(boxes, dtype=np.float32)[keep] / scale
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w - 1)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h - 1)
        found = Detections(
            boxes=boxes,
            scores=np.asarray(probs, dtype=np.float32)[keep],
            landmarks=np.asarray(points, dtype=np.float32)[keep] / scale,
        )
        # Boxes cut down to slivers by the frame edge are not faces we can use.
        big = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= 0.5 * min_face_px
        return found[big]
