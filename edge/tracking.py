"""FaceTracker: gives each face a stable ``track_id`` across frames.

Which detection continues which track is the association's choice
(:mod:`edge.association`: greedy matching on IoU, or centre distance for fast
faces, against the predicted boxes; or supervision's ByteTrack). Between
detections (``every_n_frames`` > 1) the caller moves each box onto the new frame
where its face is found (``follow``, see :mod:`edge.box_follow`); a box whose
face is not found coasts on its velocity. Coasting stops after ``max_coast``
frames without a detection (a lost face's box holds still instead of flying
off), and every box is clipped to the frame, so no box is ever outside it or
inside out.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional, Tuple

import numpy as np

from edge.association import make_association
from edge.boxes import iou_matrix
from edge.smoothing import EmotionSmoother, IdentityVote
from edge.types import Detections, FaceCrop, visitor_label


def match_scores(tracks: np.ndarray, dets: np.ndarray, reach: Optional[np.ndarray] = None) -> np.ndarray:
    """Association score of each predicted track box with each detection, in [0, 1].

    IoU, or, when boxes moved too far to overlap (low analysis rate, fast
    walkers), a score that falls from 1 to 0 as the centre distance grows to
    ``reach`` (per track, default 1) box diagonals; boxes whose sizes differ by
    over 2x never match.
    """
    iou = iou_matrix(tracks, dets)
    if iou.size == 0:
        return iou
    ct = (tracks[:, None, :2] + tracks[:, None, 2:]) / 2
    cd = (dets[None, :, :2] + dets[None, :, 2:]) / 2
    size_t = np.hypot(tracks[:, 2] - tracks[:, 0], tracks[:, 3] - tracks[:, 1])[:, None]
    size_d = np.hypot(dets[:, 2] - dets[:, 0], dets[:, 3] - dets[:, 1])[None, :]
    radius = size_t * (1.0 if reach is None else np.asarray(reach, np.float64)[:, None])
    closeness = np.clip(1 - np.linalg.norm(ct - cd, axis=2) / np.maximum(radius, 1e-6), 0, 1) * 0.9
    ratio = np.maximum(size_t, size_d) / np.maximum(np.minimum(size_t, size_d), 1e-6)
    return np.where(ratio <= 2.0, np.maximum(iou, closeness), 0.0)


def centre_shift(delta: np.ndarray) -> np.ndarray:
    """How far a box's centre moves (dx, dy) for a change of its corners ``delta`` (4,)."""
    return np.array([(delta[0] + delta[2]) / 2, (delta[1] + delta[3]) / 2])


def is_lost(track: Track) -> bool:
    """Missed by the latest detection and not found by following since: its box is only a guess."""
    return bool(track.missed and track.lost)


def clip_box(box: np.ndarray, width: int, height: int) -> np.ndarray:
    """``box`` inside a width x height frame, ordered and at least 1 px wide and tall."""
    x1, x2 = np.clip(np.sort([box[0], box[2]]), 0, width)
    y1, y2 = np.clip(np.sort([box[1], box[3]]), 0, height)
    x1, y1 = min(x1, width - 1.0), min(y1, height - 1.0)
    return np.array([x1, y1, max(x2, x1 + 1.0), max(y2, y1 + 1.0)], np.float64)


@dataclass
class Track:
    """One face followed over time, with its smoothed identity and emotion."""

    track_id: int
    box: np.ndarray
    score: float
    landmarks: np.ndarray
    first_seen: float
    last_seen: float
    emotion: EmotionSmoother
    identity: IdentityVote
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))  # per frame
    observed_box: Optional[np.ndarray] = None  # the last detection's box (face.left reports it)
    frames_since_observed: int = 0
    coasted: int = 0  # frames moved on velocity alone since the last detection
    followed: bool = False  # the box was carried onto the current frame (edge.box_follow): no velocity to add
    lost: bool = False  # neither detected nor found by following on the latest frame: its box is a guess
    template: Optional[np.ndarray] = None  # the face as last detected, for following (edge.box_follow)
    hits: int = 1
    missed: int = 0
    announced: bool = False
    frames_since_identity: int = 1 << 30
    frames_since_emotion: int = 1 << 30
    visitor_label: Optional[str] = None
    pending_emotion_change: bool = False  # the smoothed emotion changed since the last event check
    announced_identity: Optional[str] = None  # the name the latest event about this track carried
    announced_label: Optional[str] = None  # the label it carried (a visitor label changes on recall)
    best_crops: List[FaceCrop] = field(default_factory=list)  # highest quality first (enroll a visitor)
    appearance_sum: Optional[np.ndarray] = None  # the sum of the face's embeddings so far (re-identification)
    parked_until: float = 0.0  # parked by a scene cut: it may be re-identified until then

    @property
    def appearance(self) -> Optional[np.ndarray]:
        """The mean of the face's embeddings, unit length; None before the first."""
        if self.appearance_sum is None:
            return None
        return self.appearance_sum / max(float(np.linalg.norm(self.appearance_sum)), 1e-12)

    def add_appearance(self, vector: np.ndarray) -> None:
        """One more embedding of this face (unit length)."""
        vector = np.asarray(vector, np.float64)
        self.appearance_sum = vector.copy() if self.appearance_sum is None else self.appearance_sum + vector

    @property
    def label(self) -> str:
        return self.identity.name or self.visitor_label or visitor_label(self.track_id)


class FaceTracker:
    """Associates detections with tracks; ``update`` on detection frames, ``coast`` in between."""

    LOST_REACH = 0.5  # diagonals added to a track's reach per missed detection (docs/tracking.md)
    # Missed detections after which a face counts as hidden, not just turned away for a moment: a face that
    # comes back where a hidden one was is checked by embedding, a face missed once is not (one look down can
    # score under return_similarity with its own mean; docs/tracking.md, tests/edge/test_tracking.py).
    HIDDEN = 2

    def __init__(
        self,
        classes: List[str],
        iou_match: float = 0.3,
        max_missed: int = 8,
        min_hits: int = 2,
        emotion_window: int = 8,
        hysteresis: float = 0.1,
        votes: int = 5,
        ids: Optional[Iterator[int]] = None,
        max_coast: int = 6,
        uncertain_below: float = 0.0,
        association: str = "greedy",
        reid_seconds: float = 0.0,
        reid_similarity: float = 1.0,
        return_similarity: float = -1.0,
    ) -> None:
        self.classes = classes
        self.iou_match = iou_match
        self.max_missed = max_missed
        self.min_hits = min_hits
        self.emotion_window = emotion_window
        self.hysteresis = hysteresis
        self.votes = votes
        self.max_coast = max_coast
        self.uncertain_below = uncertain_below
        self.association = make_association(association, iou_match, max_missed)
        self.reid_seconds = reid_seconds
        self.reid_similarity = reid_similarity
        self.return_similarity = return_similarity
        self.tracks: List[Track] = []
        self.parked: List[Track] = []  # tracks a scene cut took off screen, waiting to be re-identified
        # Track ids: shared by the cameras of one service and continued after a restart, so that an id names one
        # track in the event log
        self._ids = itertools.count(1) if ids is None else ids

    def update(
        self,
        dets: Detections,
        now: float,
        frame_size: Optional[Tuple[int, int]] = None,
        partial: bool = False,
        embed: Optional[Callable[[List[int]], List[Optional[np.ndarray]]]] = None,
    ) -> Tuple[List[Track], List[Track]]:
        """Match ``dets`` to tracks. Returns (tracks matched or created this frame, tracks that ended).

        ``frame_size`` (width, height) clips every box to the frame. ``partial``: ``dets`` come from some
        regions of the frame only (``FaceDetector.detect_near``): they continue only tracks seen at the last
        detection, and a track they do not continue has not been missed. ``embed`` gives the embeddings of
        the detections at the given indices (one call for all the faces no track continues): on whole-frame
        updates each is compared with the parked tracks (``park``) before it starts a new one."""
        predicted = np.array([self._predict(t) for t in self.tracks]).reshape(-1, 4)
        scores = match_scores(predicted, dets.boxes, self._reach())
        hidden_reach = np.zeros(len(dets), bool)
        if partial:
            # A face hidden since the last detection is only taken back by a whole-frame detection, where every
            # face competes for it: in a searched region, the face coming out in front of it would take its track.
            hidden = np.array([t.missed > 0 for t in self.tracks], bool)
            hidden_reach = (scores[hidden] > 0).any(axis=0) if hidden.any() else hidden_reach
            scores = np.where(hidden[:, None], 0.0, scores)
        pairs, new = self.association.assign(
            [t.track_id for t in self.tracks], scores, dets, [t.missed for t in self.tracks]
        )
        # Nor does such a region start a track where a hidden face may be coming back: whether it is that face
        # or a newcomer is the next whole-frame detection's decision (a region search would start a second track
        # beside the hidden one of the same person).
        new = [d for d in new if not hidden_reach[d]]
        if embed is not None and not partial:
            pairs, refused = self._faces_returning(pairs, embed)
            new = sorted(new + refused)
        matched_tracks = set()
        for ti, di in pairs:
            matched_tracks.add(ti)
            self._continue(self.tracks[ti], dets, di, now)
        seen = [self.tracks[i] for i in sorted(matched_tracks)]
        for i, track in enumerate(self.tracks):
            if i not in matched_tracks:
                track.missed += 0 if partial else 1
                self._coast(track)
        # Like a hidden track, a parked one is only taken back by a whole-frame detection: a region search once
        # gave one singer's forehead to the pianist's parked track.
        reidentify = self.parked and embed is not None and new and not partial
        looks = embed(new) if reidentify else [None] * len(new)
        for di, look in zip(new, looks):
            track = self._reidentified(dets, di, look, now) or self._new_track(dets[di : di + 1], now)
            self.association.started(di, track.track_id)
            self.tracks.append(track)
            seen.append(track)
        ended = [t for t in self.tracks if t.missed > self.max_missed]
        for track in ended:
            self.association.ended(track.track_id)
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        ended += [t for t in self.parked if t.parked_until < now]
        self.parked = [t for t in self.parked if t.parked_until >= now]
        if frame_size is not None:
            self.clip(*frame_size)
        return seen, ended

    def _faces_returning(
        self, pairs: List[Tuple[int, int]], embed: Callable[[List[int]], List[Optional[np.ndarray]]]
    ) -> Tuple[List[Tuple[int, int]], List[int]]:
        """``pairs`` less those in which a hidden track (missed detections) takes a face whose embedding is under
        ``return_similarity`` to the track's: that face is someone else, coming out from behind (on the demo a
        man stepping out where a hidden man's box was took his track, and the hidden man came back as a new one).
        Returns the pairs kept and the detections refused (they start tracks, or are re-identified)."""
        returning = [(ti, di) for ti, di in pairs if self._hidden_with_a_look(self.tracks[ti])]
        if not returning:
            return pairs, []
        looks = embed([di for _, di in returning])
        refused = {
            (ti, di)
            for (ti, di), look in zip(returning, looks)
            if look is not None and float(self.tracks[ti].appearance @ look) < self.return_similarity
        }
        return [p for p in pairs if p not in refused], [di for _, di in refused]

    def _hidden_with_a_look(self, track: Track) -> bool:
        return track.missed >= self.HIDDEN and track.appearance is not None

    def park(self, now: float) -> List[Track]:
        """A scene cut: every track leaves the screen. Those with an appearance wait ``reid_seconds`` to be
        re-identified (the same person in a later shot keeps the track); the others end, and are returned."""
        ended = []
        for track in self.tracks:
            self.association.ended(track.track_id)
            if self.reid_seconds > 0 and track.appearance is not None:
                track.parked_until = now + self.reid_seconds
                self.parked.append(track)
            else:
                ended.append(track)
        self.tracks = []
        return ended

    def _reidentified(self, dets: Detections, di: int, look: Optional[np.ndarray], now: float) -> Optional[Track]:
        """The parked track whose face detection ``di`` (embedding ``look``) is, continued with it; None when
        there is none."""
        if look is None or not self.parked:
            return None
        similarity = [float(t.appearance @ look) for t in self.parked]
        best = int(np.argmax(similarity))
        if similarity[best] < self.reid_similarity:
            return None
        track = self.parked.pop(best)
        # Seen in another shot: where it was before the cut says nothing of how it moves now.
        track.velocity, track.observed_box = np.zeros(4), dets.boxes[di].astype(np.float64)
        self._continue(track, dets, di, now)
        track.add_appearance(look)
        return track

    def _continue(self, track: Track, dets: Detections, di: int, now: float) -> None:
        """``track`` is seen again as detection ``di``."""
        new_box = dets.boxes[di].astype(np.float64)
        frames = track.frames_since_observed + 1
        track.velocity = 0.5 * track.velocity + 0.5 * (new_box - track.observed_box) / frames
        track.box, track.score, track.landmarks = new_box, float(dets.scores[di]), dets.landmarks[di]
        track.observed_box = new_box
        track.frames_since_observed = track.coasted = 0
        track.followed = track.lost = False
        track.hits += 1
        track.missed = 0
        track.last_seen = now

    def coast(self, frame_size: Optional[Tuple[int, int]] = None) -> None:
        """Move every track along its velocity on a frame without detection (for at most ``max_coast``)."""
        for track in self.tracks:
            self._coast(track)
        if frame_size is not None:
            self.clip(*frame_size)

    def follow(self, boxes: np.ndarray, moved: np.ndarray) -> None:
        """Put each track's box where its face was found on the current frame (``moved``: where it was).

        Called before ``update`` or ``coast`` on the same frame; a followed box is not moved on velocity.
        """
        for track, box, ok in zip(self.tracks, boxes, moved):
            track.followed = bool(ok)
            track.lost = not ok
            if ok:
                track.box = np.asarray(box, np.float64)

    def clip(self, width: int, height: int) -> None:
        """Keep every box inside the frame and at least one pixel wide and tall."""
        for track in self.tracks:
            track.box = clip_box(track.box, width, height)
            track.observed_box = clip_box(track.observed_box, width, height)

    def expected_move(self, track: Track) -> np.ndarray:
        """How far the track's face is expected to move by the next frame (centre dx, dy): its velocity."""
        return np.zeros(2) if track.coasted >= self.max_coast else centre_shift(track.velocity)

    def _reach(self) -> np.ndarray:
        """How far (in box diagonals) each track may have gone since it was last seen: one diagonal, plus
        half a diagonal per missed detection, as a face hidden behind a passer-by walks on unseen."""
        return np.array([1.0 + self.LOST_REACH * t.missed for t in self.tracks])

    def _predict(self, track: Track) -> np.ndarray:
        if track.followed or track.coasted >= self.max_coast:
            return track.box
        return track.box + track.velocity

    def _coast(self, track: Track) -> None:
        track.frames_since_observed += 1
        if track.followed:
            track.followed = False
        elif track.coasted < self.max_coast:
            track.box = track.box + track.velocity
            track.coasted += 1

    def visible(self, max_missed: int = 0, tentative: bool = False, lost: bool = False) -> List[Track]:
        """Tracks confirmed by enough detections and missed in at most ``max_missed`` recent detections.

        With ``tentative``, new tracks found by the last detection are included too: the stream
        shows a face from its first detection, while events still wait for ``min_hits``. With ``lost``,
        tracks whose face was not found on the latest frame (``is_lost``) are included too, for blurring.
        """
        return [
            t
            for t in self.tracks
            if (t.hits >= self.min_hits or (tentative and t.missed == 0))
            and t.missed <= max_missed
            and (lost or not is_lost(t))
        ]

    def end_all(self) -> List[Track]:
        """End every track, parked ones included (the source stopped)."""
        for track in self.tracks:
            self.association.ended(track.track_id)
        ended, self.tracks, self.parked = self.tracks + self.parked, [], []
        return ended

    def _new_track(self, det: Detections, now: float) -> Track:
        track = Track(
            track_id=next(self._ids),
            box=det.boxes[0].astype(np.float64),
            score=float(det.scores[0]),
            landmarks=det.landmarks[0],
            first_seen=now,
            last_seen=now,
            observed_box=det.boxes[0].astype(np.float64),
            emotion=EmotionSmoother(self.classes, self.emotion_window, self.hysteresis, self.uncertain_below),
            identity=IdentityVote(self.votes),
        )
        return track
