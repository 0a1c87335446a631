"""``models/manifest.json``: every shipped or fetched model file with its sha256.

A model is only ever loaded through :meth:`ModelManifest.verified_path`, so a
missing, truncated or swapped file is refused with a message that says what
to do, never loaded by accident.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict


class ModelError(RuntimeError):
    """A model file is missing, corrupt or does not match its manifest entry."""


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


class ModelManifest:
    """The parsed manifest of one models folder."""

    def __init__(self, models_dir: Path) -> None:
        self.root = Path(models_dir)
        path = self.root / "manifest.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise ModelError(f"{path} is missing; point models_dir at a folder with a manifest.json") from exc
        except json.JSONDecodeError as exc:
            raise ModelError(f"{path} is not valid JSON ({exc}); restore it from git") from exc
        self.entries: Dict[str, Dict[str, Any]] = data.get("models", {})
        self._verified: Dict[str, str] = {}

    def entry(self, name: str) -> Dict[str, Any]:
        if name not in self.entries:
            raise ModelError(f"model {name!r} is not in {self.root / 'manifest.json'} (known: {sorted(self.entries)})")
        return self.entries[name]

    def path(self, name: str) -> Path:
        return self.root / self.entry(name)["file"]

    def verified_path(self, name: str) -> Path:
        """The model's file, after checking it exists and matches its sha256 (checked once per process)."""
        entry = self.entry(name)
        path = self.path(name)
        if not path.is_file():
            hint = " Run `make models` to fetch it." if entry.get("url") else " Restore it from git."
            raise ModelError(f"model file {path} for {name!r} is missing.{hint}")
        key = f"{path}:{path.stat().st_mtime_ns}"
        if self._verified.get(name) != key:
            actual = sha256_of(path)
            if actual != entry["sha256"]:
                raise ModelError(
                    f"model file {path} has sha256 {actual}, but manifest.json expects {entry['sha256']}: "
                    "the file is corrupt or not the model it should be. Restore or re-fetch it."
                )
            self._verified[name] = key
        return path
