"""Compiled forms of the networks, cached per model sha256 (and TensorRT version).

- ONNX (dynamic batch axis), exported from the PyTorch module on first use;
- TensorRT engines (FP16; INT8 for a network given calibration inputs) built
  from that ONNX on the device itself, since an engine only runs on the GPU
  and TensorRT version it was built with.

Both land in a cache folder (a Docker volume on the Jetson), so a restart
reuses them while the model file and TensorRT are unchanged.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import IO, Callable, Optional, Tuple

import numpy as np

log = logging.getLogger(__name__)

LOCK_FILE = "in-use.lock"


class CacheInUse(RuntimeError):
    """A running service uses the engines of this cache."""


def hold_cache(cache_dir: Path, exclusive: bool = False) -> Optional[IO[bytes]]:
    """Lock ``cache_dir`` for as long as the returned file stays open: shared by each running service,
    exclusive for ``build-engines``, which therefore never rebuilds or deletes an engine a service has
    loaded (nor times kernels beside it on the same GPU). Works across containers sharing the volume.

    Raises :class:`CacheInUse` when an exclusive lock is asked for while a service holds it. None where
    the cache cannot be written (a read-only volume): nothing to protect there."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    try:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        handle = open(Path(cache_dir) / LOCK_FILE, "ab")  # noqa: SIM115 - held open on purpose
    except OSError as exc:
        log.warning("cannot lock the model cache %s: %s", cache_dir, exc)
        return None
    try:
        fcntl.flock(handle, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise CacheInUse(
            f"the service is running and uses the engines in {cache_dir}: stop it first "
            "(docker compose stop edge), run this, then start it again (docker compose up -d)"
        ) from None
    return handle


# A half-written file younger than this may be another process's export or build in progress (each writes
# its own, named with its pid); older ones were left by an interrupted one.
PARTIAL_GRACE_S = 1800.0


def _written_within(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime < seconds
    except OSError:
        return False


def remove_stale(cache_dir: Path, pattern: str, keep_prefix: str) -> None:
    """Delete the cache files matching ``pattern`` that do not start with ``keep_prefix`` (the forms of older
    weights, or engines of another TensorRT), and the half-written ones an interrupted export or build left,
    so that the cache volume does not fill up over updates. Finished files are written atomically, so an
    interrupted build keeps the engines finished before it."""
    for path in Path(cache_dir).glob(pattern):
        partial = ".tmp" in path.name
        if path.name.startswith(keep_prefix) and not partial:
            continue
        if partial and _written_within(path, PARTIAL_GRACE_S):  # another process's export under way
            continue
        log.info("removing stale cache file %s", path)
        try:
            path.unlink()
        except OSError as exc:
            log.warning("cannot remove %s: %s", path, exc)


# The largest batch a TensorRT engine's optimisation profile accepts; TensorRTBackend splits larger ones.
ENGINE_MAX_BATCH = 16


def export_onnx(module, input_shape: Tuple[int, ...], out: Path) -> Path:
    """Write ``module`` as ONNX with a dynamic batch axis (atomically: no half-written file is left)."""
    import torch

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}.onnx")
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
    remove_stale(Path(cache_dir), f"{name}-*", path.stem)
    if not path.exists():
        log.info("exporting %s to %s", name, path)
        export_onnx(module_factory(), input_shape, path)
    return path


def tensorrt_version() -> str:
    import tensorrt as trt  # Jetson / CUDA machines only

    return str(trt.__version__)


def make_calibrator(batches: np.ndarray, cache_path: Path, batch_size: int):
    """A TensorRT entropy calibrator that feeds ``batches`` (N, C, H, W float32) to the builder.

    The calibration table is cached next to the engine, so a rebuild (a new TensorRT) skips the pass.
    """
    import tensorrt as trt
    import torch

    class FaceCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.position = 0
            self.on_gpu = None  # the current batch, kept alive while TensorRT reads it

        def get_batch_size(self) -> int:
            return batch_size

        def get_batch(self, names):
            if self.position + batch_size > len(batches):
                return None
            chunk = np.ascontiguousarray(batches[self.position : self.position + batch_size], dtype=np.float32)
            self.on_gpu = torch.from_numpy(chunk).cuda()
            self.position += batch_size
            return [int(self.on_gpu.data_ptr())]

        def read_calibration_cache(self):
            return cache_path.read_bytes() if cache_path.exists() else None

        def write_calibration_cache(self, cache) -> None:
            cache_path.write_bytes(bytes(cache))

    return FaceCalibrator()


def calibration_profile(builder, input_shape: Tuple[int, ...], batch: int):
    """An optimisation profile fixed at the calibrator's batch size (min = opt = max)."""
    profile = builder.create_optimization_profile()
    shape = (batch, *input_shape)
    profile.set_shape("input", shape, shape, shape)
    return profile


def cached_engine(
    cache_dir: Path,
    onnx_path: Path,
    input_shape: Tuple[int, ...],
    max_batch: int = ENGINE_MAX_BATCH,
    fp16: bool = True,
    calibration: Optional[Callable[[], np.ndarray]] = None,
) -> Path:
    """A serialized TensorRT engine for ``onnx_path``, built once per TensorRT version.

    With ``calibration`` (returns real inputs, at least ``max_batch`` of them; called only when
    the engine is built) and a GPU with fast INT8, the engine is INT8 (FP16 where a layer is faster
    so); otherwise FP16 (or FP32).
    """
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)  # cheap, and it knows what this GPU can do
    int8 = calibration is not None and builder.platform_has_fast_int8
    if calibration is not None and not int8:
        log.warning("this GPU has no fast INT8; %s stays FP16", onnx_path.stem)
    precision = "int8" if int8 else ("fp16" if fp16 else "fp32")
    path = Path(cache_dir) / f"{onnx_path.stem}-trt{tensorrt_version()}-{precision}.engine"
    remove_stale(Path(cache_dir), f"{onnx_path.stem}-trt*", path.stem)
    if path.exists():
        return path
    log.info("building TensorRT engine %s (first start only; this takes minutes)", path.name)
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
    if int8:
        faces = calibration()
        if len(faces) < max_batch:
            raise ValueError(f"INT8 calibration needs at least {max_batch} faces; found {len(faces)}")
        config.set_flag(trt.BuilderFlag.INT8)
        # TensorRT calibrates at the profile's opt shape: a profile of its own whose every shape is the
        # calibrator's batch, so that all of each batch is used (with the run profile, opt = max_batch/2
        # and half of every calibration batch was ignored).
        config.set_calibration_profile(calibration_profile(builder, input_shape, max_batch))
        config.int8_calibrator = make_calibrator(faces, path.with_suffix(".calib"), max_batch)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path}")
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(bytes(serialized))
    tmp.replace(path)
    return path
