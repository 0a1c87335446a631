"""EdgeService: wires source, analysis, rendering, events and storage together.

Three threads, so that none waits on another:

- capture: source -> one-slot latest frame (stale frames are dropped, counted);
- analysis: latest frame -> VideoAnalyzer -> faces on screen + events (SQLite);
- render: every captured frame -> the latest analysis, its boxes carried onto
  this frame (ShownBoxes) -> one JPEG per overlay watched -> MjpegBroadcaster.
  The stream keeps the source frame rate when analysis is slower, and boxes
  stay on the faces in between.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Deque, Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from edge.access_token import resolve_access
from edge.bootstrap import LoadProgress, build_analyzer, detector_analyzer
from edge.box_follow import ShownBoxes
from edge.broadcast import MjpegBroadcaster
from edge.compile import hold_cache
from edge.config import OVERLAYS, Settings
from edge.events import EventStore, OpenTracks
from edge.face_search import FaceSearch
from edge.identity.embedders import embedding_key, unit_mean
from edge.identity.gallery import IdentityGallery
from edge.identity.visitors import VisitorMemory
from edge.metrics import Metrics
from edge.mqtt import MqttPublisher
from edge.render import PRIVACY, face_jpeg, render_jpeg
from edge.sources import CaptureThread, LatestFrame
from edge.sqlite import StorageError, StorageReserve
from edge.stream_delay import StreamDelay
from edge.track_crops import TrackCropStore
from edge.types import Event, FaceResult, visitor_id_of
from edge.video import VideoAnalyzer

log = logging.getLogger(__name__)


RETENTION_EVERY_S = 3600.0  # how often old events and face crops are deleted while running
OPEN_TRACKS_EVERY_S = 2.0  # how often the record of tracks on screen is rewritten (crash recovery)


def redact_uri(uri: str) -> str:
    """A source URI without the password it may carry (rtsp://user:pass@host -> rtsp://user:***@host)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}{port}"))


class UnknownTrack(LookupError):
    """No faces are kept for that track."""


class EdgeService:
    """The running service; the HTTP API reads from it."""

    def __init__(self, settings: Settings, load_models: str = "now") -> None:
        """``load_models``: "now" loads every network before returning; "background" returns with detection
        only and loads the rest when :meth:`start` is called, so that the server answers (and ``/health`` says
        how far the loading has got) while TensorRT engines build on a first start."""
        if load_models not in ("now", "background"):
            raise ValueError(f"load_models must be 'now' or 'background', not {load_models!r}")
        self.settings = settings
        self.api_token, self.protect_reads = resolve_access(settings.server)
        self.metrics = Metrics()
        self.storage_problem: Optional[str] = None
        self.reserve = StorageReserve(settings.storage.database, settings.storage.reserve_mb)
        self.events = EventStore(settings.storage.database)
        if not self.reserve.ensure():
            log.warning("no room for the %g MB storage reserve %s", settings.storage.reserve_mb, self.reserve.path)
        self.crops = TrackCropStore(settings.storage.database)
        self.visitors = VisitorMemory(settings.storage.database) if settings.identity.visitor_memory else None
        self._apply_retention()
        self.gallery = IdentityGallery(settings.storage.database)
        self.face_search = FaceSearch(self.events, self.gallery, self.visitors)
        # Held while this service runs, so that `build-engines` does not rebuild (or delete) the engines in use.
        self._cache_lock = hold_cache(Path(settings.storage.cache_dir))
        self.loading = LoadProgress.for_settings(settings)
        self._first_track_id = self.events.max_track_id() + 1
        self._load_in_background = load_models == "background"
        if self._load_in_background:
            self._use(detector_analyzer(settings))  # until start() has loaded the other networks
        else:
            self._use(build_analyzer(settings, self.gallery, self.loading))
        # One broadcaster per overlay; a mode is rendered only while someone watches it (the configured one always).
        self.overlay = settings.render.overlay
        self.broadcasters = {mode: MjpegBroadcaster() for mode in OVERLAYS}
        self.broadcaster = self.broadcasters[self.overlay]
        self._last_shown: Optional[Tuple[np.ndarray, List[FaceResult]]] = None  # (frame, faces) last rendered
        self.slot = LatestFrame()
        s = settings.source
        self.capture = CaptureThread(
            s.uri,
            self.slot,
            s.loop,
            s.realtime,
            s.width,
            s.height,
            s.reconnect_min_s,
            s.reconnect_max_s,
            s.decoder,
            s.codec,
        )
        self._faces: List[FaceResult] = []
        self._faces_frame = 0  # the captured frame the faces were found on
        self._faces_lock = threading.Lock()
        self._analysis_lock = threading.Lock()  # /analyze and the pipeline share the models
        self._pending: Deque[Event] = deque()  # events not stored yet (disk full or read-only)
        self.dropped_events = 0
        self._stop = threading.Event()
        self._lifecycle = threading.Lock()  # the model loader starts the threads only if stop() has not begun
        self._threads = [
            threading.Thread(target=self._analysis_loop, name="analysis", daemon=True),
            threading.Thread(target=self._render_loop, name="render", daemon=True),
        ]
        self._started = self._stopped = False
        self._open_tracks_saved = 0.0
        self.started_at = time.time()
        self.analysis_error: Optional[str] = None
        self.mqtt: Optional[MqttPublisher] = None
        self.mqtt_problem: Optional[str] = None
        if settings.mqtt.enabled:
            try:
                self.mqtt = MqttPublisher(settings.mqtt, settings.camera)
            except (RuntimeError, ValueError, OSError) as exc:
                self.mqtt_problem = str(exc)
                log.error("MQTT is off: %s", exc)

    # lifecycle -------------------------------------------------------------
    def _use(self, analyzer) -> None:
        analyzer.visitors = self.visitors
        analyzer.visitor_threshold = self.settings.identity.visitor_threshold
        self.analyzer = analyzer
        self.video = VideoAnalyzer(analyzer, self.settings, first_track_id=self._first_track_id)

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        if self._load_in_background:
            threading.Thread(target=self._load_then_run, name="models", daemon=True).start()
        else:
            self._run()

    def _load_then_run(self) -> None:
        analyzer = build_analyzer(self.settings, self.gallery, self.loading)
        with self._lifecycle:
            if self._stop.is_set():
                return
            with self._analysis_lock:
                self._use(analyzer)
            self._run()

    def _run(self) -> None:
        try:
            closed = self.events.close_open_tracks(self.settings.camera)
            if closed:
                log.info("closed %d tracks the previous run left open (face.left, closed_by=restart)", len(closed))
        except StorageError as exc:
            self._storage_failed(exc)
        self.capture.start()
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """End every track with face.left, store what is pending, close storage (SIGTERM comes here)."""
        if self._stopped:
            return
        self._stopped = True
        with self._lifecycle:
            self._stop.set()
        self.capture.stop()
        for t in self._threads:
            if t.is_alive():
                t.join(timeout=10)
        if self.capture.is_alive():
            self.capture.join(timeout=5)
        # Under the analysis lock: an analysis step still running after the join's timeout (a slow first
        # TensorRT inference) finishes first, instead of changing the tracker while its tracks are ended.
        with self._analysis_lock:
            left = self.video.finish()
        self._keep_crops()  # before the events: a client that sees a face.left finds that visit's final faces
        self._store(left)  # every face.left, and the emptied record of tracks on screen, at once
        if self._pending:  # not stored: the record still holds them, so the next start closes them
            log.error("%d events could not be stored before exit: %s", len(self._pending), self.storage_problem)
        if self.mqtt is not None:
            self.mqtt.close()
        self.events.close()
        self.crops.close()
        self.gallery.close()
        if self.visitors is not None:
            self.visitors.close()
        if self._cache_lock is not None:
            self._cache_lock.close()

    # state for the API -------------------------------------------------------
    def faces(self) -> List[FaceResult]:
        """The faces on screen: the latest analysis, with the boxes the stream draws on its latest frame."""
        with self._faces_lock:
            faces = [f for f in self._faces if f.found]
        shown = self._last_shown
        if shown is None:
            return faces
        drawn = {f.track_id: f for f in shown[1] if f.found}  # held back, older analyses' places are blur-only
        return [drawn.get(f.track_id, f) for f in faces]

    def source_stale(self) -> bool:
        """No frame for server.stale_after_s (or none yet), while the source is supposed to deliver."""
        if self.capture.finished:
            return False
        age = self.capture.frame_age()
        return age is None or age > self.settings.server.stale_after_s

    def source_problem(self) -> Optional[str]:
        if self.capture.error:
            return self.capture.error
        age = self.capture.frame_age()
        stale = age is None or age > self.settings.server.stale_after_s
        if self.capture.state == "opening" and stale:  # a looping file reopens every pass: not a problem
            since = self.capture.opening_since or time.monotonic()
            return f"opening {redact_uri(self.capture.uri)} ({time.monotonic() - since:.0f} s so far)"
        if age is not None and stale:
            return f"no frame from {redact_uri(self.capture.uri)} for {age:.0f} s"
        return None

    def overlay_for(self, requested: Optional[str]) -> str:
        """The overlay a viewer gets: ``requested`` (default: ``render.overlay``), never less private than set.

        Raises ``PermissionError`` when ``requested`` would show faces the device is set to blur."""
        if requested is None:
            return self.overlay
        if PRIVACY[requested] < PRIVACY[self.overlay]:
            raise PermissionError(
                f"this device is set to render.overlay={self.overlay}; '{requested}' would show faces it blurs"
            )
        return requested

    def current_jpeg(self, overlay: Optional[str] = None) -> Optional[bytes]:
        """The latest frame drawn with ``overlay``, or None when there is none or it is stale."""
        mode = self.overlay_for(overlay)
        if self.source_stale():
            return None
        _, jpeg = self.broadcasters[mode].latest()
        if mode != self.overlay or jpeg is None:  # nobody watches this mode: draw the last frame now
            shown = self._last_shown
            if shown is None:
                return None
            s = self.settings
            jpeg = render_jpeg(
                shown[0], shown[1], s.server.stream_max_side, s.server.jpeg_quality, mode, s.render.blur_margin
            )
        return jpeg

    def analyze_image(self, frame: np.ndarray) -> List[FaceResult]:
        with self._analysis_lock:
            return self.analyzer.analyze_image(frame)

    def enroll(
        self, name: str, images: List[np.ndarray], labels: List[str], face: str = "auto"
    ) -> List[Dict[str, object]]:
        with self._analysis_lock:
            return self.analyzer.enroll(name, images, labels, face)

    def refresh_gauges(self) -> None:
        """Rates that must fall to 0 when frames stop, not keep their last value."""
        self.metrics.set("source_fps", self.capture.fps)
        self.metrics.set("viewers", sum(b.viewers for b in self.broadcasters.values()))
        self.metrics.set("events_pending", len(self._pending))
        self.metrics.set("events_dropped", self.dropped_events)
        if self.source_stale():
            for gauge in ("output_fps", "analysis_fps", "faces"):
                self.metrics.set(gauge, 0.0)

    def health(self) -> Dict[str, object]:
        problems = dict(self.analyzer.problems)
        loaded = self.loading.finished.is_set()
        if not loaded:
            problems["models"] = self.loading.describe()
        if self.mqtt_problem:
            problems["mqtt"] = self.mqtt_problem
        source_problem = self.source_problem() if loaded else None  # the source opens once models are there
        if source_problem:
            problems["source"] = source_problem
        if self.analysis_error:
            problems["analysis"] = self.analysis_error
        storage = [self.storage_problem] if self.storage_problem else []
        if self._pending:
            storage.append(f"{len(self._pending)} events wait in memory to be stored")
        if self.dropped_events:
            storage.append(f"{self.dropped_events} events were dropped (over storage.max_pending_events)")
        if self.reserve.released:
            storage.append("the disk filled up and the storage reserve was released: free space on the data volume")
        if storage:
            problems["storage"] = "; ".join(storage)
        if self.mqtt is not None and not self.mqtt.connected:
            problems["mqtt"] = f"not connected to {self.settings.mqtt.host}:{self.settings.mqtt.port}; retrying"
        index, _ = self.broadcaster.latest()
        ready = index > 0 and not self.source_stale()
        emotion, embedder = self.analyzer.emotion, self.analyzer.embedder
        return {
            # "starting" while networks load (TensorRT engines build on a first start): alive, not yet serving video
            "status": "starting" if not loaded else ("ok" if not problems else "degraded"),
            "ready": ready,
            "source": {
                "uri": redact_uri(self.capture.uri),
                "kind": self.capture.spec.kind,
                "state": self.capture.state if loaded else "waiting for the models",
                "connected": self.capture.healthy and not self.source_stale(),
                "fps": round(self.capture.fps, 2),
                "frames": self.capture.frames,
                "finished": self.capture.finished,
            },
            "models": {
                "detector": "mtcnn",
                "emotion": emotion.model if emotion else None,
                "emotion_precision": emotion.precision if emotion else None,
                "identity": embedder.name if embedder else None,
                "identity_backend": embedder.backend.name if embedder else None,
                "backend": emotion.backend.name if emotion else None,  # the emotion network's
                "loading": None if loaded else self.loading.describe(),
            },
            "auth": {"token": self.api_token is not None, "protect_reads": self.protect_reads},
            "problems": problems,
            "uptime_s": round(time.time() - self.started_at, 1),
        }

    # storage -------------------------------------------------------------------
    def _apply_retention(self) -> None:
        """Delete events and kept face crops older than storage.retention_days (at start, then hourly)."""
        self._retention_at = time.monotonic()
        days = self.settings.storage.retention_days
        try:
            removed = self.events.delete_older_than(days), self.crops.delete_older_than(days)
            if any(removed):
                log.info("retention: deleted %d events and %d face crops older than %g days", *removed, days)
            if self.visitors is not None and self.visitors.delete_older_than(days):
                log.info("retention: forgot visitors not seen for %g days", days)
        except StorageError as exc:  # a read-only or full volume: serve anyway, and say so
            self._storage_failed(exc)

    def _keep_crops(self, events: Sequence[Event] = ()) -> None:
        """Keep the best faces of tracks just announced (their events' thumbnails) and of tracks that left."""
        kept = {e.track_id: self.video.track_crops(e.track_id) for e in events if e.type == "face.appeared"}
        kept.update(self.video.take_left_crops())
        kept = {track_id: crops for track_id, crops in kept.items() if crops}
        if not kept:
            return
        try:
            for track_id, crops in kept.items():
                self.crops.save(self.settings.camera, track_id, crops)
            self.crops.enforce_limit(int(self.settings.storage.max_thumbnail_mb * 1024 * 1024))
        except StorageError as exc:
            self._storage_failed(exc)

    def thumbnail(self, seq: int, max_side: int = 160) -> Optional[bytes]:
        """A JPEG of the best face of event ``seq``'s track (on screen now, or kept), or None."""
        event = self.events.get(seq)
        if event is None:
            return None
        track_id = int(event["track_id"])  # type: ignore[call-overload]
        crops = None
        if event["camera"] == self.settings.camera:
            # No analysis lock: reading a track's kept crops is a list copy, and thumbnails must not wait for
            # a detection step (a page asks for dozens at once).
            crops = self.video.track_crops(track_id)
        crops = crops or self.crops.load(str(event["camera"]), track_id, limit=1)
        if not crops:
            return None
        return face_jpeg(crops[0].crop, max_side)

    def forget_person(self, name: str, redact_events: bool) -> Dict[str, int]:
        """Delete an enrolled person, the face crops of every track named as them, and (optionally) their name
        in the events. Raises ``UnknownIdentity``."""
        tracks = []
        after = 0
        while True:
            page = self.events.query(after, 1000, identity=name)
            tracks += [(str(e["camera"]), int(e["track_id"])) for e in page]  # type: ignore[call-overload]
            if len(page) < 1000:
                break
            after = int(page[-1]["seq"])  # type: ignore[call-overload]
        with self._analysis_lock:
            removed = self.gallery.delete(name)
        crops = self.crops.delete_tracks(tracks)
        redacted = self.events.redact_identity(name) if redact_events else 0
        return {"faces_removed": removed, "crops_removed": crops, "events_redacted": redacted}

    def _track_crops(self, track_id: int) -> List:
        """A track's best crops, on screen now or kept since it left (call with the analysis lock held)."""
        crops = self.video.track_crops(track_id) or self.crops.load(self.settings.camera, track_id)
        if not crops:
            raise UnknownTrack(f"no faces of track {track_id} are kept (not on screen, or past retention)")
        return crops

    def enroll_track(self, name: str, track_id: int, label: Optional[str] = None) -> List[Dict[str, object]]:
        """Enroll ``name`` from a track's best crops: on screen now, or kept since it left. The visitor the
        track was shown as (``label``) is forgotten as a visitor: from now on they are ``name``."""
        with self._analysis_lock:
            enrolled = self.analyzer.enroll_crops(name, self._track_crops(track_id))
        visitor = visitor_id_of(label)
        if visitor is not None and self.visitors is not None:
            self.visitors.forget(visitor)
        return enrolled

    def track_vectors(self, track_id: int):
        """The embeddings of a track's usable kept faces (raises UnknownTrack, ImageError)."""
        with self._analysis_lock:
            return self.analyzer.crop_vectors(self._track_crops(track_id))[1]

    def mark_not(self, label: str, track_id: int) -> int:
        """The faces of ``track_id`` are not ``label`` (a name or visitor-N): stored as corrections so that they
        no longer match them. Returns how many faces were stored; raises UnknownIdentity for an unknown name."""
        faces = self.track_vectors(track_id)
        # Each kept face, and their mean: what a search of this event's face looks with
        vectors = np.vstack([faces, unit_mean(faces)])
        key = embedding_key(self.analyzer.embedder)
        visitor = visitor_id_of(label)
        if visitor is None:
            self.gallery.mark_not(label, vectors, key)
        elif self.visitors is None:
            return 0
        else:
            for vector in vectors:
                self.visitors.mark_not(visitor, vector, key)
        return len(faces)

    def _storage_failed(self, exc: StorageError) -> None:
        if str(exc) != self.storage_problem:
            log.error("%s", exc)
        self.storage_problem = str(exc)
        self.metrics.inc("event_write_errors_total")

    def _store(self, events: List[Event]) -> None:
        """Store events in order. When storage fails they wait in memory (bounded, drops counted) and go
        with the next batch; a full disk first releases the reserve so that storing goes on."""
        # Only events that failed to store wait in _pending (health reports them): the batch in flight does not.
        batch = [*self._pending, *events]
        if not batch:
            return
        # A batch that opens or closes a track rewrites the record of tracks on screen in the same transaction.
        opens_or_closes = any(e.type in ("face.appeared", "face.left") for e in batch)
        open_tracks = OpenTracks(self.settings.camera, self.video.open_track_events()) if opens_or_closes else None
        for attempt in range(2):
            try:
                self.events.append(batch, open_tracks=open_tracks)
            except StorageError as exc:
                if attempt == 0 and exc.kind == "full" and self.reserve.release():
                    log.error("disk full: released the storage reserve %s; free space now", self.reserve.path)
                    continue
                self._storage_failed(exc)
                overflow = max(len(batch) - self.settings.storage.max_pending_events, 0)
                self.dropped_events += overflow
                self._pending = deque(batch[overflow:])
                return
            break
        self._pending.clear()
        if open_tracks is not None:
            self._open_tracks_saved = time.monotonic()
        self.storage_problem = None
        self.metrics.inc("events_total", len(batch))
        if self.mqtt is not None:
            self.mqtt.publish(batch)  # after SQLite: the broker only ever sees stored events

    def _save_open_tracks(self) -> None:
        now = time.monotonic()
        if now - self._open_tracks_saved < OPEN_TRACKS_EVERY_S:
            return
        self._open_tracks_saved = now
        try:
            self.events.save_open_tracks(self.settings.camera, self.video.open_track_events())
        except StorageError as exc:
            self._storage_failed(exc)

    def _end_tracks(self) -> None:
        """The source ended or went silent: every track leaves; nothing stays on screen."""
        left = self.video.finish()
        if left:
            self._keep_crops()
            self._store(left)
        with self._faces_lock:
            self._faces = []

    # threads -------------------------------------------------------------------
    def _analysis_loop(self) -> None:
        seen = 0
        min_period = 1.0 / self.settings.analysis_max_fps
        fps_t0, fps_n = time.monotonic(), 0
        while not self._stop.is_set():
            got = self.slot.get_newer(seen, timeout=0.5)
            if got is None:
                if self.capture.finished or self.source_stale():
                    self._end_tracks()
                if self._pending:
                    self._store([])  # retry what waits
                continue
            index, frame, ts = got
            if seen and index > seen + 1:
                self.metrics.inc("dropped_frames_total", index - seen - 1)
            seen = index
            t0 = time.perf_counter()
            try:
                with self._analysis_lock:
                    faces, events, times = self.video.step(frame, ts)
                self.analysis_error = None
            except Exception as exc:  # a model failure must not kill the service
                log.exception("analysis failed on frame %d", index)
                self.analysis_error = f"{type(exc).__name__}: {exc}"
                continue
            for stage, seconds in times.values.items():
                self.metrics.observe(stage, seconds)
            self.metrics.observe("analysis", time.perf_counter() - t0)
            with self._faces_lock:
                self._faces, self._faces_frame = faces, index
            # The kept faces first: a client that sees an event finds its track's faces as they stay
            self._keep_crops(events)
            self._store(events)
            self._save_open_tracks()  # the face.left each track would get changes as it is seen
            if time.monotonic() - self._retention_at > RETENTION_EVERY_S:
                self._apply_retention()
            self.metrics.set("faces", sum(f.found for f in faces))
            self.metrics.inc("analyzed_frames_total")
            fps_n += 1
            if time.monotonic() - fps_t0 >= 2.0:
                self.metrics.set("analysis_fps", fps_n / (time.monotonic() - fps_t0))
                fps_t0, fps_n = time.monotonic(), 0
            rest = min_period - (time.perf_counter() - t0)
            if rest > 0:
                self._stop.wait(rest)

    def _latest_analysis(self) -> Tuple[List[FaceResult], int]:
        """The faces of the latest analysis and the captured frame they were found on."""
        with self._faces_lock:
            return list(self._faces), self._faces_frame

    def _shown_faces(self, shown: Optional[ShownBoxes], index: int, frame: np.ndarray) -> List[FaceResult]:
        """The latest analysis, its boxes carried onto frame ``index`` (analysis lags a few frames behind)."""
        faces, analysed = self._latest_analysis()
        if shown is None:
            return faces
        if analysed != shown.analysed:
            shown.update({f.track_id: np.array(f.box) for f in faces if f.track_id is not None}, analysed)
        boxes = shown.on_frame(index, frame, (frame.shape[1], frame.shape[0]))
        return [replace(f, box=boxes[f.track_id].tolist()) for f in faces if f.track_id in boxes]

    def _delayed_faces(
        self, delay: StreamDelay, index: int, frame: np.ndarray
    ) -> Optional[Tuple[int, np.ndarray, List[FaceResult]]]:
        """The frame ``delay.hold`` frames back with the faces of the analyses since carried onto it."""
        faces, analysed = self._latest_analysis()
        if analysed != delay.analysed:
            delay.add_analysis(analysed, faces)
        # Only the blur modes blur the earlier analyses' faces too; following those costs the render thread
        # about a tenth of a core. (A blur snapshot of a device set to boxes then blurs the drawn faces.)
        blurring = PRIVACY[self.overlay] > 0 or any(
            PRIVACY[mode] > 0 and broadcaster.viewers for mode, broadcaster in self.broadcasters.items()
        )
        return delay.push(index, frame, blur=blurring)

    def _render_loop(self) -> None:
        seen = 0
        max_side = self.settings.server.stream_max_side
        quality = self.settings.server.jpeg_quality
        hold = self.settings.render.delay_frames
        delay = StreamDelay(hold, scene_cut=self.settings.tracker.scene_cut) if hold else None
        # Drawn live (no delay): boxes carried forward from the latest analysis, or shown as analysed.
        follow_live = delay is None and self.settings.tracker.follow_boxes
        shown = ShownBoxes(scene_cut=self.settings.tracker.scene_cut) if follow_live else None
        times: Dict[int, float] = {}  # capture time of each held frame
        fps_t0, fps_n = time.monotonic(), 0
        while not self._stop.is_set():
            got = self.slot.get_newer(seen, timeout=0.5)
            if got is None:
                continue
            seen, frame, ts = got
            t0 = time.perf_counter()
            if delay is not None:
                times[seen] = ts
                out = self._delayed_faces(delay, seen, frame)
                if out is None:
                    continue
                index, frame, faces = out
                ts = times.pop(index, ts)
                for old in [i for i in times if i < index]:  # frames the slot skipped never come out
                    times.pop(old)
            else:
                faces = self._shown_faces(shown, seen, frame)
            self._last_shown = (frame, faces)
            for mode, broadcaster in self.broadcasters.items():
                if mode == self.overlay or broadcaster.viewers:
                    broadcaster.publish(
                        render_jpeg(frame, faces, max_side, quality, mode, self.settings.render.blur_margin)
                    )
            self.metrics.observe("render", time.perf_counter() - t0)
            self.metrics.observe("capture_to_jpeg", time.time() - ts)
            self.metrics.inc("output_frames_total")
            fps_n += 1
            if time.monotonic() - fps_t0 >= 2.0:
                self.metrics.set("output_fps", fps_n / (time.monotonic() - fps_t0))
                fps_t0, fps_n = time.monotonic(), 0
