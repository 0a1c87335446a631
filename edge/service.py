"""EdgeService: wires source, analysis, rendering, events and storage together.

Three threads, so that none waits on another:

- capture: source -> one-slot latest frame (stale frames are dropped, counted);
- analysis: latest frame -> VideoAnalyzer -> faces on screen + events (SQLite);
- render: every captured frame -> boxes of the latest analysis -> one JPEG ->
  MjpegBroadcaster. The stream keeps the source frame rate when analysis is
  slower; boxes follow the tracker.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from edge.analyzer import FaceAnalyzer
from edge.broadcast import MjpegBroadcaster
from edge.config import REPO_ROOT, Settings
from edge.detection import FaceDetector
from edge.emotion import EmotionClassifier
from edge.events import EventStore
from edge.identity.embedders import load_embedder
from edge.identity.gallery import IdentityGallery
from edge.identity.head import IdentityHead
from edge.manifest import ModelError, ModelManifest, seed_models_dir
from edge.metrics import Metrics
from edge.mqtt import MqttPublisher
from edge.render import render_jpeg
from edge.sources import CaptureThread, LatestFrame
from edge.sqlite import StorageError
from edge.types import Event, FaceResult
from edge.video import VideoAnalyzer

log = logging.getLogger(__name__)


def resolve_device(name: str) -> str:
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def build_analyzer(settings: Settings, gallery: Optional[IdentityGallery] = None) -> FaceAnalyzer:
    """Load every model named by ``settings``. A model that cannot load is switched off with the reason
    recorded in ``problems`` (shown by /health and the CLI); detection itself must load."""
    device = resolve_device(settings.device)
    d = settings.detector
    detector = FaceDetector(d.max_side, d.min_face_px, d.thresholds, d.min_score, device=device)
    analyzer = FaceAnalyzer(
        detector=detector,
        threshold=settings.identity.threshold,
        identity_min_face_px=settings.identity.min_face_px,
        photo_max_side=d.photo_max_side,
        photo_min_face_px=d.photo_min_face_px,
    )
    try:
        refreshed = seed_models_dir(Path(settings.models_dir), REPO_ROOT / "models")
        if refreshed:
            log.info("models from this image installed into %s: %s", settings.models_dir, ", ".join(refreshed))
        manifest = ModelManifest(Path(settings.models_dir))
    except OSError as exc:  # a read-only or full models volume
        analyzer.problems["models"] = f"cannot update {settings.models_dir}: {exc}"
        log.error("%s", analyzer.problems["models"])
        return analyzer
    except ModelError as exc:
        analyzer.problems["models"] = str(exc)
        log.error("%s", exc)
        return analyzer
    if settings.emotion.enabled:
        try:
            calibration = settings.emotion.int8_calibration
            analyzer.emotion = EmotionClassifier.from_manifest(
                manifest,
                settings.emotion.model,
                settings.backend,
                device,
                Path(settings.storage.cache_dir),
                Path(calibration) if calibration else None,
                settings.emotion.tta,
            )
        except (ModelError, ValueError, RuntimeError) as exc:
            analyzer.problems["emotion"] = str(exc)
            log.error("emotion is off: %s", exc)
    if settings.identity.enabled:
        try:
            analyzer.embedder = load_embedder(
                manifest, settings.identity.embedder, settings.backend, device, Path(settings.storage.cache_dir)
            )
            analyzer.gallery = gallery or IdentityGallery(settings.storage.database)
            analyzer.sync_gallery()
            if settings.identity.head:
                analyzer.head = IdentityHead.load(Path(settings.identity.head), analyzer.embedder.name)
        except (ModelError, ValueError, StorageError) as exc:
            analyzer.problems["identity"] = str(exc)
            analyzer.embedder = None
            log.error("identity is off: %s", exc)
    return analyzer


class EdgeService:
    """The running service; the HTTP API reads from it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.events = EventStore(settings.storage.database)
        removed = self.events.delete_older_than(settings.storage.retention_days)
        if removed:
            log.info("retention: deleted %d events older than %g days", removed, settings.storage.retention_days)
        self.gallery = IdentityGallery(settings.storage.database)
        self.analyzer = build_analyzer(settings, self.gallery)
        self.video = VideoAnalyzer(self.analyzer, settings, first_track_id=self.events.max_track_id() + 1)
        self.broadcaster = MjpegBroadcaster()
        self.slot = LatestFrame()
        s = settings.source
        self.capture = CaptureThread(
            s.uri, self.slot, s.loop, s.realtime, s.width, s.height, s.reconnect_min_s, s.reconnect_max_s
        )
        self._faces: List[FaceResult] = []
        self._faces_lock = threading.Lock()
        self._analysis_lock = threading.Lock()  # /analyze and the pipeline share the models
        self._unsaved: List[Event] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._analysis_loop, name="analysis", daemon=True),
            threading.Thread(target=self._render_loop, name="render", daemon=True),
        ]
        self.started_at = time.time()
        self.analysis_error: Optional[str] = None
        self.mqtt: Optional[MqttPublisher] = None
        if settings.mqtt.enabled:
            try:
                self.mqtt = MqttPublisher(settings.mqtt, settings.camera)
            except (RuntimeError, ValueError, OSError) as exc:
                self.analyzer.problems["mqtt"] = str(exc)
                log.error("MQTT is off: %s", exc)

    # lifecycle -------------------------------------------------------------
    def start(self) -> None:
        self.capture.start()
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        self.capture.stop()
        for t in self._threads:
            t.join(timeout=10)
        self.capture.join(timeout=5)
        self._store(self.video.finish())
        if self.mqtt is not None:
            self.mqtt.close()
        self.events.close()
        self.gallery.close()

    # state for the API -------------------------------------------------------
    def faces(self) -> List[FaceResult]:
        with self._faces_lock:
            return list(self._faces)

    def analyze_image(self, frame: np.ndarray) -> List[FaceResult]:
        with self._analysis_lock:
            return self.analyzer.analyze_image(frame)

    def enroll(self, name: str, images: List[np.ndarray], labels: List[str]) -> int:
        with self._analysis_lock:
            return self.analyzer.enroll(name, images, labels)

    def health(self) -> Dict[str, object]:
        problems = dict(self.analyzer.problems)
        if self.capture.error:
            problems["source"] = self.capture.error
        if self.analysis_error:
            problems["analysis"] = self.analysis_error
        if self._unsaved:
            problems["storage"] = f"{len(self._unsaved)} events wait to be written (disk full or read-only?)"
        if self.mqtt is not None and not self.mqtt.connected:
            problems["mqtt"] = f"not connected to {self.settings.mqtt.host}:{self.settings.mqtt.port}; retrying"
        index, _ = self.broadcaster.latest()
        return {
            "status": "ok" if not problems else "degraded",
            "ready": index > 0,
            "source": {
                "uri": self.capture.uri,
                "kind": self.capture.spec.kind,
                "connected": self.capture.healthy,
                "fps": round(self.capture.fps, 2),
                "frames": self.capture.frames,
                "finished": self.capture.finished,
            },
            "models": {
                "detector": "mtcnn",
                "emotion": "resnet9" if self.analyzer.emotion else None,
                "identity": self.analyzer.embedder.name if self.analyzer.embedder else None,
                "backend": self.analyzer.emotion.backend.name if self.analyzer.emotion else None,
            },
            "problems": problems,
            "uptime_s": round(time.time() - self.started_at, 1),
        }

    # threads -------------------------------------------------------------------
    def _store(self, events: List[Event]) -> None:
        """Write events; on a storage error keep them and retry with the next batch (nothing is lost)."""
        pending = self._unsaved + list(events)
        if not pending:
            return
        try:
            self.events.append(pending)
            self._unsaved = []
            self.metrics.inc("events_total", len(pending))
            if self.mqtt is not None:
                self.mqtt.publish(pending)  # after SQLite: the broker only ever sees stored events
        except StorageError as exc:
            self._unsaved = pending[-10000:]
            self.metrics.inc("event_write_errors_total")
            log.error("%s", exc)

    def _analysis_loop(self) -> None:
        seen = 0
        min_period = 1.0 / self.settings.analysis_max_fps
        fps_t0, fps_n = time.monotonic(), 0
        while not self._stop.is_set():
            got = self.slot.get_newer(seen, timeout=0.5)
            if got is None:
                if self.capture.finished:
                    self._store(self.video.finish())
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
                self._faces = faces
            self._store(events)
            self.metrics.set("faces", len(faces))
            self.metrics.inc("analyzed_frames_total")
            fps_n += 1
            if time.monotonic() - fps_t0 >= 2.0:
                self.metrics.set("analysis_fps", fps_n / (time.monotonic() - fps_t0))
                fps_t0, fps_n = time.monotonic(), 0
            rest = min_period - (time.perf_counter() - t0)
            if rest > 0:
                self._stop.wait(rest)

    def _render_loop(self) -> None:
        seen = 0
        max_side = self.settings.server.stream_max_side
        quality = self.settings.server.jpeg_quality
        fps_t0, fps_n = time.monotonic(), 0
        while not self._stop.is_set():
            got = self.slot.get_newer(seen, timeout=0.5)
            if got is None:
                continue
            seen, frame, ts = got
            t0 = time.perf_counter()
            self.broadcaster.publish(render_jpeg(frame, self.faces(), max_side, quality))
            self.metrics.observe("render", time.perf_counter() - t0)
            self.metrics.observe("capture_to_jpeg", time.time() - ts)
            self.metrics.inc("output_frames_total")
            self.metrics.set("viewers", self.broadcaster.viewers)
            fps_n += 1
            if time.monotonic() - fps_t0 >= 2.0:
                self.metrics.set("output_fps", fps_n / (time.monotonic() - fps_t0))
                self.metrics.set("source_fps", self.capture.fps)
                fps_t0, fps_n = time.monotonic(), 0
