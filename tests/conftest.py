"""Shared fixtures: the real data sets (edge.datasets) and small helpers.

The data sets the repository does not ship are read from ``$EDGE_DATA`` (else ``datasets/`` in the clone;
docs/data.md). Where they are absent, the tests that read them are skipped and the reason printed once,
unless ``EDGE_DATA_REQUIRED=1`` (CI sets it): then those tests fail, so that CI always runs everything.
A test reads them when it uses the ``shared`` fixture (or one built on it), or names ``SHARED``, ``FER`` or
``FACES`` in its body or in a helper or fixture of its module that it calls.
"""

from __future__ import annotations

import inspect
import os
import shutil
from pathlib import Path
from typing import Set

import cv2
import numpy as np
import pytest

from edge.datasets import ENV_VAR, data_path, data_root

ROOT = Path(__file__).resolve().parent.parent
SHARED = data_root()
FER = data_path("data/fer2013")
FACES = data_path("data/faces")
DEMO = ROOT / "models" / "demo" / "walking.mp4"
DATA_NAMES = {"SHARED", "FER", "FACES"}
REQUIRED = os.environ.get("EDGE_DATA_REQUIRED") == "1"
MISSING = (
    f"the data sets are not at {SHARED} (set {ENV_VAR} to the folder holding data/ and weights/, or link it as "
    "datasets/ in the clone: docs/data.md)"
)


def _reads_data(function, module_globals, seen: Set[int]) -> bool:
    """Whether ``function`` or a function of its module that it names uses one of DATA_NAMES."""
    code = getattr(function, "__code__", None)
    if code is None or id(code) in seen:
        return False
    seen.add(id(code))
    names = set(code.co_names) | {n for c in code.co_consts if inspect.iscode(c) for n in c.co_names}
    if names & DATA_NAMES:
        return True
    for name in names:
        helper = module_globals.get(name)
        helper = getattr(helper, "__wrapped__", helper)
        same_module = inspect.isfunction(helper) and helper.__module__ == function.__module__
        if same_module and _reads_data(helper, module_globals, seen):
            return True
    return False


def pytest_collection_modifyitems(config, items):
    if SHARED.is_dir():
        return
    for item in items:
        function = getattr(item, "function", None)
        if function is None:
            continue
        fixtures = getattr(item, "_fixtureinfo", None)
        uses = "shared" in getattr(item, "fixturenames", ())
        if not uses and fixtures is not None:
            for defs in fixtures.name2fixturedefs.values():
                for fixturedef in defs:
                    func = getattr(fixturedef.func, "__wrapped__", fixturedef.func)
                    module = inspect.getmodule(func)
                    if module is not None and _reads_data(func, vars(module), set()):
                        uses = True
        if uses or _reads_data(function, function.__globals__, set()):
            item.add_marker(pytest.mark.fail_missing_data if REQUIRED else pytest.mark.skip(reason=MISSING))


def pytest_runtest_setup(item):
    if item.get_closest_marker("fail_missing_data"):
        pytest.fail(f"EDGE_DATA_REQUIRED=1 but {MISSING}", pytrace=False)


def pytest_terminal_summary(terminalreporter):
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if MISSING in str(r.longrepr)]
    if skipped:
        terminalreporter.write_line(f"{len(skipped)} tests skipped: {MISSING}", yellow=True)


@pytest.fixture(scope="session")
def shared() -> Path:
    """The data root; tests that take it are skipped (or fail, in CI) where it is missing."""
    if not SHARED.is_dir():
        pytest.fail(MISSING)
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
