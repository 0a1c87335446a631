"""What the Jetson image must hold (``python -m edge check-image [--build]``).

Two depths, because L4T's NVIDIA runtime mounts the host's GPU libraries (``libnvdla_compiler.so``,
``libcuda.so``, ...) only into a *running* container: ``docker build`` (BuildKit ignores
``default-runtime``) sees an image without them, where ``import tensorrt`` fails on any healthy base.

- ``--build`` (the Dockerfile's check): what the files of the image tell without the runtime: OpenCV
  with GStreamer and no PyPI OpenCV shadowing it, TensorRT's package present, torch a CUDA build by
  its version string.
- the full check (container start, ``docker compose run --rm edge check-image``): the above, plus
  TensorRT imports and torch sees the GPU.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
from pathlib import Path
from typing import List

# PyPI's OpenCV wheels have no GStreamer: installed beside JetPack's OpenCV they shadow it.
PYPI_OPENCV = ("opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless")
TEGRA_RELEASE = Path("/etc/nv_tegra_release")


def on_jetson() -> bool:
    """Whether this is an L4T (Jetson) system or container (l4t-base images keep the release file)."""
    return TEGRA_RELEASE.is_file()


def gstreamer_in_opencv(build_information: str) -> bool:
    """Whether ``cv2.getBuildInformation()`` says OpenCV was built with GStreamer."""
    match = re.search(r"^\s*GStreamer:\s*(\S+)", build_information, re.MULTILINE)
    return bool(match) and match.group(1).upper() == "YES"


def cuda_build_version(version: str) -> bool:
    """Whether a torch version string names a CUDA build: NVIDIA's Jetson wheels end in ``.nvYY.MM``
    (``2.0.0a0+ec3941ad.nv23.02``), PyPI's CUDA wheels in ``+cuXXX``; PyPI's aarch64 wheel is a CPU build."""
    local = version.partition("+")[2].lower()
    return bool(re.search(r"(^|\.)(nv\d|cu\d)", local))


def image_problems(runtime: bool = True) -> List[str]:
    """Every reason this Python environment cannot run the service on a Jetson; empty when it can.

    ``runtime=False`` checks only what an image build can see (no NVIDIA runtime, no GPU)."""
    from importlib import metadata

    import cv2

    problems = []
    if not gstreamer_in_opencv(cv2.getBuildInformation()):
        problems.append(
            f"OpenCV {cv2.__version__} ({cv2.__file__}) has no GStreamer: csi:// sources and hardware decoding "
            "cannot open. Use JetPack's OpenCV (l4t-pytorch / l4t-jetpack base image)."
        )
    shadowing = []
    for name in PYPI_OPENCV:
        with contextlib.suppress(metadata.PackageNotFoundError):
            shadowing.append(f"{name} {metadata.version(name)}")
    if shadowing:
        problems.append(f"pip installed {', '.join(shadowing)}, which shadows JetPack's OpenCV; uninstall it.")
    if importlib.util.find_spec("tensorrt") is None:
        problems.append("TensorRT's Python package is not installed: the base image is not JetPack's l4t-pytorch.")
    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = ""
        problems.append("torch is not installed: use the l4t-pytorch base image.")
    if torch_version and not cuda_build_version(torch_version):
        problems.append(
            f"torch {torch_version} is not a CUDA build for the Jetson (l4t-pytorch's ends in .nvYY.MM): "
            "use the base image's torch, and keep pip from replacing it (--no-deps)."
        )
    if not runtime or problems:
        return problems
    try:
        import tensorrt  # noqa: F401
    except ImportError as exc:  # the package is there (checked above): its libraries are not
        problems.append(
            f"TensorRT does not import ({exc}): the container runs without the NVIDIA runtime "
            "(compose.yaml's `runtime: nvidia`, or `--runtime nvidia` for docker run)."
        )
    import torch

    if not torch.cuda.is_available():
        problems.append("torch sees no GPU: start the container with the NVIDIA runtime (runtime: nvidia).")
    return problems
