"""Building the models a service runs, with what failed and how far it has got.

Detection (MTCNN on PyTorch) loads in a second; the emotion and identity networks may take minutes the
first time on a Jetson, where each becomes a TensorRT engine. :class:`LoadProgress` says which network is
being built so that ``/health`` and the web app can show it while the server already answers. A network
that cannot load is switched off with its reason in ``FaceAnalyzer.problems``; only detection must load.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import List, Optional

from edge.analyzer import FaceAnalyzer
from edge.backends import chooses_tensorrt
from edge.config import REPO_ROOT, Settings
from edge.detection import FaceDetector
from edge.emotion import EmotionClassifier
from edge.identity.embedders import FaceDescriptorEmbedder, embedding_key, load_embedder
from edge.identity.gallery import IdentityGallery
from edge.identity.head import IdentityHead
from edge.image_check import image_problems, on_jetson
from edge.manifest import ModelError, ModelManifest, seed_models_dir
from edge.sqlite import StorageError

log = logging.getLogger(__name__)


def resolve_device(name: str) -> str:
    """``auto`` is CUDA where torch sees a GPU, else the CPU."""
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class LoadProgress:
    """Which of the networks to load is being loaded now; read by ``/health`` from other threads."""

    def __init__(self, names: List[str], builds_engines: bool) -> None:
        self.names = names
        self.builds_engines = builds_engines  # TensorRT: the first start compiles each network (minutes)
        self.done = 0
        self.current: Optional[str] = None
        self.finished = threading.Event()

    def begin(self, name: str) -> None:
        self.current = name
        log.info("%s", self.describe())

    def end(self) -> None:
        self.done += 1
        self.current = None

    def finish(self) -> None:
        self.current = None
        self.finished.set()

    def describe(self) -> str:
        """E.g. 'building TensorRT engines (1 of 2: emotion; first start only, minutes each)'."""
        if self.finished.is_set():
            return "models loaded"
        what = "building TensorRT engines" if self.builds_engines else "loading models"
        step = min(self.done + 1, max(len(self.names), 1))
        now = f": {self.current}" if self.current else ""
        tail = "; first start only, minutes each" if self.builds_engines else ""
        return f"{what} ({step} of {len(self.names)}{now}{tail})"

    @classmethod
    def for_settings(cls, settings: Settings) -> LoadProgress:
        names = [n for n, on in (("emotion", settings.emotion.enabled), ("identity", settings.identity.enabled)) if on]
        return cls(names, chooses_tensorrt(settings.backend, resolve_device(settings.device)))


def detector_analyzer(settings: Settings) -> FaceAnalyzer:
    """An analyzer with detection only (fast): what runs while the other networks load."""
    d = settings.detector
    return FaceAnalyzer(
        detector=FaceDetector.from_config(d, resolve_device(settings.device)),
        threshold=settings.identity.threshold,
        identity_min_face_px=settings.identity.min_face_px,
        photo_max_side=d.photo_max_side,
        photo_min_face_px=d.photo_min_face_px,
    )


def build_analyzer(
    settings: Settings, gallery: Optional[IdentityGallery] = None, progress: Optional[LoadProgress] = None
) -> FaceAnalyzer:
    """Load every model named by ``settings``. A model that cannot load is switched off with the reason
    recorded in ``problems`` (shown by /health and the CLI); detection itself must load."""
    progress = progress or LoadProgress.for_settings(settings)
    analyzer = detector_analyzer(settings)
    try:
        if on_jetson():  # what the image build could not check: TensorRT's libraries and the GPU
            problems = image_problems(runtime=True)
            if problems:
                analyzer.problems["image"] = " ".join(problems)
        manifest = _models(settings, analyzer)
        if manifest is not None and settings.emotion.enabled:
            progress.begin("emotion")
            _load_emotion(settings, manifest, analyzer)
            progress.end()
        if manifest is not None and settings.identity.enabled:
            progress.begin("identity")
            _load_identity(settings, manifest, analyzer, gallery)
            progress.end()
    finally:
        progress.finish()
    return analyzer


def _models(settings: Settings, analyzer: FaceAnalyzer) -> Optional[ModelManifest]:
    try:
        refreshed = seed_models_dir(Path(settings.models_dir), REPO_ROOT / "models")
        if refreshed:
            log.info("models from this image installed into %s: %s", settings.models_dir, ", ".join(refreshed))
        return ModelManifest(Path(settings.models_dir))
    except OSError as exc:  # a read-only or full models volume
        analyzer.problems["models"] = f"cannot update {settings.models_dir}: {exc}"
    except ModelError as exc:
        analyzer.problems["models"] = str(exc)
    log.error("%s", analyzer.problems["models"])
    return None


def _load_emotion(settings: Settings, manifest: ModelManifest, analyzer: FaceAnalyzer) -> None:
    e = settings.emotion
    try:
        analyzer.emotion = EmotionClassifier.from_manifest(
            manifest,
            e.model,
            settings.backend,
            resolve_device(settings.device),
            Path(settings.storage.cache_dir),
            Path(e.int8_calibration) if e.int8_calibration else None,
            e.tta,
            e.cpu_int8,
        )
    except Exception as exc:  # a failed engine build (parse, out of memory) must not stop the service
        analyzer.problems["emotion"] = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ModelError) else str(exc)
        log.error("emotion is off: %s", exc)


def _load_identity(
    settings: Settings, manifest: ModelManifest, analyzer: FaceAnalyzer, gallery: Optional[IdentityGallery]
) -> None:
    i = settings.identity
    device, cache = resolve_device(settings.device), Path(settings.storage.cache_dir)
    try:
        analyzer.embedder = load_embedder(manifest, i.embedder, settings.backend, device, cache)
    except (ModelError, ValueError) as exc:  # the configured network is missing, corrupt or unknown
        analyzer.problems["identity"] = str(exc)
        log.error("identity is off: %s", exc)
        return
    except Exception as exc:  # its weights are there but it failed to build (e.g. a TensorRT engine)
        reason = f"{i.embedder} failed to load ({type(exc).__name__}: {exc})"
        log.exception("%s", reason)
        try:
            analyzer.embedder = FaceDescriptorEmbedder.from_manifest(
                manifest, backend=settings.backend, device=device, cache_dir=cache
            )
        except Exception as fallback_exc:
            analyzer.problems["identity"] = f"{reason}; the offline embedder failed too: {fallback_exc}"
            log.error("identity is off: %s", analyzer.problems["identity"])
            return
        analyzer.problems["identity"] = f"{reason}; running the offline 128-d descriptor instead"
    try:
        analyzer.gallery = gallery or IdentityGallery(settings.storage.database)
        analyzer.sync_gallery()
    except (ModelError, ValueError, StorageError) as exc:
        analyzer.problems["identity"] = str(exc)
        analyzer.embedder = None
        log.error("identity is off: %s", exc)
        return
    if i.head:
        try:
            analyzer.head = IdentityHead.load(Path(i.head), embedding_key(analyzer.embedder))
        except ModelError as exc:  # the gallery still names enrolled people
            analyzer.problems["identity_head"] = f"{exc}; the gallery names faces meanwhile"
            log.error("identity head refused: %s", exc)
