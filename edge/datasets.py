"""Where the data sets and reference weights that the repository does not ship are read from.

FER2013, the face photos (lfw_calib among them), the second video and dlib's reference files are not in the
repository (sizes and licences): tests, training and benchmarks read them from one folder, laid out as

    <root>/data/fer2013/{train,val}/<class>/*.jpg
    <root>/data/faces/{people,aligned,scenes,lfw_calib}/...
    <root>/data/video/walking.mp4
    <root>/weights/{dlib,faceapi}/...

``<root>`` is ``$EDGE_DATA`` when set, else ``datasets/`` in the clone (git-ignored). docs/data.md says where
each part comes from.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_VAR = "EDGE_DATA"


def data_root() -> Path:
    """The folder holding ``data/`` and ``weights/``: ``$EDGE_DATA``, else ``<clone>/datasets``."""
    configured = os.environ.get(ENV_VAR)
    return Path(configured).expanduser().resolve() if configured else REPO_ROOT / "datasets"


def data_path(relative: str) -> Path:
    """A path inside the data root, e.g. ``data_path("data/fer2013/val")``."""
    return data_root() / relative
