"""EdgeService: builds the shared parts (models, gallery, visitor memory, event sink) and one CameraPipeline per
camera, and is what the HTTP API reads from and writes to. Each camera's threads are described in edge.camera;
storage, retention and MQTT in edge.event_sink.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from edge.access_token import resolve_access
from edge.bootstrap import LoadProgress, build_analyzer, detector_analyzer
from edge.camera import CameraPipeline
from edge.compile import hold_cache
from edge.config import Settings
from edge.detection_worker import DetectionWorker
from edge.event_sink import EventSink
from edge.face_search import FaceSearch
from edge.identity.embedders import embedding_key, unit_mean
from edge.identity.gallery import IdentityGallery
from edge.identity.visitors import VisitorMemory
from edge.metrics import Metrics
from edge.render import face_jpeg
from edge.types import FaceCrop, FaceResult, visitor_id_of

log = logging.getLogger(__name__)


class UnknownTrack(LookupError):
    """No faces are kept for that track."""


class UnknownCamera(LookupError):
    """No camera of that name."""


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
        per_camera = settings.per_camera()
        self.visitors = VisitorMemory(settings.storage.database) if settings.identity.visitor_memory else None
        self.sink = EventSink(settings, self.metrics, [c.camera for c in per_camera], self.visitors)
        self.events, self.crops = self.sink.events, self.sink.crops
        self.gallery = IdentityGallery(settings.storage.database)
        self.face_search = FaceSearch(self.events, self.gallery, self.visitors)
        # Held while this service runs, so that `build-engines` does not rebuild (or delete) the engines in use.
        self._cache_lock = hold_cache(Path(settings.storage.cache_dir))
        self.loading = LoadProgress.for_settings(settings)
        self._analysis_lock = threading.Lock()  # the cameras, /analyze and enrollment share the networks
        track_ids = itertools.count(self.events.max_track_id() + 1)  # one sequence: an id names one track
        self.detection = DetectionWorker()  # one for every camera: detection's CPU share does not grow with them
        self.cameras: Dict[str, CameraPipeline] = {
            c.camera: CameraPipeline(c, self.sink, self.metrics, self._analysis_lock, track_ids, self.detection)
            for c in per_camera
        }
        self.camera = next(iter(self.cameras.values()))  # what the camera-less paths (/stream.mjpg ...) serve
        self._load_in_background = load_models == "background"
        if self._load_in_background:
            self._use(detector_analyzer(settings))  # until start() has loaded the other networks
        else:
            self._use(build_analyzer(settings, self.gallery, self.loading))
        self._stop = threading.Event()
        self._lifecycle = threading.Lock()  # the model loader starts the cameras only if stop() has not begun
        self._started = self._stopped = False
        self.started_at = time.time()

    # lifecycle -------------------------------------------------------------
    def _use(self, analyzer) -> None:
        analyzer.visitors = self.visitors
        analyzer.visitor_threshold = self.settings.identity.visitor_threshold
        self.analyzer = analyzer
        for camera in self.cameras.values():
            camera.use(analyzer)

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
        for camera in self.cameras.values():
            camera.start()

    def stop(self) -> None:
        """End every track with face.left, store what is pending, close storage (SIGTERM comes here)."""
        if self._stopped:
            return
        self._stopped = True
        with self._lifecycle:
            self._stop.set()
        for camera in self.cameras.values():
            camera.stop()
        self.detection.close()
        self.sink.close()
        self.gallery.close()
        if self.visitors is not None:
            self.visitors.close()
        if self._cache_lock is not None:
            self._cache_lock.close()

    # state for the API -------------------------------------------------------
    def camera_named(self, name: Optional[str]) -> CameraPipeline:
        """The camera ``name`` (None: the first). Raises ``UnknownCamera``."""
        if name is None:
            return self.camera
        camera = self.cameras.get(name)
        if camera is None:
            raise UnknownCamera(f"no camera {name!r}; the cameras are {', '.join(self.cameras)}")
        return camera

    def faces(self, camera: Optional[str] = None) -> List[FaceResult]:
        """The faces on screen (of one camera, or of all), with the boxes each stream draws on its latest frame."""
        cameras = self.cameras.values() if camera is None else [self.camera_named(camera)]
        return [face for c in cameras for face in c.faces()]

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
        for camera in self.cameras.values():
            camera.refresh_gauges()
        self.metrics.set("events_pending", self.sink.pending)
        self.metrics.set("events_dropped", self.sink.dropped_events)

    def camera_states(self) -> List[Dict[str, object]]:
        """Each camera: name, whether it serves video, its overlay, its source and its own problems."""
        loaded = self.loading.finished.is_set()
        return [
            {
                "name": name,
                "ready": camera.ready(),
                "overlay": camera.overlay,
                "source": camera.source_health(loaded),
                "problems": camera.problems(loaded),
            }
            for name, camera in self.cameras.items()
        ]

    def health(self) -> Dict[str, object]:
        """Each part's own problems, the first camera's source (and every camera's), the models, the access."""
        problems = dict(self.analyzer.problems)
        loaded = self.loading.finished.is_set()
        if not loaded:
            problems["models"] = self.loading.describe()
        cameras = self.camera_states()
        for camera in cameras:
            # One camera: its problems under "source" and "analysis"; several: "source:door", ...
            own = camera["problems"].items()
            problems.update({(k if len(cameras) == 1 else f"{k}:{camera['name']}"): v for k, v in own})
        problems.update(self.sink.problems())
        emotion, embedder = self.analyzer.emotion, self.analyzer.embedder
        return {
            # "starting" while networks load (TensorRT engines build on a first start): alive, not yet serving video
            "status": "starting" if not loaded else ("ok" if not problems else "degraded"),
            "ready": any(c["ready"] for c in cameras),  # serving video; a failed camera shows in its own entry
            "source": cameras[0]["source"],
            "cameras": cameras,
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

    # faces kept, and what they are not ---------------------------------------------
    def thumbnail(self, seq: int, max_side: int = 160) -> Optional[bytes]:
        """A JPEG of the best face of event ``seq``'s track (on screen now, or kept), or None."""
        event = self.events.get(seq)
        if event is None:
            return None
        crops = self._crops_of(int(event["track_id"]), str(event["camera"]), limit=1)  # type: ignore[call-overload]
        return face_jpeg(crops[0].crop, max_side) if crops else None

    def _crops_of(self, track_id: int, camera: Optional[str] = None, limit: int = 1 << 30) -> List[FaceCrop]:
        """A track's best crops: on screen now, or kept since it left (of ``camera``, or of any camera)."""
        for name in [camera] if camera else list(self.cameras):
            # No analysis lock: reading a track's kept crops is a list copy, and thumbnails must not wait for
            # a detection step (a page asks for dozens at once).
            live = self.cameras[name].track_crops(track_id) if name in self.cameras else None
            crops = live[:limit] if live else self.crops.load(name, track_id, limit=limit)
            if crops:
                return crops
        return []

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

    def _track_crops(self, track_id: int) -> List[FaceCrop]:
        """A track's best crops, or UnknownTrack (call with the analysis lock held)."""
        crops = self._crops_of(track_id)
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
