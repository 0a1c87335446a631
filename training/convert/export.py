"""``python -m training export``: every network as ONNX (dynamic batch axis), checked against PyTorch.

The runtime also exports on first use into its cache (:mod:`edge.compile`), so
this command is for inspection, other runtimes and the device build step:
TensorRT engines are built from these files on the Jetson
(``python -m edge build-engines``). The parity check runs real faces through
both: FER2013 faces for the emotion network, aligned chips of a group photo
for the embedders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Tuple

import cv2
import numpy as np
import torch

from edge.backends import OnnxBackend
from edge.compile import export_onnx
from edge.emotion import emotion_network
from edge.manifest import ModelError, ModelManifest
from edge.models.packed_state import load_state
from training.emotion.fer import load_folder


def parity(module: torch.nn.Module, onnx_path: Path, batch: np.ndarray) -> Dict[str, float]:
    """Max absolute difference, top-1 agreement and the lowest cosine similarity between the
    PyTorch and ONNX Runtime outputs on ``batch`` (cosine is the measure that matters for embeddings)."""
    with torch.no_grad():
        ref = module.eval()(torch.from_numpy(batch)).numpy()
    got = OnnxBackend(onnx_path)(batch)
    cos = (ref * got).sum(1) / np.maximum(np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1), 1e-12)
    return {
        "max_abs_diff": float(np.abs(ref - got).max()),
        "top1_agreement": float((ref.argmax(1) == got.argmax(1)).mean()),
        "min_cosine": float(cos.min()),
        "n": len(batch),
    }


def export_and_check(module: torch.nn.Module, batch: np.ndarray, out: Path) -> Dict[str, float]:
    export_onnx(module, tuple(batch.shape[1:]), out)
    return parity(module, out, batch)


def fer_batch(fer_dir: Path, per_class: int = 6) -> np.ndarray:
    """The first ``per_class`` faces of each class folder, as the emotion network's input (N, 1, 48, 48)."""
    faces = load_folder(Path(fer_dir), limit_per_class=per_class)
    return faces.images[:, None].astype(np.float32) / 255.0


def chip_batch(photo: Path, chips: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Every face of ``photo`` cut by ``chips`` (an embedder's), as float NCHW 0..255."""
    from edge.detection import FaceDetector

    img = cv2.imread(str(photo))
    if img is None:
        raise ValueError(f"cannot read {photo}")
    dets = FaceDetector().detect(img)
    if len(dets) == 0:
        raise ValueError(f"no face found in {photo}")
    return (
        chips(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), dets.boxes, dets.landmarks).astype(np.float32).transpose(0, 3, 1, 2)
    )


def networks(models: Path, fer_dir: Path, photo: Path) -> List[Tuple[str, torch.nn.Module, np.ndarray]]:
    """(name, PyTorch module, real input batch) for every network whose weights are installed."""
    from edge.identity.embedders import FaceDescriptorEmbedder, VggFace2Embedder
    from edge.models.face_descriptor import FaceDescriptorNet

    manifest = ModelManifest(models)
    out = []
    out.append(("emotion", emotion_network(manifest, "emotion"), fer_batch(fer_dir)))
    descriptor = FaceDescriptorNet()
    descriptor.load_state_dict(load_state(manifest.verified_path(FaceDescriptorEmbedder.name)))
    out.append((FaceDescriptorEmbedder.name, descriptor, chip_batch(photo, FaceDescriptorEmbedder(None).chips)))
    try:
        vgg = VggFace2Embedder.load_network(manifest.verified_path(VggFace2Embedder.name))
        whitened = (chip_batch(photo, VggFace2Embedder(None).chips) - 127.5) / 128.0
        out.append((VggFace2Embedder.name, vgg, whitened.astype(np.float32)))
    except ModelError:
        pass  # not fetched (no internet here): nothing to export
    return out


def export_all(models: Path, out: Path, fer_dir: Path, photo: Path) -> List[Dict[str, object]]:
    """Write ``out/<name>.onnx`` for every installed network; returns the parity of each."""
    rows = []
    for name, module, batch in networks(models, fer_dir, photo):
        result = export_and_check(module, batch, Path(out) / f"{name}.onnx")
        rows.append({"network": name, "file": str(Path(out) / f"{name}.onnx"), **result})
    return rows


def table(rows: List[Dict[str, object]]) -> str:
    lines = ["| network | faces | max abs diff | top-1 agreement | lowest cosine |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['network']} | {r['n']} | {r['max_abs_diff']:.2e} | {r['top1_agreement']:.3f} | "
            f"{r['min_cosine']:.6f} |"
        )
    return "\n".join(lines)
