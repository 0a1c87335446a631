"""Face embedders: a batch of faces in, L2-normalised vectors out.

Two implementations behind one interface:

- :class:`FaceDescriptorEmbedder`, 128-d, offline: the dlib/face-api.js ResNet
  ported to PyTorch, weights shipped in ``models/``.
- :class:`VggFace2Embedder`, 512-d: facenet-pytorch's InceptionResnetV1 with
  VGGFace2 weights, fetched by ``make models`` (not shipped: 107 MB).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np

from edge.backends import InferenceBackend, ModelSpec, make_backend
from edge.crops import crop_resize, square_box
from edge.identity.align import DLIB_CHIP_150, align_chip
from edge.identity.landmarks import DLIB5_CHIP_150, LANDMARKS, FaceLandmarks5
from edge.manifest import ModelError, ModelManifest, download

try:
    from typing import Protocol
except ImportError:  # pragma: no cover
    from typing_extensions import Protocol  # type: ignore

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Turns faces of an RGB frame into unit-length identity vectors."""

    name: str
    dim: int
    threshold: float  # calibrated cosine similarity for "same person"
    # Least similarity of a face to a track's mean embedding to re-identify it after a scene cut (edge.tracking)
    reid_similarity: float
    # Least similarity of a face to a hidden track's mean embedding to take that track back in the same shot
    # (edge.tracking); under it the face is someone else coming out from behind
    return_similarity: float
    alignment: str  # how chips are cut: results differ by it, so caches and reports name it

    def chips(self, frame_rgb: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray) -> np.ndarray: ...

    def embed_chips(self, chips: np.ndarray) -> np.ndarray: ...


def embedding_key(embedder: Embedder) -> str:
    """What stored embeddings are filed under: the network and how its chips are cut. The same network's
    vectors of differently aligned chips do not compare, so a new alignment re-embeds the gallery."""
    return f"{embedder.name}/{embedder.alignment}"


def l2_normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def unit_mean(vectors: np.ndarray) -> np.ndarray:
    """The mean of unit vectors ``(N, d)``, made unit length again: what several looks at one face say."""
    return l2_normalise(np.asarray(vectors).mean(axis=0, keepdims=True))[0]


class FaceDescriptorEmbedder:
    """128-d descriptors on 150x150 chips aligned like dlib's ``get_face_chip``."""

    name = "face_descriptor_128"
    dim = 128
    size = 150
    # Calibrated with `python -m training evaluate-identity` on the shared photos and demo-video
    # faces (docs/identity.md): this network's unit vectors share a large common component,
    # so strangers still score 0.8-0.93 and the same person 0.94-0.98.
    threshold = 0.94
    # Measured on the annotated videos (bench/data, faces >= 40 px): the mean of a person's earlier embeddings
    # scored >= 0.93 with 97-99% of that person's later faces and 2-12% of other people's (docs/tracking.md).
    reid_similarity = 0.93
    # Same videos, faces every 3rd frame: a person's later faces scored under 0.90 with their own mean in 0.4% of
    # 265 cases, other people's faces in 79% of 1,009 (docs/tracking.md).
    return_similarity = 0.90

    def __init__(self, backend: InferenceBackend, landmarks: Optional[FaceLandmarks5] = None) -> None:
        self.backend = backend
        # dlib's own five points (what the network was trained on); without them, MTCNN's points.
        self.landmarks = landmarks
        self.alignment = "mtcnn-5" if landmarks is None else "dlib-5"

    @classmethod
    def from_manifest(
        cls, manifest: ModelManifest, backend: str = "auto", device: str = "cpu", cache_dir: Optional[Path] = None
    ) -> FaceDescriptorEmbedder:

        from edge.models.face_descriptor import FaceDescriptorNet
        from edge.models.packed_state import load_state

        path = manifest.verified_path(cls.name)

        def build():
            net = FaceDescriptorNet()
            net.load_state_dict(load_state(path))
            return net

        entry = manifest.entry(cls.name)
        spec = ModelSpec(cls.name, entry["sha256"], (3, cls.size, cls.size), build)
        embedder = cls(make_backend(backend, spec, device=device, cache_dir=cache_dir), load_landmarks(manifest))
        # The threshold calibrated on lfw_calib (`python -m training calibrate-identity`), shipped in the manifest.
        embedder.threshold = float((entry.get("calibration") or {}).get("threshold", cls.threshold))
        return embedder

    def chips(self, frame_rgb: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Aligned uint8 RGB chips ``(N, 150, 150, 3)``."""
        if self.landmarks is None:
            out = [align_chip(frame_rgb, lm, DLIB_CHIP_150, self.size) for lm in landmarks]
        else:
            points = [self.landmarks.points(frame_rgb, box) for box in boxes]
            out = [align_chip(frame_rgb, p, DLIB5_CHIP_150, self.size) for p in points]
        return np.stack(out) if out else np.zeros((0, self.size, self.size, 3), np.uint8)

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        batch = chips.astype(np.float32).transpose(0, 3, 1, 2)  # the network takes 0..255 RGB
        return l2_normalise(self.backend(batch))


def load_landmarks(manifest: ModelManifest) -> Optional[FaceLandmarks5]:
    """dlib's 5-point predictor shipped beside the descriptor, or None (then MTCNN's points align, worse)."""
    if LANDMARKS not in manifest.entries:  # a models folder from before the predictor shipped
        log.warning("identity: no %s in %s; aligning on MTCNN's points (fewer faces named)", LANDMARKS, manifest.root)
        return None
    return FaceLandmarks5.load(manifest.verified_path(LANDMARKS))


# Where the five points fall in the 112x112 chips insightface-style networks were trained on (ArcFace's
# template: eyes, nose tip, mouth corners, in MTCNN's order).
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


def scaled_template(template: np.ndarray, size: int, chip: int, zoom: float) -> np.ndarray:
    """``template`` of a ``size`` chip moved into a ``chip`` one, the face shrunk by ``zoom`` about the centre
    (``zoom`` < 1 shows more of the head around the same face)."""
    centre = np.array([size / 2, size / 2])
    return (template - centre) * zoom * chip / size + np.array([chip / 2, chip / 2])


@dataclass(frozen=True)
class GraphEmbedderSpec:
    """How one converted network (:mod:`edge.models.graph_net`) sees a face: its chip and its input scaling."""

    name: str
    size: int
    template: np.ndarray  # where MTCNN's five points go in the chip
    alignment: str
    bgr: bool  # channel order the network was trained on
    mean: Tuple[float, float, float]  # subtracted per channel (in the network's order) ...
    scale: float  # ... then multiplied by this
    threshold: float  # replaced by the manifest's calibration where it has one
    reid_similarity: float
    return_similarity: float


# Preprocessing as measured on the first 75 people of lfw_calib (docs/identity.md, "The networks"): FaceRes
# as the Human library feeds it (RGB 0..255) named 79% at 1% strangers, BGR minus the VGGFace2 channel means
# (how its authors' VGGFace2 models are fed) 95%.
GRAPH_EMBEDDERS: Dict[str, GraphEmbedderSpec] = {
    spec.name: spec
    for spec in (
        GraphEmbedderSpec(
            "faceres",
            224,
            scaled_template(ARCFACE_112, 112, 224, 0.9),
            "arcface-5-wide",
            True,
            (103.939, 116.779, 123.68),
            1.0,
            0.68,
            0.68,
            0.55,
        ),
        # MobileFace normalises inside its graph: RGB 0..255 in.
        GraphEmbedderSpec("mobileface", 112, ARCFACE_112, "arcface-5", False, (0.0, 0.0, 0.0), 1.0, 0.45, 0.45, 0.3),
    )
}


class GraphEmbedder:
    """An identity network converted from TF.js (``python -m training convert-human-identity``), on chips
    aligned from MTCNN's five points onto the template it was trained with."""

    def __init__(self, spec: GraphEmbedderSpec, backend: InferenceBackend, dim: int) -> None:
        self.spec = spec
        self.backend = backend
        self.name = spec.name
        self.dim = dim
        self.size = spec.size
        self.alignment = spec.alignment
        self.threshold = spec.threshold
        self.reid_similarity = spec.reid_similarity
        self.return_similarity = spec.return_similarity

    @staticmethod
    def load_network(path: Path):
        """The :class:`GraphNet` stored at ``path`` (raises ModelError for any other file)."""
        import torch

        from edge.models.graph_net import GraphNet, GraphProgram

        try:
            program = GraphProgram.from_state(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as exc:
            raise ModelError(f"{path} is not a converted identity network: {exc}") from exc
        return GraphNet(program).eval()

    @classmethod
    def from_manifest(
        cls,
        manifest: ModelManifest,
        name: str,
        backend: str = "auto",
        device: str = "cpu",
        cache_dir: Optional[Path] = None,
    ) -> GraphEmbedder:
        spec = GRAPH_EMBEDDERS[name]
        path = manifest.verified_path(name)
        entry = manifest.entry(name)
        model = ModelSpec(name, entry["sha256"], (3, spec.size, spec.size), lambda: cls.load_network(path))
        embedder = cls(spec, make_backend(backend, model, device=device, cache_dir=cache_dir), int(entry["dim"]))
        calibration = entry.get("calibration") or {}
        embedder.threshold = float(calibration.get("threshold", spec.threshold))
        embedder.reid_similarity = float(calibration.get("reid_similarity", spec.reid_similarity))
        embedder.return_similarity = float(calibration.get("return_similarity", spec.return_similarity))
        return embedder

    def chips(self, frame_rgb: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Aligned uint8 RGB chips ``(N, size, size, 3)``."""
        out = [align_chip(frame_rgb, lm, self.spec.template, self.size) for lm in landmarks]
        return np.stack(out) if out else np.zeros((0, self.size, self.size, 3), np.uint8)

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        x = chips[..., ::-1] if self.spec.bgr else chips
        x = (x.astype(np.float32) - np.asarray(self.spec.mean, np.float32)) * np.float32(self.spec.scale)
        return l2_normalise(self.backend(np.ascontiguousarray(x.transpose(0, 3, 1, 2))))


VGGFACE2_URL = "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt"
VGGFACE2_SHA256 = "281cebca8662831adb987a874bdcb36e73f5b1c6dc5ee5878f305e985625d99b"


class VggFace2Embedder:
    """512-d InceptionResnetV1 (VGGFace2) on 160x160 box crops, as facenet-pytorch prepares them."""

    name = "vggface2"
    dim = 512
    alignment = "box"
    size = 160
    # facenet-pytorch's commonly used verification operating point (L2 distance ~1.0 on unit vectors).
    threshold = 0.50
    reid_similarity = 0.50  # not measured here (no weights on this machine): its verification threshold
    return_similarity = 0.30  # not measured here either: well under the verification threshold, a clear stranger

    def __init__(self, backend: InferenceBackend) -> None:
        self.backend = backend

    @staticmethod
    def load_network(path: Path):
        """InceptionResnetV1 with the state_dict at ``path`` (raises ModelError when it does not fit)."""
        import torch
        from facenet_pytorch import InceptionResnetV1

        net = InceptionResnetV1(pretrained=None, classify=False)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            # The released file also holds the VGGFace2 classifier ('logits.*'), not used for embeddings.
            state = {k: v for k, v in state.items() if not k.startswith("logits.")}
            net.load_state_dict(state, strict=True)
        except Exception as exc:
            raise ModelError(f"{path} is not an InceptionResnetV1 state_dict: {exc}") from exc
        return net.eval()

    @classmethod
    def from_manifest(
        cls, manifest: ModelManifest, backend: str = "auto", device: str = "cpu", cache_dir: Optional[Path] = None
    ) -> VggFace2Embedder:
        path = manifest.verified_path(cls.name)
        spec = ModelSpec(
            cls.name, manifest.entry(cls.name)["sha256"], (3, cls.size, cls.size), lambda: cls.load_network(path)
        )
        return cls(make_backend(backend, spec, device=device, cache_dir=cache_dir))

    def chips(self, frame_rgb: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        out = [crop_resize(frame_rgb, square_box(b), self.size) for b in boxes]
        return np.stack(out) if out else np.zeros((0, self.size, self.size, 3), np.uint8)

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        if len(chips) == 0:
            return np.zeros((0, self.dim), np.float32)
        batch = (chips.astype(np.float32).transpose(0, 3, 1, 2) - 127.5) / 128.0  # facenet-pytorch's whitening
        return l2_normalise(self.backend(batch))


def fetch_vggface2(dest: Path, url: str = VGGFACE2_URL, sha256: str = VGGFACE2_SHA256, timeout: float = 60) -> Path:
    """Download the VGGFace2 weights to ``dest`` and check their sha256; an existing good file is kept.

    ``url`` may be a ``file://`` URL (tests, air-gapped installs from a copy).
    """
    try:
        return download(url, dest, sha256, timeout)
    except ModelError as exc:
        raise ModelError(
            f"{exc}. Without these weights the offline 128-d embedder is used; to install them by hand, "
            f"copy the file to {dest} (sha256 {sha256})."
        ) from exc


def load_embedder(
    manifest: ModelManifest,
    kind: str = "auto",
    backend: str = "auto",
    device: str = "cpu",
    cache_dir: Optional[Path] = None,
) -> Optional[Embedder]:
    """The embedder named by ``kind``; ``auto`` prefers VGGFace2 when its weights are present."""
    if kind == "none":
        return None
    if kind in ("auto", "vggface2"):
        try:
            emb = VggFace2Embedder.from_manifest(manifest, backend=backend, device=device, cache_dir=cache_dir)
            log.info("identity: VGGFace2 InceptionResnetV1 (512-d)")
            return emb
        except ModelError as exc:
            if kind == "vggface2":
                raise
            log.info("identity: VGGFace2 weights not available (%s); using the offline 128-d embedder", exc)
    if kind in ("auto", "faceapi", FaceDescriptorEmbedder.name):
        return FaceDescriptorEmbedder.from_manifest(manifest, backend=backend, device=device, cache_dir=cache_dir)
    if kind in GRAPH_EMBEDDERS:
        if kind not in manifest.entries:
            raise ModelError(
                f"identity.embedder={kind}, but {manifest.root} has no {kind} network: convert it with "
                f"`python -m training convert-human-identity --network {kind} --write` (docs/identity.md)"
            )
        return GraphEmbedder.from_manifest(manifest, kind, backend=backend, device=device, cache_dir=cache_dir)
    raise ValueError(f"unknown embedder {kind!r}; use {', '.join(EMBEDDER_CHOICES)}")


EMBEDDER_CHOICES = ("auto", "vggface2", "faceapi", *GRAPH_EMBEDDERS, "none")
