"""What the Jetson image must hold; checked while the image is built (``python -m edge check-image``).

A missing piece found at build time is a failed ``docker compose build`` with a reason; found at the
first start it would be a container in a restart loop on a device nobody is watching.
"""

from __future__ import annotations

import contextlib
import re
from typing import List

# PyPI's OpenCV wheels have no GStreamer: installed beside JetPack's OpenCV they shadow it.
PYPI_OPENCV = ("opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless")


def gstreamer_in_opencv(build_information: str) -> bool:
    """Whether ``cv2.getBuildInformation()`` says OpenCV was built with GStreamer."""
    match = re.search(r"^\s*GStreamer:\s*(\S+)", build_information, re.MULTILINE)
    return bool(match) and match.group(1).upper() == "YES"


def image_problems() -> List[str]:
    """Every reason this Python environment cannot run the service on a Jetson; empty when it can."""
    from importlib import metadata

    import cv2
    import torch

    problems = []
    if not gstreamer_in_opencv(cv2.getBuildInformation()):
        problems.append(
            f"OpenCV {cv2.__version__} ({cv2.__file__}) has no GStreamer: csi:// and rtsp:// sources cannot open. "
            "Use JetPack's OpenCV (l4t-pytorch / l4t-jetpack base image)."
        )
    shadowing = []
    for name in PYPI_OPENCV:
        with contextlib.suppress(metadata.PackageNotFoundError):
            shadowing.append(f"{name} {metadata.version(name)}")
    if shadowing:
        problems.append(f"pip installed {', '.join(shadowing)}, which shadows JetPack's OpenCV; uninstall it.")
    try:
        import tensorrt  # noqa: F401
    except ImportError as exc:
        problems.append(f"TensorRT's Python bindings do not import ({exc}): the base image is not JetPack's.")
    if torch.version.cuda is None:
        problems.append(f"torch {torch.__version__} is a CPU build: use the l4t-pytorch base image's torch.")
    return problems
