"""Compiled forms of the networks, cached per model sha256 (and TensorRT version).

- ONNX (dynamic batch axis), exported from the PyTorch module on first use;
- TensorRT engines (FP16) built from that ONNX on the device itself, since
  an engine only runs on the GPU and TensorRT version it was built with.

Both land in a cache folder (a Docker volume on the Jetson), so a restart
reuses them while the model file and TensorRT are unchanged.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Tuple

log = logging.getLogger(__name__)


def export_onnx(module, input_shape: Tuple[int, ...], out: Path) -> Path:
    """Write ``module`` as ONNX with a dynamic batch axis (atomically: no half-written file is left)."""
    import torch

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.onnx")
    kwargs = {"dynamo": False} if "dynamo" in torch.onnx.export.__code__.co_varnames else {}
    torch.onnx.export(
        module.eval(),
        torch.zeros(2, *input_shape),
        str(tmp),
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        opset_version=17,
        **kwargs,
    )
    tmp.replace(out)
    return out


def cached_onnx(cache_dir: Path, name: str, sha256: str, module_factory, input_shape: Tuple[int, ...]) -> Path:
    """The ONNX file for this exact model file, exported once."""
    path = Path(cache_dir) / f"{name}-{sha256[:16]}.onnx"
    if not path.exists():
        log.info("exporting %s to %s", name, path)
        export_onnx(module_factory(), input_shape, path)
    return path


def tensorrt_version() -> str:
    import tensorrt as trt  # Jetson / CUDA machines only

    return str(trt.__version__)


def cached_engine(
    cache_dir: Path, onnx_path: Path, input_shape: Tuple[int, ...], max_batch: int = 16, fp16: bool = True
) -> Path:
    """A serialized TensorRT engine for ``onnx_path``, built once per TensorRT version."""
    import tensorrt as trt

    path = Path(cache_dir) / f"{onnx_path.stem}-trt{tensorrt_version()}-{'fp16' if fp16 else 'fp32'}.engine"
    if path.exists():
        return path
    log.info("building TensorRT engine %s (first start only; this takes minutes)", path.name)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
    if fp16 and builder.platform_has_fast_fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    profile.set_shape("input", (1, *input_shape), (max(1, max_batch // 2), *input_shape), (max_batch, *input_shape))
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path}")
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(bytes(serialized))
    tmp.replace(path)
    return path
