"""The 5-class emotion model (angry, happy, sad, surprise, neutral: the original project's classes).

Derived from the shipped 7-class network by keeping the five rows of its last layer: the softmax over
the kept logits is the 7-class distribution conditioned on "not disgust, not fear", so no retraining is
needed for a first model, and its accuracy is measured on the PublicTest faces of those five classes.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Dict

import torch

from edge.datasets import data_path
from edge.manifest import ModelManifest, sha256_of
from edge.models.emotion_net import HEAD_KEYS
from edge.models.labels import FER2013_5_CLASSES
from training.emotion.evaluate import evaluate_emotion
from training.emotion.ship import finish_for_devices
from training.manifest import copies_metrics, evaluation_command


def derive_five_class(
    models_dir: Path, val: Path, train: Path = data_path("data/fer2013/train"), demo: bool = True
) -> Dict:
    """Write the 5-class weights beside the 7-class ones and add the ``emotion5`` manifest entry, with its
    calibration fitted on ``val`` (the demo video's labels with ``demo``) and its INT8 network, quantized with
    ``train`` faces, where they are."""
    manifest = ModelManifest(models_dir)
    seven = manifest.entry("emotion")
    state = torch.load(manifest.verified_path("emotion"), map_location="cpu", weights_only=True)
    keep = [seven["classes"].index(c) for c in FER2013_5_CLASSES]
    for key in state:  # the last layer of the network, or of each member of an averaged one
        if key.endswith(HEAD_KEYS):
            state[key] = state[key][keep].clone()
    file = "emotion5" + seven["file"][len("emotion") :]  # named after the network it is cut from
    path = models_dir / file
    torch.save(state, path)
    entry = copy.deepcopy(seven)
    entry.pop("calibration", None)
    entry.pop("training_stages", None)
    entry.pop("ship_command", None)  # derived, not shipped from runs
    entry.update(
        file=file,
        sha256=sha256_of(path),
        bytes=path.stat().st_size,
        classes=list(FER2013_5_CLASSES),
        source="derived from the 7-class model by python -m training derive-emotion5 (five rows of its last layer)",
    )
    data = json.loads((models_dir / "manifest.json").read_text())
    data["models"]["emotion5"] = entry
    (models_dir / "manifest.json").write_text(json.dumps(data, indent=2) + "\n")
    train_faces = str(train) if Path(train).exists() else None
    report = evaluate_emotion(
        str(val),
        str(path),
        usage="PublicTest",
        out=str(models_dir / "emotion5"),
        models_dir=models_dir,
        train=train_faces,
    )
    entry["metrics"] = {
        "publictest_accuracy": report["accuracy"],
        "publictest_macro_f1": report["macro_f1"],
        "per_class_f1": {c: report["per_class"][c]["f1"] for c in FER2013_5_CLASSES},
        "faces": report["n"],
        **copies_metrics(report),
    }
    entry["metrics_command"] = evaluation_command(val, file, train=train_faces)
    data["models"]["emotion5"] = entry
    (models_dir / "manifest.json").write_text(json.dumps(data, indent=2) + "\n")
    return finish_for_devices(models_dir, "emotion5", train, val, demo)
