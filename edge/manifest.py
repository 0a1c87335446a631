"""``models/manifest.json``: every shipped or fetched model file with its sha256.

A model is only ever loaded through :meth:`ModelManifest.verified_path`, so a
missing, truncated or swapped file is refused with a message that says what
to do, never loaded by accident.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional


class ModelError(RuntimeError):
    """A model file is missing, corrupt or does not match its manifest entry."""


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def int8_entry_name(name: str) -> str:
    """The manifest entry of the INT8 ONNX network quantized from entry ``name``."""
    return f"{name}_int8"


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


def download(url: str, dest: Path, sha256: Optional[str] = None, timeout: float = 60) -> Path:
    """Fetch ``url`` (http(s) or file://) to ``dest``, checking ``sha256``; a good existing file is kept.

    The file is written next to ``dest`` and renamed only when complete and
    verified, so a failed or interrupted download never leaves a bad model.
    """
    import urllib.request

    from tqdm import tqdm

    dest = Path(dest)
    if sha256 and dest.is_file() and sha256_of(dest) == sha256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, tmp.open("wb") as fh:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                for block in iter(lambda: resp.read(1 << 20), b""):
                    fh.write(block)
                    digest.update(block)
                    bar.update(len(block))
    except OSError as exc:
        if tmp.exists():
            tmp.unlink()
        raise ModelError(f"could not download {url}: {exc}") from exc
    if sha256 and digest.hexdigest() != sha256:
        tmp.unlink()
        raise ModelError(f"{url} gave a file with sha256 {digest.hexdigest()}, expected {sha256}; nothing was saved")
    tmp.replace(dest)
    return dest


def install_model(models_dir: Path, entry_url: str) -> Dict[str, Any]:
    """Install a model published with its manifest entry (JSON with ``name``, ``file``, ``sha256``, ``url``).

    The weights are downloaded and checked first, and so is the INT8 network for CPUs when the entry
    carries one (``int8``: its own ``file``, ``sha256``, ``url``); only then is the entry in
    ``models_dir/manifest.json`` replaced (the old files are kept on disk). The INT8 entry of the weights
    replaced goes with them: it was quantized from other weights.
    """
    import urllib.request

    try:
        with urllib.request.urlopen(entry_url, timeout=30) as resp:
            entry = json.loads(resp.read().decode())
    except (OSError, ValueError) as exc:
        raise ModelError(f"could not read the model entry {entry_url}: {exc}") from exc
    missing = [k for k in ("name", "file", "sha256", "url") if k not in entry]
    if missing:
        raise ModelError(f"{entry_url} lacks {missing}; publish the entry written by the retrain script")
    int8 = entry.pop("int8", None)
    if int8 is not None and any(k not in int8 for k in ("file", "sha256", "url")):
        raise ModelError(f"{entry_url}: its int8 network lacks a file, sha256 or url; publish the entry again")
    models_dir = Path(models_dir)
    download(entry["url"], models_dir / entry["file"], entry["sha256"])
    if int8 is not None:
        download(int8["url"], models_dir / int8["file"], int8["sha256"])
    path = models_dir / "manifest.json"
    data = json.loads(path.read_text()) if path.exists() else {"models": {}}
    models = data.setdefault("models", {})
    name = entry.pop("name")
    # Marks it as the user's choice: a rebuilt image's own model of this name does not replace it.
    installed_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    models[name] = dict(entry, installed_at=installed_at)
    if int8 is not None:
        models[int8_entry_name(name)] = dict(int8, installed_at=installed_at)
    else:
        models.pop(int8_entry_name(name), None)
    _write_manifest(path, data)
    return models[name]


def _write_manifest(path: Path, data: Dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def seed_models_dir(target: Path, shipped: Path) -> List[str]:
    """Bring the shipped models (the image's) into a writable models folder (the ``/data`` volume).

    Runs at every start, so a rebuilt image's models reach a device whose volume already holds an
    older manifest: each shipped entry replaces the volume's entry of that name, and its file is
    copied when the volume lacks that exact file. Entries installed on the device with
    ``install-model`` (marked ``installed_at``) are kept: the user chose them explicitly. Other files
    are copied only when missing. Returns the names of the entries it refreshed.
    """
    target, shipped = Path(target), Path(shipped)
    if target.resolve() == shipped.resolve():
        return []
    target.mkdir(parents=True, exist_ok=True)
    shipped_entries = json.loads((shipped / "manifest.json").read_text()).get("models", {})
    manifest_path = target / "manifest.json"
    try:
        data = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"models": {}}
    except json.JSONDecodeError:
        data = {"models": {}}  # a broken volume manifest is rebuilt from the image's
    entries = data.setdefault("models", {})
    installed = [n for n, e in entries.items() if e.get("installed_at")]
    # An installed model's INT8 network (or its absence) goes with it, not with the image's.
    kept = set(installed) | {int8_entry_name(n) for n in installed}
    refreshed = []
    for name, entry in shipped_entries.items():
        current = entries.get(name)
        if name in kept:
            continue
        source, dest = shipped / entry["file"], target / entry["file"]
        # Hash the volume's copy only when the entry changed: hashing 100+ MB at every start costs seconds
        # on the eMMC, and verified_path checks the file anyway before it is loaded.
        unchanged = current == entry and dest.is_file()
        if source.is_file() and not unchanged and not (dest.is_file() and sha256_of(dest) == entry["sha256"]):
            shutil.copy2(source, dest)
        if current != entry:
            entries[name] = entry
            refreshed.append(name)
    for item in shipped.iterdir():
        if item.is_file() and item.name != "manifest.json" and not (target / item.name).exists():
            shutil.copy2(item, target / item.name)
    if refreshed or not manifest_path.exists():
        _write_manifest(manifest_path, data)
    return refreshed
