"""Convert face-api.js weights (TF.js manifest + .bin) to PyTorch state_dicts: the face recognition network
(the identity stage's descriptor) and the face expression network (an emotion family).

The .bin holds the tensors back to back in manifest order: uint8 for quantized
tensors (value = q * scale + min), float32 otherwise. TF conv filters are
``[kh, kw, in, out]``; PyTorch wants ``[out, in, kh, kw]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import torch

from edge.models.expression_net import FaceExpressionNet
from edge.models.face_descriptor import FaceDescriptorNet
from edge.models.labels import FER2013_CLASSES
from edge.models.packed_state import pack

# face-api.js's expression names, in the order of its network's outputs, and the FER2013 class each one is.
FACEAPI_EXPRESSIONS = {
    "neutral": "neutral",
    "happy": "happy",
    "sad": "sad",
    "angry": "angry",
    "fearful": "fear",
    "disgusted": "disgust",
    "surprised": "surprise",
}


def read_tfjs_weights(manifest_path: Path) -> Dict[str, np.ndarray]:
    """All tensors of a TF.js weights manifest, dequantized to float32."""
    manifest_path = Path(manifest_path)
    return read_tfjs_groups(json.loads(manifest_path.read_text()), manifest_path)


def read_tfjs_groups(groups: List[Dict[str, Any]], manifest_path: Path) -> Dict[str, np.ndarray]:
    """All tensors of TF.js weight groups (a weights manifest, or a ``model.json``'s ``weightsManifest``) whose
    ``.bin`` files sit beside ``manifest_path``, dequantized to float32."""
    tensors: Dict[str, np.ndarray] = {}
    for group in groups:
        blob = b"".join((manifest_path.parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            count = int(np.prod(spec["shape"])) if spec["shape"] else 1
            quant = spec.get("quantization")
            if quant and quant["dtype"] == "uint8":
                raw = np.frombuffer(blob, dtype=np.uint8, count=count, offset=offset)
                values = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
                offset += count
            elif quant and quant["dtype"] == "float16":
                values = np.frombuffer(blob, dtype=np.float16, count=count, offset=offset).astype(np.float32)
                offset += 2 * count
            elif quant:
                raise ValueError(f"{spec['name']}: unsupported quantization {quant['dtype']}")
            elif spec.get("dtype") == "int32":
                values = np.frombuffer(blob, dtype=np.int32, count=count, offset=offset).copy()
                offset += 4 * count
            else:
                values = np.frombuffer(blob, dtype=np.float32, count=count, offset=offset).copy()
                offset += 4 * count
            tensors[spec["name"]] = values.reshape(spec["shape"])
        if offset != len(blob):
            raise ValueError(f"{manifest_path}: read {offset} bytes of {len(blob)}; manifest and .bin disagree")
    return tensors


def _tf_conv(filters: np.ndarray) -> torch.Tensor:
    """A TF conv filter ``[kh, kw, in, out]`` as PyTorch's ``[out, in, kh, kw]``."""
    return torch.from_numpy(filters.transpose(3, 2, 0, 1).copy())


def _conv_scale(prefix_tf: str, prefix_pt: str, t: Dict[str, np.ndarray]) -> Dict[str, torch.Tensor]:
    return {
        f"{prefix_pt}.conv.weight": _tf_conv(t[f"{prefix_tf}/conv/filters"]),
        f"{prefix_pt}.conv.bias": torch.from_numpy(t[f"{prefix_tf}/conv/bias"]),
        f"{prefix_pt}.weight": torch.from_numpy(t[f"{prefix_tf}/scale/weights"]),
        f"{prefix_pt}.bias": torch.from_numpy(t[f"{prefix_tf}/scale/biases"]),
    }


def convert(manifest_path: Path) -> Dict[str, torch.Tensor]:
    """A state_dict for :class:`FaceDescriptorNet`, checked to load strictly."""
    t = read_tfjs_weights(manifest_path)
    state: Dict[str, torch.Tensor] = {}
    state.update(_conv_scale("conv32_down", "conv32_down", t))
    net = FaceDescriptorNet()
    for name in net.blocks:
        state.update(_conv_scale(f"{name}/conv1", f"blocks.{name}.conv1", t))
        state.update(_conv_scale(f"{name}/conv2", f"blocks.{name}.conv2", t))
    state["fc.weight"] = torch.from_numpy(t["fc"].T.copy())
    net.load_state_dict(state, strict=True)
    return {k: v.contiguous().float() for k, v in state.items()}


def convert_expression(manifest_path: Path) -> Dict[str, torch.Tensor]:
    """A state_dict for :class:`FaceExpressionNet`, its outputs in FER2013's class order, checked to load
    strictly; ValueError when the manifest holds another network."""
    t = read_tfjs_weights(manifest_path)
    head = t.get("fc/weights", np.zeros((0, 0)))
    if "dense0/conv0/filters" not in t or head.shape[1:] != (len(FACEAPI_EXPRESSIONS),):
        raise ValueError(f"{manifest_path} is not face-api.js's face expression network (face_expression_model)")
    state: Dict[str, torch.Tensor] = {
        "dense0.conv0.depthwise.weight": _tf_conv(t["dense0/conv0/filters"]),
        "dense0.conv0.depthwise.bias": torch.from_numpy(t["dense0/conv0/bias"]),
    }
    for block in ("dense0", "dense1", "dense2", "dense3"):
        for conv in ("conv1", "conv2", "conv3") if block == "dense0" else ("conv0", "conv1", "conv2", "conv3"):
            tf, pt = f"{block}/{conv}", f"{block}.{conv}"
            # depthwise [kh, kw, in, 1] -> [in, 1, kh, kw]
            state[f"{pt}.depthwise.weight"] = torch.from_numpy(t[f"{tf}/depthwise_filter"].transpose(2, 3, 0, 1).copy())
            state[f"{pt}.pointwise.weight"] = _tf_conv(t[f"{tf}/pointwise_filter"])
            state[f"{pt}.pointwise.bias"] = torch.from_numpy(t[f"{tf}/bias"])
    order = [list(FACEAPI_EXPRESSIONS.values()).index(name) for name in FER2013_CLASSES]
    state["classifier.3.weight"] = torch.from_numpy(head.T[order].copy())
    state["classifier.3.bias"] = torch.from_numpy(t["fc/bias"][order].copy())
    FaceExpressionNet().load_state_dict(state, strict=True)
    return {k: v.contiguous().float() for k, v in state.items()}


def main(manifest: Path, out: Path, expression: bool = False) -> Path:
    """Convert ``manifest`` (the recognition network, or with ``expression`` the expression network) to
    ``out``."""
    state = convert_expression(manifest) if expression else convert(manifest)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not expression:  # the descriptor ships: its tensors as the uint8 values they came from (4x smaller)
        state = pack(state, quantizations(Path(manifest)))
    torch.save(state, out)
    return out


def quantizations(manifest_path: Path) -> List[Tuple[float, float]]:
    """The (scale, min) of every uint8-quantized tensor of a TF.js weights manifest."""
    groups = json.loads(Path(manifest_path).read_text())
    return [
        (float(w["quantization"]["scale"]), float(w["quantization"]["min"]))
        for g in groups
        for w in g["weights"]
        if (w.get("quantization") or {}).get("dtype") == "uint8"
    ]
