"""Writing entries of ``models/manifest.json`` (the runtime only reads it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Dict, Optional

from edge.manifest import sha256_of


def update_entry(models_dir: Path, name: str, file: Path, fields: Dict[str, Any]) -> Dict[str, Any]:
    """Copy ``file`` into ``models_dir`` (if it is elsewhere) and record it under ``name`` with its sha256."""
    models_dir = Path(models_dir)
    file = Path(file)
    target = models_dir / file.name
    if file.resolve() != target.resolve():
        shutil.copyfile(file, target)
    manifest_path = models_dir / "manifest.json"
    data = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"models": {}}
    entry = {"file": target.name, "sha256": sha256_of(target), "bytes": target.stat().st_size}
    entry.update(fields)
    data.setdefault("models", {})[name] = entry
    manifest_path.write_text(json.dumps(data, indent=2) + "\n")
    return entry


def shown_path(path) -> str:
    """``path`` as a recorded command line shows it: relative to the working directory when under it."""
    path = Path(path).absolute()
    return str(path.relative_to(Path.cwd())) if Path.cwd() in path.parents else str(path)


def evaluation_command(
    val: Path, file: Optional[str] = None, tta: Optional[str] = None, train: Optional[str] = None, name: str = ""
) -> str:
    """The ``evaluate-emotion`` command that measures a shipped weights file alone on PublicTest (an averaged
    network reads like any other), or with ``name`` the shipped manifest entry of that name (a derived one such
    as ``emotion5``); without ``tta`` it runs the entry's own views; with ``train`` it also measures the faces
    that are not copies of a training face."""
    views = f" --tta {tta}" if tta else ""
    copies = f" --train {shown_path(train)}" if train else ""
    model = f" --name {name}" if name else f" --model models/{file}"
    return f"python -m training evaluate-emotion --data {shown_path(val)} --usage PublicTest{views}{copies}{model}"


def copies_metrics(report: Dict[str, Any]) -> Dict[str, Any]:
    """The manifest metrics of an ``evaluate_emotion`` report run with ``train``: how many PublicTest faces
    are copies of training faces and the accuracy on the others (nothing when it ran without ``train``; no
    accuracy when every face is a copy)."""
    unseen = report.get("without_training_copies")
    if not unseen:
        return {}
    fields: Dict[str, Any] = {"publictest_training_copies": unseen["copies"]}
    if unseen["accuracy"] is not None:
        fields["publictest_accuracy_without_training_copies"] = round(unseen["accuracy"], 4)
    return fields
