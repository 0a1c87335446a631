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
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from edge.tracking import centre_shift, clip_box
from edge.types import CapturedFrame

MIN_MATCH = 0.8  # least normalised correlation to accept a face's new place
MAX_TEMPLATE_PX = 40  # faces are matched at a scale where they are at most this big
SCALES = (1.0, 0.9, 1.1)  # a face last seen by the detector may have grown or shrunk since
SURE_MATCH = 0.9  # a match this good at one scale ends the search: the other scales are not tried
SEARCH = 2.0  # the search window reaches this many face sizes beyond the box on each side


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
            # Linear, not area: 0.7 ms instead of 3.3 at 1080p, on every streamed frame; matching does not mind.
            small = cv2.resize(frame, (round(w * self._scale), round(h * self._scale)), interpolation=cv2.INTER_LINEAR)
        self._frames[index] = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        while len(self._frames) > self.history:
            self._frames.popitem(last=False)

    def template(self, index: int, box: np.ndarray) -> Optional[np.ndarray]:
        """The grey patch under ``box`` (source pixels) in frame ``index``: what a face looked like when seen."""
        frame = self._frames.get(index)
        if frame is None:
            return None
        x1, y1, x2, y2 = _inside(np.asarray(box, np.float64) * self._scale, frame.shape)
        return frame[y1:y2, x1:x2].copy() if x2 - x1 >= 4 and y2 - y1 >= 4 else None

    def follow(
        self,
        boxes: np.ndarray,
        from_index: int,
        to_index: int,
        templates: Optional[Sequence[Optional[np.ndarray]]] = None,
        expected: Optional[np.ndarray] = None,
    ) -> Tuple[np.ndarray, np.ndarray]:
        """``boxes`` (N, 4, source pixels) on frame ``from_index`` moved to frame ``to_index``, and which moved.

        Each face is searched for by its patch in ``from_index``, or by ``templates[i]`` where given: the
        face as it was last detected, so that a box cannot drift onto a shirt or a wall one small step at
        a time. A box stays unchanged (and is marked not moved) when either frame is not in the history or
        its face is not found near it. ``expected`` (N, 2, source pixels) is how far each face is expected
        to have moved (its velocity): the search is centred there, so a fast walker stays in reach.
        """
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        out, found = boxes.copy(), np.zeros(len(boxes), bool)
        if from_index == to_index:
            return out, np.ones(len(boxes), bool)
        prev, curr = self._frames.get(from_index), self._frames.get(to_index)
        if prev is None or curr is None:
            return out, found
        for i, box in enumerate(boxes):
            template = templates[i] if templates is not None else None
            guess = expected[i] * self._scale if expected is not None else np.zeros(2)
            shift = _find(prev, curr, box * self._scale, template, guess)
            if shift is not None:
                out[i] = box + np.tile(shift, 2) / self._scale
                found[i] = True
        return out, found


def _inside(box: np.ndarray, shape: Tuple[int, ...]) -> Tuple[int, int, int, int]:
    h, w = shape[:2]
    return (
        int(max(round(box[0]), 0)),
        int(max(round(box[1]), 0)),
        int(min(round(box[2]), w)),
        int(min(round(box[3]), h)),
    )


def _find(
    prev: np.ndarray,
    curr: np.ndarray,
    box: np.ndarray,
    template: Optional[np.ndarray] = None,
    guess: Optional[np.ndarray] = None,
) -> Optional[np.ndarray]:
    """How far the face under ``box`` in ``prev`` (or ``template``, centred on ``box``) moved in ``curr``
    (dx, dy), searching around ``guess`` (the expected move), or None when it is not found."""
    h, w = prev.shape
    x1, y1, x2, y2 = _inside(box, prev.shape)
    if x2 - x1 < 4 or y2 - y1 < 4:
        return None
    anchored = template is not None
    if template is None:
        template = prev[y1:y2, x1:x2]
    else:  # the template keeps the size the face had when detected; centre it on the box
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        x1, y1 = int(round(cx - template.shape[1] / 2)), int(round(cy - template.shape[0] / 2))
        x2, y2 = x1 + template.shape[1], y1 + template.shape[0]
    margin = int(SEARCH * max(x2 - x1, y2 - y1))
    gx, gy = (0, 0) if guess is None else (int(round(guess[0])), int(round(guess[1])))
    sx1, sy1 = max(x1 + gx - margin, 0), max(y1 + gy - margin, 0)
    sx2, sy2 = min(x2 + gx + margin, w), min(y2 + gy + margin, h)
    if sx2 - sx1 < template.shape[1] or sy2 - sy1 < template.shape[0]:
        return None  # the face's place is (nearly) out of the frame
    # A big face is first looked for at a coarser scale (the cost grows with template area x window area),
    # then placed exactly at full scale in the few pixels around that: the full-scale score decides.
    coarse = min(1.0, MAX_TEMPLATE_PX / float(max(template.shape)))
    window = curr[sy1:sy2, sx1:sx2]
    small = window if coarse == 1.0 else cv2.resize(window, None, fx=coarse, fy=coarse, interpolation=cv2.INTER_AREA)
    best, where, size = -1.0, (0, 0), template.shape
    for scale in SCALES if anchored else (1.0,):
        full = template if scale == 1.0 else cv2.resize(template, None, fx=scale, fy=scale)
        score, loc = _best_match(small, _scaled(full, coarse))
        if score is None:
            continue
        if coarse < 1.0:  # refine: full scale, within one coarse step of the coarse place
            step = int(np.ceil(1.0 / coarse)) + 1
            rx, ry = max(int(loc[0] / coarse) - step, 0), max(int(loc[1] / coarse) - step, 0)
            near = window[ry : ry + full.shape[0] + 2 * step, rx : rx + full.shape[1] + 2 * step]
            score, fine = _best_match(near, full)
            if score is None:
                continue
            loc = (rx + fine[0], ry + fine[1])
        if score > best:
            best, where, size = score, loc, full.shape
        if best >= SURE_MATCH:
            break
    if best < MIN_MATCH:
        return None
    # The centre's move (boxes keep their size: the next detection corrects it).
    cx_new, cy_new = sx1 + where[0] + size[1] / 2, sy1 + where[1] + size[0] / 2
    return np.array([cx_new - (x1 + x2) / 2, cy_new - (y1 + y2) / 2], np.float64)


def _scaled(image: np.ndarray, factor: float) -> np.ndarray:
    return image if factor == 1.0 else cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)


def _best_match(window: np.ndarray, template: np.ndarray) -> Tuple[Optional[float], Tuple[float, float]]:
    """The best normalised correlation of ``template`` in ``window`` and where (x, y, to a fraction of a
    pixel); None when it does not fit or the patch is flat (OpenCV scores those NaN)."""
    th, tw = template.shape
    if th < 4 or tw < 4 or th > window.shape[0] or tw > window.shape[1]:
        return None, (0, 0)
    response = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
    _, score, _, (x, y) = cv2.minMaxLoc(response)
    if not np.isfinite(score):
        return None, (0, 0)
    # Sub-pixel: a slow face moves a fraction of a (downscaled) pixel per frame; whole-pixel steps would
    # round every move to 0 and leave its box behind.
    return float(score), (x + _peak_offset(response[y, x - 1 : x + 2]), y + _peak_offset(response[y - 1 : y + 2, x]))


def _peak_offset(around: np.ndarray) -> float:
    """Where a parabola through three responses (before, at, after the best) peaks, from -0.5 to 0.5."""
    if around.size != 3 or not np.isfinite(around).all():
        return 0.0  # the best is on the edge of the window
    before, at, after = (float(v) for v in around.ravel())
    curvature = before - 2 * at + after
    return float(np.clip(0.5 * (before - after) / curvature, -0.5, 0.5)) if curvature < 0 else 0.0


class ShownBoxes:
    """The boxes the stream draws on each frame: the latest analysis, carried along by a :class:`BoxFollower`.

    ``update`` takes the analysis result when it changes (boxes by track id on analysed frame ``index`` of
    shot ``shot``), ``on_frame`` gives the boxes for each shown frame. At a scene cut (a frame of another shot,
    ``CapturedFrame.shot``) every box goes, and analyses of frames before the cut are not shown: the faces they
    found are not in the new shot.
    """

    def __init__(self, follower: Optional[BoxFollower] = None) -> None:
        self.follower = follower or BoxFollower()
        self._shot = 0  # the shot of the latest frame shown
        self._boxes: Dict[int, np.ndarray] = {}
        self._boxes_shot = 0  # the shot the boxes were found in
        self._index: Optional[int] = None
        self.analysed: Optional[int] = None  # the frame of the latest analysis taken
        self._analysed_boxes: Dict[int, np.ndarray] = {}  # that analysis's boxes, as it gave them
        self._velocity: Dict[int, np.ndarray] = {}  # track id -> centre motion per frame, between analyses

    def update(self, boxes: Dict[int, np.ndarray], index: int, shot: int) -> None:
        """A new analysis: ``boxes`` by track id, on frame ``index`` of shot ``shot``."""
        new = {k: np.asarray(v, np.float64) for k, v in boxes.items()} if shot >= self._shot else {}
        before, gap = self._analysed_boxes, index - (self.analysed or index)
        self._velocity = {
            k: centre_shift(box - before[k]) / gap if k in before and gap > 0 else self._velocity.get(k, np.zeros(2))
            for k, box in new.items()
        }
        self._boxes, self._analysed_boxes, self._boxes_shot = dict(new), new, shot
        self._index = self.analysed = index

    def on_frame(self, frame: CapturedFrame) -> Dict[int, np.ndarray]:
        """Boxes moved onto ``frame`` (clipped to it), by track id: only these tracks are shown."""
        index, size = frame.index, (frame.image.shape[1], frame.image.shape[0])
        self.follower.add_frame(index, frame.image)
        self._shot = frame.shot
        if self._boxes_shot < frame.shot:  # a cut: the boxes were found in the shot before
            self._boxes = {}
        elif self._boxes_shot > frame.shot:  # an analysis of the next shot, before the stream reached its cut
            return {}
        if self._boxes and self._index is not None and self._index != index:
            ids = list(self._boxes)
            # Each face is searched for as it was on the analysed frame, not on the previous shown frame:
            # small errors of one frame to the next would add up, and a face's look then is its true box.
            steps = index - self.analysed
            anchored, found = self.follower.follow(
                np.stack([self._analysed_boxes[i] for i in ids]),
                self.analysed,
                index,
                expected=np.stack([self._velocity[i] * steps for i in ids]),
            )
            # Not found from there (or that frame is no longer in the history): one step from the last frame.
            rest = [i for i, ok in zip(ids, found) if not ok]
            steps = index - self._index
            stepped, _ = self.follower.follow(
                np.array([self._boxes[i] for i in rest]).reshape(-1, 4),
                self._index,
                index,
                expected=np.array([self._velocity[i] * steps for i in rest]).reshape(-1, 2),
            )
            moved = dict(zip(ids, anchored))
            moved.update(zip(rest, stepped))
            self._boxes = {i: clip_box(b, *size) for i, b in moved.items()}
        self._index = index
        return dict(self._boxes)
