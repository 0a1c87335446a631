"""State dicts stored compactly: tensors that were uint8-quantized upstream are kept as those uint8 values with
their scale and minimum, and rebuilt exactly (value = q * scale + min, in float32, as the converter computed
them). The face descriptor's weights come from face-api.js's uint8 tensors: stored as float32 they took 4x the
room for no information.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Sequence, Tuple

import numpy as np
import torch

FORMAT = "edge-packed-state/1"


def dequantize(q: np.ndarray, scale: float, minimum: float) -> np.ndarray:
    """The float32 values of uint8 ``q``, computed as the TF.js reader computes them."""
    return q.astype(np.float32) * np.float32(scale) + np.float32(minimum)


def pack(state: Dict[str, torch.Tensor], quantizations: Sequence[Tuple[float, float]]) -> Dict[str, Any]:
    """``state`` with each tensor that one of ``quantizations`` ((scale, min) pairs) rebuilds exactly stored as
    uint8; the others as they are."""
    by_minimum: Dict[np.float32, list] = {}
    for scale, minimum in quantizations:
        by_minimum.setdefault(np.float32(minimum), []).append((scale, minimum))
    tensors: Dict[str, Any] = {}
    for key, tensor in state.items():
        values = tensor.detach().cpu().numpy()
        tensors[key] = tensor
        if values.dtype != np.float32 or values.size == 0:
            continue
        for scale, minimum in by_minimum.get(values.min(), []):
            q = np.rint((values - np.float32(minimum)) / np.float32(scale))
            if q.min() < 0 or q.max() > 255:
                continue
            q = q.astype(np.uint8)
            if np.array_equal(dequantize(q, scale, minimum), values):
                tensors[key] = {"q": torch.from_numpy(q), "scale": float(scale), "min": float(minimum)}
                break
    return {"format": FORMAT, "tensors": tensors}


def unpack(packed: Dict[str, Any]) -> Dict[str, torch.Tensor]:
    """The plain state dict of :func:`pack`'s output."""
    out = {}
    for key, value in packed["tensors"].items():
        if isinstance(value, dict):
            out[key] = torch.from_numpy(dequantize(value["q"].numpy(), value["scale"], value["min"]))
        else:
            out[key] = value
    return out


def load_state(path: Path) -> Dict[str, torch.Tensor]:
    """A state dict from ``path``: a packed one (rebuilt) or a plain ``torch.save`` of one."""
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(loaded, dict) and loaded.get("format") == FORMAT:
        return unpack(loaded)
    return loaded
