"""Face detection with MTCNN (facenet-pytorch; its wheel ships the weights)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, List, Optional, Sequence

import cv2
import numpy as np

from edge.boxes import iou_matrix, nms_by_smaller
from edge.types import Detections

if TYPE_CHECKING:  # pragma: no cover
    from edge.config import DetectorConfig

log = logging.getLogger(__name__)


class FaceDetector:
    """Finds faces and their five landmarks in a BGR frame.

    The frame is downscaled so its longer side is at most ``max_side``: MTCNN's
    cost grows with the pixel count, and faces smaller than ``min_face_px``
    are not wanted anyway.

    Downscaling blurs small faces, and MTCNN's last stages then doubt them. With
    ``recheck_from`` below ``min_score``, a face scored between the two on the
    downscaled frame is looked for again in the full-resolution pixels around it
    (a crop three times its size) and kept when it scores ``min_score`` there:
    on the annotated demo this finds 97.7% of faces >= 40 px instead of 97.1%
    (95.3% -> 97.1% with facenet-pytorch's cascade), for 5-10% more detection
    time (``python -m bench detection``; docs/tracking.md).
    """

    MAX_RECHECKS = 8  # per frame: bounds the extra time on a frame full of doubtful faces

    def __init__(
        self,
        max_side: int = 640,
        min_face_px: int = 40,
        thresholds: Sequence[float] = (0.6, 0.7, 0.8),
        min_score: float = 0.9,
        device: str = "cpu",
        recheck_from: Optional[float] = None,
    ) -> None:
        import torch

        from edge.mtcnn import MtcnnCascade

        torch.set_flush_denormal(True)
        self.max_side = max_side
        self.min_face_px = min_face_px
        self.min_score = min_score
        self.recheck_from = min_score if recheck_from is None else min(recheck_from, min_score)
        # Doubtful faces must get through MTCNN's second and third stages to be rechecked at all.
        p_net, r_net, o_net = thresholds
        thresholds = [p_net, min(r_net, self.recheck_from), min(o_net, self.recheck_from)]
        self._mtcnn = MtcnnCascade(thresholds, device=device)

    @classmethod
    def from_config(cls, config: DetectorConfig, device: str = "cpu") -> FaceDetector:
        """The live-video detector the service runs with ``config`` (the ``detector`` settings)."""
        return cls(
            config.max_side,
            config.min_face_px,
            config.thresholds,
            config.min_score,
            device=device,
            recheck_from=config.recheck_from,
        )

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
        found = self._mtcnn_detect(frame_bgr, scale, min_face_px)
        sure = found.scores >= self.min_score
        if scale < 1.0 and self.recheck_from < self.min_score:
            found = Detections.concat([found[sure], self._recheck(frame_bgr, found[~sure])])
        else:
            found = found[sure]
        # Boxes cut down to slivers by the frame edge are not faces we can use.
        boxes = found.boxes
        big = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= 0.5 * min_face_px
        return found[big]

    def _mtcnn_detect(self, frame_bgr: np.ndarray, scale: float, min_face_px: float) -> Detections:
        """Every face MTCNN passes on ``frame_bgr`` resized by ``scale``, in ``frame_bgr``'s pixels."""
        h, w = frame_bgr.shape[:2]
        small = (
            frame_bgr
            if scale == 1.0
            else cv2.resize(frame_bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        )
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        boxes, probs, points = self._mtcnn.detect(rgb, max(12, int(min_face_px * scale)))
        boxes = boxes / scale
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w - 1)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h - 1)
        return Detections(
            boxes=boxes,
            scores=probs,
            landmarks=points / scale,
        )

    def detect_near(self, frame_bgr: np.ndarray, boxes: np.ndarray) -> Detections:
        """Faces (``min_score``) in the full-resolution regions around ``boxes`` (the frame's pixels), each box
        grown by its size on every side: where following lost a face, the face itself and any face coming
        out from behind it. At most ``MAX_RECHECKS`` regions; a face in two regions is given once."""
        found = Detections.concat([self._near(frame_bgr, box, self.min_face_px) for box in boxes[: self.MAX_RECHECKS]])
        found = found[found.scores >= self.min_score]
        # Across regions, the test O-Net applies within one (a box mostly inside another is the same face): two
        # regions found one singer's face and his forehead and hair (IoU 0.46), which then started a second track.
        found = found[np.sort(nms_by_smaller(found.boxes, found.scores, 0.7))]
        keep: List[int] = []
        for k in np.argsort(-found.scores):
            if not keep or iou_matrix(found.boxes[k : k + 1], found.boxes[keep]).max() < 0.5:
                keep.append(int(k))
        return found[np.array(sorted(keep), int)]

    def _near(self, frame_bgr: np.ndarray, box: np.ndarray, min_face_px: float) -> Detections:
        """Every face MTCNN passes in the full-resolution region around ``box`` (grown by its size on every side),
        no face narrower than ``min_face_px`` or 0.6 times the box; in the frame's pixels."""
        h, w = frame_bgr.shape[:2]
        x1, y1, x2, y2 = box
        bw, bh = x2 - x1, y2 - y1
        left, top = int(max(0, x1 - bw)), int(max(0, y1 - bh))
        crop = frame_bgr[top : int(min(h, y2 + bh)), left : int(min(w, x2 + bw))]
        if min(crop.shape[:2]) < 12:
            return Detections.empty()
        found = self._mtcnn_detect(crop, 1.0, max(12.0, min(min_face_px, 0.6 * min(bw, bh))))
        offset = np.array([left, top, left, top], np.float32)
        return Detections(found.boxes + offset, found.scores, found.landmarks + offset[:2])

    def _recheck(self, frame_bgr: np.ndarray, doubtful: Detections) -> Detections:
        """The doubtful faces found again, with ``min_score``, in full-resolution crops around them."""
        kept = []
        for k in np.argsort(-doubtful.scores)[: self.MAX_RECHECKS]:
            again = self._near(frame_bgr, doubtful.boxes[k], float("inf"))
            again = again[again.scores >= self.min_score]
            overlap = iou_matrix(again.boxes, doubtful.boxes[k : k + 1]).ravel()
            if overlap.size and overlap.max() >= 0.3:
                kept.append(again[int(overlap.argmax()) : int(overlap.argmax()) + 1])
        return Detections.concat(kept)
