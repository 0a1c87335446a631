"""Inference backends: a batch in, a batch out.

Every backend implements :class:`InferenceBackend`; the rest of the code never
knows which one runs. Jetson-only packages (tensorrt) are imported lazily and
their absence is never an error elsewhere.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np

try:  # Python 3.8 has Protocol in typing
    from typing import Protocol
except ImportError:  # pragma: no cover
    from typing_extensions import Protocol  # type: ignore

log = logging.getLogger(__name__)


class InferenceBackend(Protocol):
    """A compiled network: float32 ``(N, ...)`` in, float32 ``(N, ...)`` out."""

    name: str

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


class TorchBackend:
    """PyTorch eager on CPU or CUDA (fp16 on CUDA)."""

    name = "torch"

    def __init__(self, module, device: str = "cpu", fp16: Optional[bool] = None) -> None:
        import torch

        torch.set_flush_denormal(True)  # denormal weights made CPU convs up to 25x slower
        self._torch = torch
        self.device = torch.device(device)
        self.fp16 = self.device.type == "cuda" if fp16 is None else fp16
        self.module = module.to(self.device).eval()
        if self.fp16:
            self.module = self.module.half()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
            if self.fp16:
                x = x.half()
            return self.module(x).float().cpu().numpy()


class OnnxBackend:
    """ONNX Runtime on the CPU (or its TensorRT/CUDA providers where installed)."""

    name = "onnx"

    def __init__(self, path: Path, threads: int = 0) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        # Spinning worker threads starve PyTorch's and the capture thread on small CPUs.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        wanted = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
        providers = [p for p in wanted if p in ort.get_available_providers()]
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]


def available_backends() -> List[str]:
    """Backends whose packages are importable here, best first."""
    found = []
    if importlib.util.find_spec("tensorrt") is not None:
        found.append("tensorrt")
    if importlib.util.find_spec("onnxruntime") is not None:
        found.append("onnx")
    found.append("torch")
    return found


def make_backend(
    kind: str,
    module_factory: Callable[[], object],
    onnx_path: Optional[Path] = None,
    device: str = "cpu",
) -> InferenceBackend:
    """Build the backend ``kind`` ('auto', 'torch', 'onnx').

    ``auto`` takes ONNX Runtime when the package and an exported file exist,
    else PyTorch. TensorRT engines are built on the device by ``training``'s
    export step; until one exists ``auto`` falls back as above.
    """
    if kind not in ("auto", "torch", "onnx", "tensorrt"):
        raise ValueError(f"unknown backend {kind!r}; use auto, torch, onnx or tensorrt")
    if kind == "tensorrt":
        raise ValueError("the tensorrt backend needs a prebuilt engine, which this build does not make yet")
    installed = available_backends()
    if kind == "onnx" and (onnx_path is None or "onnx" not in installed):
        raise ValueError("the onnx backend needs onnxruntime installed and an exported .onnx model file")
    if kind in ("auto", "onnx") and "onnx" in installed and onnx_path is not None and Path(onnx_path).is_file():
        return OnnxBackend(onnx_path)
    return TorchBackend(module_factory(), device=device)
