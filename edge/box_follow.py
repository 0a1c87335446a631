"""BoxFollower: carries face boxes from one frame to a later one, so boxes sit on faces between analyses.

The detector runs a few times a second; people move in between. Each face's pixels in
the frame its box belongs to are searched for (normalised cross-correlation, OpenCV's
``matchTemplate``) in a window around the box in the later frame, on small grey copies
of both. That is a fraction of a millisecond per face and, on the tracking benchmark,
held fast walkers where sparse optical flow (Lucas-Kanade on corners, checked forwards
and backwards) lost most of them to motion blur. Sizes are not changed: the next
detection corrects them. A face that is not found stays where it was: a still box is a
safe failure, a box thrown across the frame is not.

Frames are kept in a short history, so a box from the analysis of an older frame
(analysis takes a while) is carried to the current frame in one step.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Optional, Tuple

import cv2
import numpy as np

from edge.tracking import clip_box

MIN_MATCH = 0.8  # least normalised correlation to accept a face's new place
SEARCH = 1.0  # the search window reaches this many face sizes beyond the box on each side


class BoxFollower:
    """Keeps recent frames small and grey; :meth:`follow` carries boxes from one of them to another."""

    def __init__(self, max_side: int = 640, history: int = 48) -> None:
        self.max_side = max_side
        self.history = history
        self._frames: "OrderedDict[int, np.ndarray]" = OrderedDict()  # noqa: UP037 (Python 3.8)
        self._scale = 1.0

    def add_frame(self, index: int, frame: np.ndarray) -> None:
        """Remember ``frame`` (BGR, source size) as frame number ``index``."""
        h, w = frame.shape[:2]
        self._scale = min(1.0, self.max_side / float(max(h, w)))
        small = frame
        if self._scale < 1.0:
            small = cv2.resize(frame, (round(w * self._scale), round(h * self._scale)), interpolation=cv2.INTER_AREA)
        self._frames[index] = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        while len(self._frames) > self.history:
            self._frames.popitem(last=False)

    def follow(self, boxes: np.ndarray, from_index: int, to_index: int) -> Tuple[np.ndarray, np.ndarray]:
        """``boxes`` (N, 4, source pixels) on frame ``from_index`` moved to frame ``to_index``, and which moved.

        A box stays unchanged (and is marked not moved) when either frame is not in the history or its face
        is not found near it.
        """
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        out, found = boxes.copy(), np.zeros(len(boxes), bool)
        if from_index == to_index:
            return out, np.ones(len(boxes), bool)
        prev, curr = self._frames.get(from_index), self._frames.get(to_index)
        if prev is None or curr is None:
            return out, found
        for i, box in enumerate(boxes):
            shift = _find(prev, curr, box * self._scale)
            if shift is not None:
                out[i] = box + np.tile(shift, 2) / self._scale
                found[i] = True
        return out, found


def _find(prev: np.ndarray, curr: np.ndarray, box: np.ndarray) -> Optional[np.ndarray]:
    """How far the patch under ``box`` in ``prev`` moved in ``curr`` (dx, dy), or None when it is not found."""
    h, w = prev.shape
    x1, y1 = int(max(round(box[0]), 0)), int(max(round(box[1]), 0))
    x2, y2 = int(min(round(box[2]), w)), int(min(round(box[3]), h))
    if x2 - x1 < 4 or y2 - y1 < 4:
        return None
    template = prev[y1:y2, x1:x2]
    margin = int(SEARCH * max(x2 - x1, y2 - y1))
    sx1, sy1 = max(x1 - margin, 0), max(y1 - margin, 0)
    sx2, sy2 = min(x2 + margin, w), min(y2 + margin, h)
    scores = cv2.matchTemplate(curr[sy1:sy2, sx1:sx2], template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(scores)
    if not np.isfinite(best) or best < MIN_MATCH:  # a flat patch scores NaN
        return None
    return np.array([sx1 + bx - x1, sy1 + by - y1], np.float64)


class ShownBoxes:
    """The boxes the stream draws on each frame: the latest analysis, carried along by a :class:`BoxFollower`.

    ``update`` takes the analysis result when it changes (boxes by track id on analysed frame ``index``),
    ``on_frame`` gives the boxes for each shown frame.
    """

    def __init__(self, follower: Optional[BoxFollower] = None) -> None:
        self.follower = follower or BoxFollower()
        self._boxes: Dict[int, np.ndarray] = {}
        self._index: Optional[int] = None
        self.analysed: Optional[int] = None  # the frame of the latest analysis taken

    def update(self, boxes: Dict[int, np.ndarray], index: int) -> None:
        """A new analysis: ``boxes`` by track id, on frame ``index``."""
        self._boxes = {k: np.asarray(v, np.float64) for k, v in boxes.items()}
        self._index = self.analysed = index

    def on_frame(self, index: int, frame: np.ndarray, size: Tuple[int, int]) -> Dict[int, np.ndarray]:
        """Boxes moved onto frame ``index`` (clipped to ``size`` = width, height)."""
        self.follower.add_frame(index, frame)
        if self._boxes and self._index is not None and self._index != index:
            ids = list(self._boxes)
            # An analysed frame no longer (or never) in the history: its boxes are taken as they are.
            moved, _ = self.follower.follow(np.stack([self._boxes[i] for i in ids]), self._index, index)
            self._boxes = {i: clip_box(b, *size) for i, b in zip(ids, moved)}
        self._index = index
        return dict(self._boxes)
