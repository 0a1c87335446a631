"""Which detection continues which track: the association step of ``FaceTracker``, as plugins.

Every association implements :class:`Association`; ``FaceTracker`` keeps the tracks (boxes, smoothing,
events) and asks its association only which detection goes with which track and which detections start
new tracks. ``tracker.association`` chooses:

- ``greedy``: best-score pair first on IoU (or centre distance for fast faces) against the boxes the
  tracker predicts, which between detections are the boxes ``edge.box_follow`` found on each frame;
- ``bytetrack``: supervision's ByteTrack (Kalman filter in centre / aspect / height, two-stage matching of
  high- and low-confidence detections, Hungarian assignment). It keeps its own track states and sees only
  the detections, not the followed boxes.

Which one ships is measured on the annotated videos (``python -m bench tracking``; docs/tracking.md).
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np

from edge.types import Detections

ASSOCIATIONS = ("greedy", "bytetrack")

Pairs = List[Tuple[int, int]]  # (track index, detection index)


class Association:
    """Protocol: ``assign`` once per detection frame, ``started`` for each new track, ``ended`` for each end."""

    # Whether ``assign`` may be given the detections of some regions of a frame (FaceTracker.update's partial).
    partial_updates = True

    def assign(
        self, track_ids: Sequence[int], scores: np.ndarray, dets: Detections, missed: Sequence[int] = ()
    ) -> Tuple[Pairs, List[int]]:
        """(track index, detection index) pairs that continue tracks, and the detections that start new ones.

        ``track_ids`` are the tracker's tracks in order; ``scores`` (tracks x detections) their association
        scores against the tracker's predicted boxes (``match_scores``), and ``missed`` how many detections
        each has missed since it was last seen, for associations that use them.
        """
        raise NotImplementedError

    def started(self, detection: int, track_id: int) -> None:
        """The tracker started track ``track_id`` from detection ``detection`` of the latest ``assign``."""

    def ended(self, track_id: int) -> None:
        """The tracker ended ``track_id``."""


class GreedyAssociation(Association):
    """Best-score pair first while the score is at least ``min_score``: with a handful of faces per frame as
    good as the Hungarian algorithm, and it trusts the followed boxes the scores were computed from."""

    def __init__(self, min_score: float) -> None:
        self.min_score = min_score

    def assign(
        self, track_ids: Sequence[int], scores: np.ndarray, dets: Detections, missed: Sequence[int] = ()
    ) -> Tuple[Pairs, List[int]]:
        pairs: Pairs = []
        used_tracks, used_dets = set(), set()
        # Tracks seen most recently choose first (DeepSORT's matching cascade): a face hidden for a while
        # has a wide reach, and must not take the detection of the face in front of it from that face's track.
        age = np.broadcast_to(np.asarray(missed if len(missed) else np.zeros(len(track_ids)))[:, None], scores.shape)
        for flat in np.lexsort((-scores.ravel(), age.ravel())):
            ti, di = (int(v) for v in np.unravel_index(flat, scores.shape))
            if scores[ti, di] < self.min_score:
                continue
            if ti in used_tracks or di in used_dets:
                continue
            used_tracks.add(ti)
            used_dets.add(di)
            pairs.append((ti, di))
        return pairs, [d for d in range(len(dets)) if d not in used_dets]


class ByteTrackAssociation(Association):
    """supervision's ``ByteTrack``, one tracker frame per detection frame.

    ByteTrack names its own tracks; this keeps which of them is which of ours. A detection ByteTrack leaves
    without a track (a face seen once, not yet confirmed) starts none of ours either: its face shows from
    its second detection.
    """

    partial_updates = False  # it counts every call as a frame, and every track it was not given as missed

    def __init__(self, min_iou: float, max_missed: int) -> None:
        try:
            import supervision as sv  # only when chosen: heavy to import, and not in the Jetson image
        except ImportError as exc:
            raise RuntimeError(
                "tracker.association 'bytetrack' needs supervision: pip install --no-deps supervision==0.25.1 "
                "defusedxml matplotlib (or use the default, 'greedy')"
            ) from exc

        self._sv = sv
        # lost_track_buffer counts tracker frames at frame_rate 30: our detection frames, as max_missed does.
        self.byte = sv.ByteTrack(
            minimum_matching_threshold=1 - min_iou, lost_track_buffer=max_missed + 1, frame_rate=30
        )
        self._ours: Dict[int, int] = {}  # ByteTrack's id -> our track id
        self._pending: Dict[int, int] = {}  # detection index -> ByteTrack's id, for tracks not started yet

    def assign(
        self, track_ids: Sequence[int], scores: np.ndarray, dets: Detections, missed: Sequence[int] = ()
    ) -> Tuple[Pairs, List[int]]:
        found = self.byte.update_with_detections(
            self._sv.Detections(
                xyxy=dets.boxes.astype(np.float32).reshape(-1, 4),
                confidence=dets.scores.astype(np.float32),
                data={"index": np.arange(len(dets))},
            )
        )
        index_of = {track_id: i for i, track_id in enumerate(track_ids)}
        pairs: Pairs = []
        self._pending = {}
        for det, byte_id in zip(found.data.get("index", []), found.tracker_id):
            ours = self._ours.get(int(byte_id))
            if ours is not None and ours in index_of:
                pairs.append((index_of[ours], int(det)))
            else:
                self._pending[int(det)] = int(byte_id)
        return pairs, sorted(self._pending)

    def started(self, detection: int, track_id: int) -> None:
        self._ours[self._pending.pop(detection)] = track_id

    def ended(self, track_id: int) -> None:
        self._ours = {b: t for b, t in self._ours.items() if t != track_id}


def make_association(name: str, min_score: float, max_missed: int) -> Association:
    """The association called ``name`` (one of ``ASSOCIATIONS``)."""
    if name == "greedy":
        return GreedyAssociation(min_score)
    if name == "bytetrack":
        return ByteTrackAssociation(min_score, max_missed)
    raise ValueError(f"unknown tracker.association {name!r}: use one of {', '.join(ASSOCIATIONS)}")
