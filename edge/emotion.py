"""EmotionClassifier: the emotion network (any family of edge.models.emotion_net) behind an inference backend."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional, Sequence

import cv2
import numpy as np

from edge.backends import InferenceBackend, ModelSpec, make_backend
from edge.config import TTA_MODES
from edge.crops import IMAGE_SUFFIXES, crop_resize, square_box
from edge.manifest import ModelError, ModelManifest, int8_entry_name

log = logging.getLogger(__name__)

INPUT_SIZE = 48


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def probabilities(view_logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Mean over the views of softmax(logits / temperature): ``(views, N, C)`` -> ``(N, C)``."""
    views, n, c = view_logits.shape
    return softmax(view_logits.reshape(views * n, c) / temperature).reshape(views, n, c).mean(axis=0)


def check_tta(mode: str) -> str:
    """``mode`` if it names test-time views, else a ValueError that lists them."""
    if mode not in TTA_MODES:
        raise ValueError(f"unknown test-time augmentation {mode!r}; use one of {TTA_MODES}")
    return mode


def tta_views(faces: np.ndarray, mode: str) -> List[np.ndarray]:
    """The views of a face batch ``(N, 1, 48, 48)`` whose softmax outputs are averaged.

    ``none``: the faces; ``flip``: and their mirror images; ``zoom``: the faces, a 44 px centre
    crop and the faces padded by 2 px (edge pixels), both scaled back to 48, and the mirrors of
    all three. One function for the live classifier and the evaluation, so the accuracy in the
    manifest is the accuracy of what runs.
    """
    check_tta(mode)
    views = [faces]
    if mode == "zoom" and len(faces):
        views.append(_resize_faces(faces[:, :, 2:-2, 2:-2]))
        views.append(_resize_faces(np.pad(faces, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="edge")))
    if mode != "none":
        views += [np.ascontiguousarray(v[..., ::-1]) for v in views]
    return views


def _resize_faces(faces: np.ndarray) -> np.ndarray:
    return np.stack([cv2.resize(f[0], (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR) for f in faces])[
        :, None
    ]


def calibration_faces(folder: Path, limit: int = 512) -> np.ndarray:
    """Up to ``limit`` face images under ``folder`` (any depth, spread evenly over the sorted list, so
    every class folder contributes) as the network's input ``(N, 1, 48, 48)``."""
    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"no face images under {folder} for INT8 calibration (emotion.int8_calibration)")
    step = max(1, len(paths) // limit)
    faces = []
    for p in paths[::step][:limit]:
        img = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        if img is not None:
            faces.append(cv2.resize(img, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA))
    if not faces:
        raise ValueError(f"none of the images under {folder} could be read")
    return np.stack(faces)[:, None].astype(np.float32) / 255.0


def network_entry(manifest: ModelManifest, name: str) -> str:
    """The entry whose network ``name`` runs: ``name`` itself, or for a derived entry (``derived_from``: a model
    that reads a subset of another's classes, such as ``emotion5``) the entry it was derived from, after checking
    that it still holds the weights the derived entry was measured on."""
    entry = manifest.entry(name)
    source = entry.get("derived_from")
    if source is None:
        return name
    if manifest.entry(source)["sha256"] != entry["sha256"]:
        raise ModelError(
            f"{name!r} was derived from other weights than {source!r} holds now: run `python -m training "
            f"derive-emotion5` to derive it from the weights that ship"
        )
    return source


def kept_logits(manifest: ModelManifest, name: str) -> Optional[List[int]]:
    """For a derived entry, the positions of its classes among its source network's outputs: the softmax over
    those logits is the source's distribution given that the face shows one of them. None for any other entry."""
    source = network_entry(manifest, name)
    if source == name:
        return None
    classes = manifest.entry(source)["classes"]
    return [classes.index(c) for c in manifest.entry(name)["classes"]]


def emotion_network(manifest: ModelManifest, name: str = "emotion"):
    """The PyTorch network of manifest entry ``name`` (one network or an average of several,
    edge.models.emotion_net), its checksum verified and its weights loaded."""
    import torch

    from edge.models.emotion_net import emotion_net_from_state

    entry = manifest.entry(name)
    path = manifest.verified_path(name)
    try:
        model = emotion_net_from_state(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as exc:  # not a weights file, or another network's
        raise ValueError(f"{path} is not the emotion network manifest entry {name!r} describes: {exc}") from exc
    if model.num_classes != len(entry["classes"]):
        raise ValueError(
            f"{path} predicts {model.num_classes} classes but manifest entry {name!r} lists {len(entry['classes'])}"
        )
    return model


def quantized_file(manifest: ModelManifest, name: str) -> Optional[Path]:
    """The INT8 ONNX file quantized from exactly the weights entry ``name`` holds, verified; None (and a log
    line saying how to mend it) when there is none, it was quantized from other weights or fails its check."""
    key = int8_entry_name(name)
    if key not in manifest.entries:
        return None
    fix = f"run `python -m training quantize-emotion --name {name}` to quantize the weights that ship"
    if manifest.entries[key].get("quantized_from") != manifest.entry(name)["sha256"]:
        log.warning("%s was quantized from other weights than %s's: the float network runs; %s", key, name, fix)
        return None
    try:
        return manifest.verified_path(key)
    except ModelError as exc:
        log.warning("%s: the float network runs; %s", exc, fix)
        return None


class EmotionClassifier:
    """Face boxes in a frame -> emotion probabilities ``(N, len(classes))``.

    Input spec (from the manifest): 48x48 gray, float in [0, 1]; the outputs are
    averaged over the views of :func:`tta_views` (the manifest's ``tta_mode``, as in
    the evaluation that the shipped accuracy comes from, unless ``tta`` says otherwise).
    """

    def __init__(
        self,
        backend: InferenceBackend,
        classes: Sequence[str],
        tta: str = "flip",
        temperature: float = 1.0,
        uncertain_below: float = 0.0,
        model: str = "",
        logits: Optional[Sequence[int]] = None,
    ) -> None:
        self.backend = backend
        # The network's outputs this model reads (a derived model's classes among its source's), else all.
        self.logits = None if logits is None else np.asarray(logits, np.intp)
        self.model = model  # the weights file it runs, named by /health
        self.classes: List[str] = list(classes)
        self.tta = check_tta(tta)
        # Logits are divided by this before the softmax (temperature scaling, fitted on PublicTest by
        # `python -m training calibrate-emotion`), so that a 0.6 means right about 60% of the time.
        self.temperature = float(temperature)
        # A smoothed top probability under this is shown as uncertain ("?"), with no emotion.changed event.
        self.uncertain_below = float(uncertain_below)

    @classmethod
    def from_manifest(
        cls,
        manifest: ModelManifest,
        name: str = "emotion",
        backend: str = "auto",
        device: str = "cpu",
        cache_dir: Optional[Path] = None,
        int8_calibration: Optional[Path] = None,
        tta: Optional[str] = None,
        cpu_int8: bool = True,
    ) -> EmotionClassifier:
        """The classifier of manifest entry ``name``, on the backend ``make_backend`` picks; with ``cpu_int8``,
        ONNX Runtime on the CPU runs the entry's INT8 network where one matches the weights."""
        entry = manifest.entry(name)
        source = network_entry(manifest, name)  # a derived entry runs its source's network (and INT8, engine)
        manifest.verified_path(source)  # refuse a missing or corrupt file now, not at the first face

        calibrate = (lambda: calibration_faces(int8_calibration)) if int8_calibration else None
        spec = ModelSpec(
            source,
            entry["sha256"],
            (1, INPUT_SIZE, INPUT_SIZE),
            lambda: emotion_network(manifest, source),
            calibrate,
            onnx_int8=(lambda: quantized_file(manifest, source)) if cpu_int8 else None,
        )
        mode = tta or entry["input"].get("tta_mode", "flip")
        calibration = entry.get("calibration") or {}
        return cls(
            make_backend(backend, spec, device=device, cache_dir=cache_dir),
            entry["classes"],
            mode,
            temperature=calibration.get("temperature", 1.0),
            uncertain_below=calibration.get("uncertain_below", 0.0),
            model=entry["file"],
            logits=kept_logits(manifest, name),
        )

    @property
    def precision(self) -> str:
        """What the network runs in: fp32, fp16 or int8."""
        return self.backend.precision

    def crops(self, frame_bgr: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Gray 48x48 crops as a float batch ``(N, 1, 48, 48)`` in [0, 1]."""
        gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        faces = [crop_resize(gray, square_box(b), INPUT_SIZE) for b in boxes]
        return (np.stack(faces)[:, None].astype(np.float32) / 255.0) if faces else np.zeros((0, 1, 48, 48), np.float32)

    def view_logits(self, faces: np.ndarray) -> np.ndarray:
        """Raw logits ``(views, N, classes)`` of a prepared batch ``(N, 1, 48, 48)``, every view in one call."""
        views = tta_views(faces, self.tta)
        logits = self.backend(np.concatenate(views)).reshape(len(views), len(faces), -1)
        return logits if self.logits is None else logits[..., self.logits]

    def predict(self, faces: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for a prepared batch ``(N, 1, 48, 48)`` (the mean over the views)."""
        if len(faces) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        return probabilities(self.view_logits(faces), self.temperature)

    def classify(self, frame_bgr: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """All faces of a frame in one batch."""
        return self.predict(self.crops(frame_bgr, boxes))
