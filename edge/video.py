"""VideoAnalyzer: the per-frame step of the live pipeline.

detect (every Nth frame, downscaled) -> track -> identity for new tracks and
periodically -> emotion at a per-track rate -> smoothing -> events. All faces
that need a network in a step go through it as one batch.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Dict, Iterator, List, Optional, Tuple

import cv2
import numpy as np

from edge.analyzer import FaceAnalyzer, face_crop
from edge.box_follow import BoxFollower
from edge.boxes import iou_matrix
from edge.config import Settings
from edge.detection_worker import DetectionWorker, PendingDetection
from edge.identity.embedders import embedding_key
from edge.identity.quality import face_quality
from edge.render import PRIVACY
from edge.scene_cut import ShotCounter
from edge.sqlite import StorageError, utc_iso
from edge.tracking import FaceTracker, Track, is_lost
from edge.types import Detections, Emotion, Event, FaceCrop, FaceResult, Identity, visitor_id_of, visitor_label

KEPT_CROPS = 3  # best faces kept per track, to enroll a visitor from

log = logging.getLogger(__name__)


@dataclass
class StageTimes:
    """Seconds spent in each stage of the latest step (for /metrics)."""

    values: Dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, seconds: float) -> None:
        self.values[stage] = self.values.get(stage, 0.0) + seconds


class VideoAnalyzer:
    """Turns frames into tracked faces and per-track events."""

    def __init__(
        self,
        analyzer: FaceAnalyzer,
        settings: Settings,
        track_ids: Optional[Iterator[int]] = None,
        detection: Optional[DetectionWorker] = None,
    ) -> None:
        """``track_ids``: the ids new tracks take (default 1, 2, ...); cameras of one service share one.
        ``detection``: whole-frame detections run on this worker while steps go on following and tracking;
        None: a step that detects waits for its detection (every step's result is then that of its own frame)."""
        self.analyzer = analyzer
        self.settings = settings
        self.detection = detection
        self._pending: Optional[PendingDetection] = None
        self._pending_number: Optional[int] = None  # the caller's number of the frame the worker detects on
        self._detected_on: Optional[int] = None  # the caller's number of the frame the latest step's detections were of
        self._asked_at: Optional[int] = None  # the analysed frame the latest whole-frame detection was asked for
        self._boxes_when_asked: Dict[int, np.ndarray] = {}  # each track's box on that frame
        # Detections taken this step that were carried from an earlier frame: (that frame, their boxes now, shift)
        self._seen_on: Optional[Tuple[int, np.ndarray, np.ndarray]] = None
        classes = analyzer.emotion.classes if analyzer.emotion is not None else []
        t, e = settings.tracker, settings.emotion
        self.tracker = FaceTracker(
            classes,
            t.iou_match,
            t.max_missed,
            t.min_hits,
            e.window,
            e.hysteresis,
            settings.identity.votes,
            ids=track_ids,
            # A face missing at one detection keeps moving until the next; after that its box holds still.
            max_coast=2 * settings.detector.every_n_frames,
            uncertain_below=self._uncertain_below(analyzer, e.uncertain_below),
            association=t.association,
            reid_seconds=t.reid_seconds,
            reid_similarity=analyzer.embedder.reid_similarity if analyzer.embedder is not None else 1.0,
            return_similarity=analyzer.embedder.return_similarity if analyzer.embedder is not None else -1.0,
        )
        # Searching around lost faces (tracker.recheck_lost) costs analysis time; in the blur overlays the
        # analysis rate is what finds a new face before its frames leave the privacy delay, so they do without
        # (tests/edge/web/test_private_device.py::test_strangers_are_blurred_in_snapshots shows the rule).
        self.search_lost = (
            t.recheck_lost and PRIVACY[settings.render.overlay] == 0 and self.tracker.association.partial_updates
        )
        self.frame_count = 0
        # Boxes are carried from one analysed frame to the next by finding the face (beats velocity at walking pace).
        self.follower = BoxFollower() if t.follow_boxes else None
        self._shots = ShotCounter(t.scene_cut)  # numbers the shots where the caller gives none (offline)
        self._shot: Optional[int] = None  # the shot of the last frame analysed
        self._last_time: Optional[float] = None
        self._left_crops: Dict[int, List[FaceCrop]] = {}

    def step(
        self, frame: np.ndarray, now: Optional[float] = None, shot: Optional[int] = None, number: Optional[int] = None
    ) -> Tuple[List[FaceResult], List[Event], StageTimes]:
        """Analyse one frame; returns the faces to draw, the new events and stage timings.

        ``shot``: the frame's shot as the camera numbered it (``CapturedFrame.shot``), so that the analysis and
        the stream see the same cuts; without it, cuts are told here between the frames analysed. ``number``: the
        frame's number as the caller counts them (``CapturedFrame.index``; default: the steps, from 0), which
        :attr:`detected_on` answers in."""
        now = time.time() if now is None else now
        times = StageTimes()
        dt = 0.0 if self._last_time is None else max(now - self._last_time, 0.0)
        self._last_time = now
        for track in self.tracker.tracks:
            track.emotion.tick(dt)
        events: List[Event] = []
        frame_size = (frame.shape[1], frame.shape[0])
        if shot is None:
            shot = self._shots.stamp(self.frame_count + 1, frame).shot
        first = self._shot is None  # the first frame opens a shot too: nothing known yet, so detect at once
        cut, self._shot = not first and shot != self._shot, shot
        if cut:  # a new shot: whoever is where a face was is someone else (or the same person, re-identified)
            events.extend(self._ended(self.tracker.park(now)))
        self._follow(frame)
        index = self.frame_count
        self.frame_count += 1
        self._seen_on, self._detected_on = None, None
        arrived = self._arrived(cut, index, times)  # always None at a cut: those were of the shot before
        # A new shot is detected at once, with the worker or without; without it, every Nth analysed frame.
        detect_now = first or cut or (self.detection is None and index % self.every_n == 0)
        # Only faces seen at the last detection: a region search cannot continue a track a whole-frame detection
        # missed, and searching around faces gone or hidden for seconds makes tracks and searches pile up and
        # the analysis rate fall (docs/tracking.md, `python -m bench tracking --realtime`).
        searching = self.search_lost and not detect_now and arrived is None
        lost = [t for t in self.tracker.tracks if t.lost and not t.missed] if searching else []
        if detect_now:
            t0 = time.perf_counter()
            dets = self._detect(frame)
            times.add("detect", time.perf_counter() - t0)
            self._asked_at = index
            events.extend(self._take(frame, dets, now, times))
        elif arrived is not None:
            events.extend(self._take(frame, arrived, now, times))
        elif lost:
            # Faces following could not find (turned, hidden, too fast, or one coming out from behind them):
            # their regions are searched now instead of at the next detection (docs/tracking.md).
            t0 = time.perf_counter()
            dets = self.analyzer.detector.detect_near(frame, np.stack([t.box for t in lost]))
            times.add("detect", time.perf_counter() - t0)
            events.extend(self._take(frame, dets, now, times, partial=True))
        else:
            self.tracker.coast(frame_size)
        due = self._asked_at is None or index - self._asked_at >= self.every_n
        if self.detection is not None and self._pending is None and due:
            self._pending = self.detection.submit(self._detect, frame, index)
            self._pending_number = index if number is None else number
            self._asked_at = index
            self._boxes_when_asked = {t.track_id: t.box.copy() for t in self.tracker.tracks}
        faces = [self._face(t) for t in self.tracker.visible(max_missed=2, tentative=True, lost=True)]
        return faces, events, times

    @property
    def detection_in_flight(self) -> Optional[PendingDetection]:
        """The whole-frame detection asked of the worker and not taken yet, if any."""
        return self._pending

    @property
    def detected_on(self) -> Optional[int]:
        """The number (``step``'s ``number``) of the frame whose whole-frame detection the latest step took from
        the worker, detected on that earlier frame; None when it took none, or detected its own frame."""
        return self._detected_on

    @property
    def every_n(self) -> int:
        return self.settings.detector.every_n_frames

    def _detect(self, frame: np.ndarray) -> Detections:
        """Whole-frame detection with this camera's detector settings (the network is shared)."""
        d = self.settings.detector
        return self.analyzer.detector.detect(frame, max_side=d.max_side, min_face_px=d.min_face_px)

    def _arrived(self, cut: bool, index: int, times: StageTimes) -> Optional[Detections]:
        """The worker's detections, if they came, carried from their frame onto frame ``index`` (None: none came,
        or they were of the shot before a cut and are dropped)."""
        pending = self._pending
        if pending is None or not (pending.done() or cut):
            return None
        self._pending = None
        if cut:  # of the previous shot
            pending.result.cancel()
            return None
        dets, seconds = pending.result.result()  # a detector failure is this step's
        times.add("detect", seconds)
        self._detected_on = self._pending_number
        return self._carried(dets, pending.frame_index, index)

    def _carried(self, dets: Detections, then: int, now: int) -> Detections:
        """Detections of analysed frame ``then`` moved onto frame ``now``: a face on a track's box of that frame
        moves as the track has moved since (followed with its template and velocity, which holds fast walkers);
        a face no track had is followed from its own pixels."""
        if not len(dets):
            return dets
        shift = np.zeros((len(dets), 2), np.float32)
        tracks = [t for t in self.tracker.tracks if t.track_id in self._boxes_when_asked]
        matched = np.zeros(len(dets), bool)
        if tracks:
            ious = iou_matrix(dets.boxes, np.stack([self._boxes_when_asked[t.track_id] for t in tracks]))
            for i, j in enumerate(ious.argmax(axis=1)):
                if ious[i, j] >= self.settings.tracker.iou_match:
                    moved = tracks[j].box - self._boxes_when_asked[tracks[j].track_id]
                    shift[i], matched[i] = (moved[:2] + moved[2:]) / 2, True
        if self.follower is not None and not matched.all():
            boxes, _ = self.follower.follow(dets.boxes[~matched], then, now)
            shift[~matched] = (boxes - dets.boxes[~matched])[:, :2]
        carried = Detections(
            (dets.boxes + np.tile(shift, 2)).astype(np.float32), dets.scores, dets.landmarks + shift[:, None, :]
        )
        self._seen_on = (then, carried.boxes, shift)
        return carried

    def _take(
        self, frame: np.ndarray, dets: Detections, now: float, times: StageTimes, partial: bool = False
    ) -> List[Event]:
        """Tracks updated with ``dets`` (of the whole frame, or with ``partial`` of some regions of it),
        their identity and emotion refreshed; the events that follow."""
        seen, ended = self.tracker.update(
            dets,
            now,
            (frame.shape[1], frame.shape[0]),
            partial=partial,
            embed=lambda indices: self.analyzer.embed(frame, dets[np.array(indices, int)]),
        )
        self._remember_faces(seen)
        looks = {t.track_id: self._look(frame, t) for t in seen}
        self._refresh(frame, seen, looks, times)
        self._keep_best_crops(seen, looks)
        events: List[Event] = []
        for track in seen:
            events.extend(self._track_events(track))
        return events + self._ended(ended)

    def _follow(self, frame: np.ndarray) -> None:
        """Move every track's box from the previous analysed frame onto this one by finding its face there."""
        if self.follower is None:
            return
        self.follower.add_frame(self.frame_count, frame)
        if self.tracker.tracks and self.frame_count > 0:
            tracks = self.tracker.tracks
            boxes = np.stack([t.box for t in tracks])
            templates = [t.template for t in tracks]
            expected = np.stack([self.tracker.expected_move(t) for t in tracks])
            self.tracker.follow(
                *self.follower.follow(boxes, self.frame_count - 1, self.frame_count, templates, expected)
            )

    def _remember_faces(self, seen: List[Track]) -> None:
        """Each detected face's look now: what following searches for until the next detection. A face detected
        on an earlier frame is taken from that frame, where its box is exact, not from where it was carried."""
        if self.follower is None:
            return
        for track in seen:
            frame, box = self.frame_count - 1, track.box
            if self._seen_on is not None:
                then, boxes, shifts = self._seen_on
                k = int(iou_matrix(track.box[None], boxes).argmax())
                frame, box = then, track.box - np.tile(shifts[k], 2)
            track.template = self.follower.template(frame, box)

    @staticmethod
    def _uncertain_below(analyzer: FaceAnalyzer, configured: Optional[float]) -> float:
        if configured is not None:
            return configured
        return analyzer.emotion.uncertain_below if analyzer.emotion is not None else 0.0

    def open_track_events(self) -> List[Event]:
        """The face.left event each announced track on screen would get now (the crash-recovery record)."""
        return [self._left(t) for t in self.tracker.tracks + self.tracker.parked if t.announced]

    def finish(self) -> List[Event]:
        """End every track (source stopped or service shutting down)."""
        if self._pending is not None:
            self._pending.result.cancel()
            self._pending = None
        return self._ended(self.tracker.end_all())

    def take_left_crops(self) -> Dict[int, List[FaceCrop]]:
        """The best crops of the tracks that left since the last call (stored with their face.left)."""
        crops, self._left_crops = self._left_crops, {}
        return crops

    def track_crops(self, track_id: int) -> Optional[List[FaceCrop]]:
        """The best crops of a track on screen now, or None when no such track is on screen."""
        for track in self.tracker.tracks:
            if track.track_id == track_id and track.announced:
                return list(track.best_crops)
        return None

    def _ended(self, tracks: List[Track]) -> List[Event]:
        announced = [t for t in tracks if t.announced]
        for t in announced:
            if t.best_crops:
                self._left_crops[t.track_id] = t.best_crops
        self._remember_visitors(announced)
        return [self._left(t) for t in announced]

    @staticmethod
    def _look(frame: np.ndarray, track: Track) -> Tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """The face of ``track`` in ``frame``: its crop (BGR), box and landmarks in the crop, its quality."""
        crop_bgr, box, landmarks = face_crop(frame, track.box, track.landmarks)
        return crop_bgr, box, landmarks, face_quality(cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY), box, landmarks)

    def _keep_best_crops(self, seen: List[Track], looks: Dict[int, Tuple]) -> None:
        """Each track keeps its ``KEPT_CROPS`` best faces by quality (its thumbnails; enrollment takes the ones
        big enough to be named)."""
        for track in seen:
            crop_bgr, box, landmarks, quality = looks[track.track_id]
            worst = track.best_crops[-1].quality if len(track.best_crops) >= KEPT_CROPS else -1.0
            if quality > worst:
                rgb = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2RGB)
                track.best_crops = sorted(
                    [*track.best_crops, FaceCrop(quality, rgb, box, landmarks)], key=lambda c: -c.quality
                )[:KEPT_CROPS]

    def _refresh(self, frame: np.ndarray, seen: List[Track], looks: Dict[int, Tuple], times: StageTimes) -> None:
        cfg = self.settings
        for t in seen:
            t.frames_since_identity += 1
            t.frames_since_emotion += 1
        want_id = [t for t in seen if not t.identity.decided or t.frames_since_identity >= cfg.identity.refresh_frames]
        if want_id and self.analyzer.embedder is not None:
            t0 = time.perf_counter()
            dets = Detections(
                np.stack([t.box for t in want_id]).astype(np.float32),
                np.array([t.score for t in want_id], np.float32),
                np.stack([t.landmarks for t in want_id]).astype(np.float32),
            )
            vectors = self.analyzer.embed(frame, dets)
            for track, vector, ident in zip(want_id, vectors, self.analyzer.name_faces(vectors)):
                if vector is not None:
                    track.add_appearance(vector)  # what re-identifies it after a scene cut
                if ident is not None:
                    track.identity.add(ident.name, ident.score)
                track.frames_since_identity = 0
            self._recall_visitors(want_id)
            times.add("identity", time.perf_counter() - t0)
        want_emo = [t for t in seen if t.frames_since_emotion >= cfg.emotion.every_n_frames]
        if want_emo and self.analyzer.emotion is not None and cfg.emotion.min_quality > 0:
            readable = []
            for track in want_emo:  # faces too small, blurred or turned are not read (bench emotion-camera)
                if looks[track.track_id][3] < cfg.emotion.min_quality:
                    track.emotion.not_read()
                    track.frames_since_emotion = 0
                else:
                    readable.append(track)
            want_emo = readable
        if want_emo and self.analyzer.emotion is not None:
            t0 = time.perf_counter()
            probs = self.analyzer.classify_emotions(frame, np.stack([t.box for t in want_emo]))
            for track, p in zip(want_emo, probs):
                track.pending_emotion_change = track.emotion.add(p) or track.pending_emotion_change
                track.frames_since_emotion = 0
            times.add("emotion", time.perf_counter() - t0)

    def _recall_visitors(self, tracks: List[Track]) -> None:
        """A stranger's track whose mean embedding is a remembered visitor's takes that visitor's label (once;
        never one that a face on screen already has: two faces at once are two people)."""
        memory, embedder = self.analyzer.visitors, self.analyzer.embedder
        if memory is None or embedder is None:
            return
        threshold = self.analyzer.visitor_threshold
        threshold = self.analyzer.identity_threshold if threshold is None else threshold
        taken = {t.visitor_label for t in self.tracker.tracks if t.visitor_label}
        for track in tracks:
            if track.visitor_label or track.identity.name or track.appearance is None:
                continue
            found = memory.recall(track.appearance, embedding_key(embedder), threshold)
            if found is not None and visitor_label(found[0]) not in taken:
                track.visitor_label = visitor_label(found[0])
                taken.add(track.visitor_label)

    def _remember_visitors(self, tracks: List[Track]) -> None:
        """Each stranger's track that left is kept as a visit of its visitor (a new one under its own id)."""
        memory, embedder = self.analyzer.visitors, self.analyzer.embedder
        if memory is None or embedder is None:
            return
        for track in tracks:
            if track.identity.name or track.appearance is None:
                continue
            visitor = visitor_id_of(track.visitor_label) or track.track_id
            when = utc_iso(datetime.fromtimestamp(track.last_seen, timezone.utc))
            try:
                memory.remember(visitor, track.appearance, embedding_key(embedder), when)
            except StorageError as exc:  # the visit's events are stored regardless; only the memory misses it
                log.warning("visitor memory: %s", exc)

    def _identity(self, track: Track) -> Identity:
        return Identity(track.identity.name, track.identity.score)

    def _emotion(self, track: Track) -> Optional[Emotion]:
        current = track.emotion.current()
        return Emotion(*current) if current else None

    def _face(self, track: Track) -> FaceResult:
        return FaceResult(
            box=track.box.tolist(),
            score=track.score,
            identity=self._identity(track) if track.identity.decided else None,
            emotion=self._emotion(track),
            track_id=track.track_id,
            label=track.label,
            found=not is_lost(track),
        )

    def _event(
        self, kind: str, track: Track, data: Optional[Dict[str, object]] = None, box: Optional[np.ndarray] = None
    ) -> Event:
        payload = {"label": track.label}
        payload.update(data or {})
        return Event(
            kind,
            self.settings.camera,
            track.track_id,
            (track.box if box is None else box).tolist(),
            self._identity(track),
            self._emotion(track),
            payload,
        )

    def _track_events(self, track: Track) -> List[Event]:
        out: List[Event] = []
        emotion_changed = track.pending_emotion_change
        track.pending_emotion_change = False
        identity_now = track.identity.name
        if not track.announced:
            if track.hits >= self.settings.tracker.min_hits:
                track.announced = True
                track.announced_identity = identity_now
                track.announced_label = track.label
                out.append(self._event("face.appeared", track))
            return out
        # A name given or taken back, or a stranger recognised as a returning visitor (a new label, no name)
        if identity_now != track.announced_identity or track.label != track.announced_label:
            previous = {"previous": track.announced_identity, "previous_label": track.announced_label}
            out.append(self._event("identity.changed", track, previous))
            track.announced_identity = identity_now
            track.announced_label = track.label
        if emotion_changed:
            out.append(self._event("emotion.changed", track))
        return out

    def _left(self, track: Track) -> Event:
        visit, probability = track.emotion.visit()
        return self._event(
            "face.left",
            track,
            {
                "duration_s": round(track.last_seen - track.first_seen, 2),
                "first_seen": track.first_seen,
                "last_seen": track.last_seen,
                # the whole visit's evidence (every read look), not the last smoothed label
                "dominant_emotion": visit if self.analyzer.emotion is not None else None,
                "dominant_emotion_probability": round(probability, 4),
                "emotion_shares": track.emotion.shares(),
            },
            box=track.observed_box,  # where the face was last seen, not where coasting took its box
        )
