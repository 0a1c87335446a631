"""Inference backends: a batch in, a batch out.

Every backend implements :class:`InferenceBackend`; the rest of the code never
knows which one runs. Jetson-only packages (tensorrt) are imported lazily and
their absence is never an error elsewhere.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import numpy as np

from edge.compile import ENGINE_MAX_BATCH
from edge.thread_budget import onnx_threads

try:  # Python 3.8 has Protocol in typing
    from typing import Protocol
except ImportError:  # pragma: no cover
    from typing_extensions import Protocol  # type: ignore

log = logging.getLogger(__name__)


class InferenceBackend(Protocol):
    """A compiled network: float32 ``(N, ...)`` in, float32 ``(N, ...)`` out."""

    name: str
    precision: str  # the arithmetic it runs in: fp32, fp16 or int8

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
        self.precision = "fp16" if self.fp16 else "fp32"

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

    def __init__(self, path: Path, threads: int = 0, precision: str = "fp32") -> None:
        """``threads``: the intra-op pool's size; 0 takes the process's budget (edge.thread_budget)."""
        import onnxruntime as ort

        self.precision = precision  # int8 for a statically quantized file (training/emotion/quantize.py)
        opts = ort.SessionOptions()
        threads = threads or onnx_threads()
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


class TensorRTBackend:
    """A TensorRT engine (FP16, or INT8 where calibrated) on the GPU; inputs and outputs go through torch
    CUDA tensors."""

    name = "tensorrt"

    def __init__(self, engine_path: Path, max_batch: int = ENGINE_MAX_BATCH, precision: str = "fp16") -> None:
        import tensorrt as trt
        import torch

        self.precision = precision
        self._torch = torch
        self.max_batch = max_batch  # the engine's optimisation profile ends here
        # The engine needs its runtime and the runtime its logger for as long as it lives: TensorRT's Python
        # objects do not keep each other alive, and a collected runtime leaves the engine dangling.
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise RuntimeError(f"{engine_path} is not an engine for this TensorRT/GPU; delete it to rebuild")
        self.context = self.engine.create_execution_context()
        self._v3 = hasattr(self.context, "set_input_shape")  # TensorRT 8.5+ tensor API (JetPack 5.1 has 8.5)
        # A stream of our own: TensorRT on torch's default stream costs extra syncs and logs a warning per call.
        self.stream = torch.cuda.Stream()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) > self.max_batch:  # e.g. 6 test-time views of 3+ faces
            parts = [self(batch[i : i + self.max_batch]) for i in range(0, len(batch), self.max_batch)]
            return np.concatenate(parts)
        torch = self._torch
        stream = self.stream
        with torch.cuda.stream(stream):  # the copies in and out run on the engine's stream too
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).cuda(non_blocking=True)
            if self._v3:
                self.context.set_input_shape("input", tuple(x.shape))
                shape = tuple(self.context.get_tensor_shape("output"))
                out = torch.empty(shape, device="cuda", dtype=torch.float32)
                self.context.set_tensor_address("input", x.data_ptr())
                self.context.set_tensor_address("output", out.data_ptr())
                self.context.execute_async_v3(stream.cuda_stream)
            else:  # pragma: no cover - TensorRT 8.4 and older
                self.context.set_binding_shape(0, tuple(x.shape))
                out = torch.empty(tuple(self.context.get_binding_shape(1)), device="cuda", dtype=torch.float32)
                self.context.execute_async_v2([x.data_ptr(), out.data_ptr()], stream.cuda_stream)
            result = out.cpu()  # waits for the engine on this stream
        stream.synchronize()
        return result.numpy()


@dataclass
class ModelSpec:
    """What a backend needs to know about one network."""

    name: str
    sha256: str
    input_shape: Tuple[int, ...]  # without the batch axis
    module_factory: Callable[[], object]  # builds the PyTorch module with its weights loaded
    # Returns real inputs for TensorRT INT8 calibration (N, *input_shape), read only when an engine is
    # built; None builds FP16 engines.
    int8_calibration: Optional[Callable[[], np.ndarray]] = None
    # Returns a statically quantized ONNX file of these same weights (checked by the caller) or None, run instead
    # of the float export where ONNX Runtime runs on the CPU: 1.6x faster for the emotion network
    # (docs/benchmarks.md). Called only when that backend is chosen, so other hosts never look for (or warn about) it.
    onnx_int8: Optional[Callable[[], Optional[Path]]] = None


def available_backends() -> List[str]:
    """Backends whose packages are importable here, best first."""
    found = []
    if importlib.util.find_spec("tensorrt") is not None:
        found.append("tensorrt")
    if importlib.util.find_spec("onnxruntime") is not None:
        found.append("onnx")
    found.append("torch")
    return found


def chooses_tensorrt(kind: str, device: str) -> bool:
    """Whether ``make_backend(kind, ..., device)`` builds a TensorRT engine: asked for, or ``auto`` on a GPU
    where TensorRT is installed."""
    return kind == "tensorrt" or (kind == "auto" and device.startswith("cuda") and "tensorrt" in available_backends())


def make_backend(kind: str, spec: ModelSpec, device: str = "cpu", cache_dir: Optional[Path] = None) -> InferenceBackend:
    """Build the backend ``kind`` for ``spec``: 'auto', 'torch', 'onnx' or 'tensorrt'.

    ``auto`` takes TensorRT where it is installed and a GPU is there, else
    ONNX Runtime on a CPU when installed, else PyTorch. ONNX files and engines
    are cached in ``cache_dir`` per model sha256 (see :mod:`edge.compile`).
    """
    from edge import compile as compiled

    if kind not in ("auto", "torch", "onnx", "tensorrt"):
        raise ValueError(f"unknown backend {kind!r}; use auto, torch, onnx or tensorrt")
    installed = available_backends()
    if kind in ("onnx", "tensorrt") and kind not in installed:
        package = {"onnx": "onnxruntime", "tensorrt": "tensorrt (JetPack or a CUDA machine)"}[kind]
        raise ValueError(f"the {kind} backend needs {package} installed")
    cache = Path(cache_dir) if cache_dir else Path("data") / "cache"
    on_gpu = device.startswith("cuda")
    if chooses_tensorrt(kind, device):
        onnx_path = compiled.cached_onnx(cache, spec.name, spec.sha256, spec.module_factory, spec.input_shape)
        engine = compiled.cached_engine(cache, onnx_path, spec.input_shape, calibration=spec.int8_calibration)
        return TensorRTBackend(engine, precision="int8" if spec.int8_calibration else "fp16")
    if kind == "onnx" or (kind == "auto" and "onnx" in installed and not on_gpu):
        int8_file = spec.onnx_int8() if spec.onnx_int8 is not None else None
        if int8_file is not None:
            return OnnxBackend(int8_file, precision="int8")
        onnx_path = compiled.cached_onnx(cache, spec.name, spec.sha256, spec.module_factory, spec.input_shape)
        return OnnxBackend(onnx_path)
    return TorchBackend(spec.module_factory(), device=device)
