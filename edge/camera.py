"""CameraPipeline: one camera's capture, tracking, analysis and held-back stream.

Three threads per camera, so that none waits on another:

- capture: source -> one-slot latest frame, numbered with its shot (``CapturedFrame``: every reader sees the
  same cuts); stale frames are dropped, counted;
- analysis: latest frame -> VideoAnalyzer (this camera's tracks, the shared networks) -> faces on screen, and
  events and kept faces to the shared EventSink;
- render: every captured frame -> the latest analysis, its boxes carried onto this frame (ShownBoxes or the
  StreamDelay) -> one JPEG per overlay watched -> MjpegBroadcaster. The stream keeps the source frame rate when
  analysis is slower, and boxes stay on the faces in between.

The networks are shared by every camera: an analysis step holds ``analysis_lock`` (one step at a time;
/analyze and enrollment take it too), while whole-frame detection runs on the shared DetectionWorker, so that
the analysis follows and tracks every frame meanwhile. A camera that fails, hangs or sends garbage is retried by
its capture thread with backoff and only its own health says so.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Dict, Iterator, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from edge.analyzer import FaceAnalyzer
from edge.box_follow import ShownBoxes
from edge.broadcast import MjpegBroadcaster
from edge.config import OVERLAYS, Settings
from edge.detection_worker import DetectionWorker
from edge.event_sink import EventSink
from edge.events import OpenTracks
from edge.metrics import Metrics
from edge.render import PRIVACY, render_jpeg
from edge.sources import CaptureThread, LatestFrame
from edge.stream_delay import StreamDelay
from edge.types import CapturedFrame, Event, FaceCrop, FaceResult
from edge.video import VideoAnalyzer

log = logging.getLogger(__name__)

OPEN_TRACKS_EVERY_S = 2.0  # how often the record of tracks on screen is rewritten (crash recovery)


@dataclass(frozen=True)
class LatestAnalysis:
    """What the analysis thread hands the render thread: the faces found on captured frame ``frame`` (of shot
    ``shot``), and the captured frame of the worker's detection they took, if any (``StreamDelay.add_analysis``)."""

    faces: List[FaceResult]
    frame: int
    shot: int
    detected_on: Optional[int] = None


def redact_uri(uri: str) -> str:
    """A source URI without the password it may carry (rtsp://user:pass@host -> rtsp://user:***@host)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}{port}"))


class CameraPipeline:
    """One camera: its source, tracks, faces on screen and stream; the networks and storage are shared."""

    def __init__(
        self,
        settings: Settings,
        sink: EventSink,
        metrics: Metrics,
        analysis_lock: threading.Lock,
        track_ids: Iterator[int],
        detection: Optional[DetectionWorker] = None,
    ) -> None:
        """``settings``: this camera's (``Settings.per_camera``); ``track_ids`` and ``detection`` (the detection
        worker, used when ``detector.worker`` is on) are shared by the cameras."""
        self.settings = settings
        self._detection = detection if settings.detector.worker else None
        self.name = settings.camera
        self.sink = sink
        self.metrics = metrics
        self.analysis_lock = analysis_lock
        self._track_ids = track_ids
        # One broadcaster per overlay; a mode is rendered only while someone watches it (the configured one always).
        self.overlay = settings.render.overlay
        self.broadcasters = {mode: MjpegBroadcaster() for mode in OVERLAYS}
        self.broadcaster = self.broadcasters[self.overlay]
        self._last_shown: Optional[Tuple[np.ndarray, List[FaceResult]]] = None  # (frame, faces) last rendered
        # Every frame is numbered and given its shot once, there; the analysis and the stream read the same cuts.
        self.slot = LatestFrame(settings.tracker.scene_cut)
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
        self._analysis = LatestAnalysis([], 0, 0)
        self._faces_lock = threading.Lock()
        self._open_tracks_saved = 0.0
        self.analysis_error: Optional[str] = None
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._analysis_loop, name=f"analysis-{self.name}", daemon=True),
            threading.Thread(target=self._render_loop, name=f"render-{self.name}", daemon=True),
        ]

    def use(self, analyzer: FaceAnalyzer) -> None:
        """Analyse with ``analyzer`` (the shared networks) from now on; call with the analysis lock held."""
        self.video = VideoAnalyzer(analyzer, self.settings, track_ids=self._track_ids, detection=self._detection)

    # lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        """Close what a previous run left open, then open the source and start analysing and rendering."""
        self.sink.close_open_tracks(self.name)
        self.capture.start()
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Stop the threads, then end every track with face.left (stored with the faces they keep)."""
        self._stop.set()
        self.capture.stop()
        for t in self._threads:
            if t.is_alive():
                t.join(timeout=10)
        if self.capture.is_alive():
            self.capture.join(timeout=5)
        # Under the analysis lock: an analysis step still running after the join's timeout (a slow first
        # TensorRT inference) finishes first, instead of changing the tracker while its tracks are ended.
        with self.analysis_lock:
            left = self.video.finish()
        self._hand_over(left)

    # state for the API -----------------------------------------------------------
    def faces(self) -> List[FaceResult]:
        """The faces on screen: the latest analysis, with the boxes the stream draws on its latest frame."""
        with self._faces_lock:
            faces = [f for f in self._analysis.faces if f.found]
        shown = self._last_shown
        if shown is None:
            return faces
        drawn = {f.track_id: f for f in shown[1] if f.found}  # held back, older analyses' places are blur-only
        return [drawn.get(f.track_id, f) for f in faces]

    def track_crops(self, track_id: int) -> Optional[List[FaceCrop]]:
        """The best crops of a track on screen now, or None."""
        return self.video.track_crops(track_id)

    def source_stale(self) -> bool:
        """No frame for server.stale_after_s (or none yet), while the source is supposed to deliver."""
        if self.capture.finished:
            return False
        age = self.capture.frame_age()
        return age is None or age > self.settings.server.stale_after_s

    def source_problem(self) -> Optional[str]:
        """What is wrong with the source, or None."""
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

        Raises ``PermissionError`` when ``requested`` would show faces the camera is set to blur."""
        if requested is None:
            return self.overlay
        if PRIVACY[requested] < PRIVACY[self.overlay]:
            raise PermissionError(
                f"camera {self.name} is set to render.overlay={self.overlay}; '{requested}' would show faces it blurs"
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

    @property
    def viewers(self) -> int:
        return sum(b.viewers for b in self.broadcasters.values())

    def ready(self) -> bool:
        """Frames are coming and the stream has drawn one."""
        index, _ = self.broadcaster.latest()
        return index > 0 and not self.source_stale()

    def refresh_gauges(self) -> None:
        """Rates that must fall to 0 when frames stop, not keep their last value."""
        self.metrics.set("source_fps", self.capture.fps, camera=self.name)
        self.metrics.set("viewers", self.viewers, camera=self.name)
        if self.source_stale():
            for gauge in ("output_fps", "analysis_fps", "faces"):
                self.metrics.set(gauge, 0.0, camera=self.name)

    def source_health(self, loaded: bool) -> Dict[str, object]:
        """The source as /health shows it (``loaded``: the models are there, so the source is open)."""
        return {
            "uri": redact_uri(self.capture.uri),
            "kind": self.capture.spec.kind,
            "state": self.capture.state if loaded else "waiting for the models",
            "connected": self.capture.healthy and not self.source_stale(),
            "fps": round(self.capture.fps, 2),
            "frames": self.capture.frames,
            "finished": self.capture.finished,
        }

    def problems(self, loaded: bool) -> Dict[str, str]:
        """This camera's problems for /health: its source (once the models are there) and its analysis."""
        problems = {}
        source = self.source_problem() if loaded else None  # the source opens once models are there
        if source:
            problems["source"] = source
        if self.analysis_error:
            problems["analysis"] = self.analysis_error
        return problems

    # events ----------------------------------------------------------------------
    def _hand_over(self, events: Sequence[Event]) -> None:
        """Give the sink the faces to keep, then the events: a client that sees an event finds its faces."""
        kept = {e.track_id: self.video.track_crops(e.track_id) for e in events if e.type == "face.appeared"}
        kept.update(self.video.take_left_crops())
        self.sink.keep_crops(self.name, {t: c for t, c in kept.items() if c})
        # A batch that opens or closes a track rewrites the record of tracks on screen in the same transaction.
        opens_or_closes = any(e.type in ("face.appeared", "face.left") for e in events)
        record = OpenTracks(self.name, self.video.open_track_events()) if opens_or_closes else None
        if self.sink.store(list(events), record) and record is not None:
            self._open_tracks_saved = time.monotonic()

    def _save_open_tracks(self) -> None:
        now = time.monotonic()
        if now - self._open_tracks_saved < OPEN_TRACKS_EVERY_S:
            return
        self._open_tracks_saved = now
        self.sink.save_open_tracks(self.name, self.video.open_track_events())

    def _end_tracks(self) -> None:
        """The source ended or went silent: every track leaves; nothing stays on screen."""
        with self.analysis_lock:
            left = self.video.finish()
        if left:
            self._hand_over(left)
        with self._faces_lock:
            self._analysis = replace(self._analysis, faces=[], detected_on=None)

    # threads -----------------------------------------------------------------------
    def _analysis_loop(self) -> None:
        seen = 0
        min_period = 1.0 / self.settings.analysis_max_fps
        fps_t0, fps_n = time.monotonic(), 0
        while not self._stop.is_set():
            got = self.slot.get_newer(seen, timeout=0.5)
            if got is None:
                if self.capture.finished or self.source_stale():
                    self._end_tracks()
                self.sink.retry()
                continue
            index = got.index
            if seen and index > seen + 1:
                self.metrics.inc("dropped_frames_total", index - seen - 1, camera=self.name)
            seen = index
            t0 = time.perf_counter()
            try:
                with self.analysis_lock:
                    faces, events, times = self.video.step(got.image, got.time, got.shot, got.index)
                self.analysis_error = None
            except Exception as exc:  # a model failure must not kill the service
                log.exception("%s: analysis failed on frame %d", self.name, index)
                self.analysis_error = f"{type(exc).__name__}: {exc}"
                continue
            for stage, seconds in times.values.items():
                self.metrics.observe(stage, seconds)
            self.metrics.observe("analysis", time.perf_counter() - t0)
            with self._faces_lock:
                self._analysis = LatestAnalysis(faces, index, got.shot, self.video.detected_on)
            self._hand_over(events)
            self._save_open_tracks()  # the face.left each track would get changes as it is seen
            self.sink.retention_due()
            self.metrics.set("faces", sum(f.found for f in faces), camera=self.name)
            self.metrics.inc("analyzed_frames_total", camera=self.name)
            fps_n += 1
            if time.monotonic() - fps_t0 >= 2.0:
                self.metrics.set("analysis_fps", fps_n / (time.monotonic() - fps_t0), camera=self.name)
                fps_t0, fps_n = time.monotonic(), 0
            rest = min_period - (time.perf_counter() - t0)
            if rest > 0:
                self._stop.wait(rest)

    def _latest_analysis(self) -> LatestAnalysis:
        """The faces of the latest analysis, the captured frame they were found on, its shot and detection."""
        with self._faces_lock:
            return self._analysis

    def _shown_faces(self, shown: Optional[ShownBoxes], frame: CapturedFrame) -> List[FaceResult]:
        """The latest analysis, its boxes carried onto ``frame`` (analysis lags a few frames behind)."""
        latest = self._latest_analysis()
        if shown is None:
            return list(latest.faces)
        if latest.frame != shown.analysed:
            boxes = {f.track_id: np.array(f.box) for f in latest.faces if f.track_id is not None}
            shown.update(boxes, latest.frame, latest.shot)
        boxes = shown.on_frame(frame)
        return [replace(f, box=boxes[f.track_id].tolist()) for f in latest.faces if f.track_id in boxes]

    def _delayed_faces(
        self, delay: StreamDelay, frame: CapturedFrame
    ) -> Optional[Tuple[CapturedFrame, List[FaceResult]]]:
        """The frame ``delay.hold`` frames back with the faces of the analyses since carried onto it."""
        latest = self._latest_analysis()
        if latest.frame != delay.analysed:
            delay.add_analysis(latest.frame, latest.shot, latest.faces, latest.detected_on)
        # Only the blur modes blur the earlier analyses' faces too; following those costs the render thread
        # about a tenth of a core. (A blur snapshot of a camera set to boxes then blurs the drawn faces.)
        blurring = PRIVACY[self.overlay] > 0 or any(
            PRIVACY[mode] > 0 and broadcaster.viewers for mode, broadcaster in self.broadcasters.items()
        )
        return delay.push(frame, blur=blurring)

    def _render_loop(self) -> None:
        seen = 0
        max_side = self.settings.server.stream_max_side
        quality = self.settings.server.jpeg_quality
        hold = self.settings.render.delay_frames
        delay = StreamDelay(hold) if hold else None
        # Drawn live (no delay): boxes carried forward from the latest analysis, or shown as analysed.
        follow_live = delay is None and self.settings.tracker.follow_boxes
        shown = ShownBoxes() if follow_live else None
        fps_t0, fps_n = time.monotonic(), 0
        while not self._stop.is_set():
            got = self.slot.get_newer(seen, timeout=0.5)
            if got is None:
                continue
            seen = got.index
            t0 = time.perf_counter()
            if delay is not None:
                out = self._delayed_faces(delay, got)
                if out is None:
                    continue
                got, faces = out
            else:
                faces = self._shown_faces(shown, got)
            frame, ts = got.image, got.time
            self._last_shown = (frame, faces)
            for mode, broadcaster in self.broadcasters.items():
                if mode == self.overlay or broadcaster.viewers:
                    broadcaster.publish(
                        render_jpeg(frame, faces, max_side, quality, mode, self.settings.render.blur_margin)
                    )
            self.metrics.observe("render", time.perf_counter() - t0)
            self.metrics.observe("capture_to_jpeg", time.time() - ts)
            self.metrics.inc("output_frames_total", camera=self.name)
            fps_n += 1
            if time.monotonic() - fps_t0 >= 2.0:
                self.metrics.set("output_fps", fps_n / (time.monotonic() - fps_t0), camera=self.name)
                fps_t0, fps_n = time.monotonic(), 0
