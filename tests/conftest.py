"""Shared fixtures: the real data in ../shared and small helpers."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
FER = SHARED / "data" / "fer2013"
FACES = SHARED / "data" / "faces"
DEMO = ROOT / "models" / "demo" / "walking.mp4"


@pytest.fixture(scope="session")
def shared() -> Path:
    assert SHARED.is_dir(), f"the tests read real data from {SHARED}; it is missing"
    return SHARED


@pytest.fixture(scope="session")
def multiface(shared) -> np.ndarray:
    img = cv2.imread(str(FACES / "scenes" / "multiface.jpg"))
    assert img is not None
    return img


@pytest.fixture()
def fer_small(tmp_path, shared) -> Path:
    """A Kaggle-layout copy of 12 real training faces per class."""
    root = tmp_path / "fer"
    for cls_dir in sorted((FER / "train").iterdir()):
        out = root / cls_dir.name
        out.mkdir(parents=True)
        for p in sorted(cls_dir.iterdir())[:12]:
            shutil.copy(p, out / p.name)
    return root


@pytest.fixture(scope="session")
def settings_factory():
    from edge.config import load_settings

    def make(tmp: Path, **env: str):
        base = {"EDGE_STORAGE__DATABASE": str(tmp / "edge.db")}
        base.update(env)
        return load_settings(None, environ=base)

    return make
