"""ONNX parity: an exported network checked against PyTorch on real faces (used by the test suite).

The runtime exports the ONNX files itself on first use into its cache
(:mod:`edge.compile`); ``publish-emotion`` writes one next to retrained weights.
TensorRT engines are built from them on the device (``python -m edge build-engines``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import numpy as np
import torch

from edge.backends import OnnxBackend
from edge.compile import export_onnx


def parity(module: torch.nn.Module, onnx_path: Path, batch: np.ndarray) -> Dict[str, float]:
    """Max absolute difference and top-1 agreement between PyTorch and ONNX Runtime on ``batch``."""
    with torch.no_grad():
        ref = module.eval()(torch.from_numpy(batch)).numpy()
    got = OnnxBackend(onnx_path)(batch)
    return {
        "max_abs_diff": float(np.abs(ref - got).max()),
        "top1_agreement": float((ref.argmax(1) == got.argmax(1)).mean()),
        "n": len(batch),
    }


def export_and_check(module: torch.nn.Module, batch: np.ndarray, out: Path) -> Dict[str, float]:
    export_onnx(module, tuple(batch.shape[1:]), out)
    return parity(module, out, batch)
