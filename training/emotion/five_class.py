"""The 5-class emotion model (angry, happy, sad, surprise, neutral: the original project's classes).

Derived from the shipped 7-class network without a file of its own: the manifest entry ``emotion5`` names its
source (``derived_from``) and the service reads the five classes' logits of that network
(``edge.emotion.kept_logits``): the softmax over them is the 7-class distribution given "not disgust, not
fear", so no retraining is needed. This fits its calibration and measures it on the PublicTest faces of those
five classes; it runs on the source's own ONNX, INT8 network and TensorRT engine.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Dict

from edge.datasets import data_path
from edge.manifest import ModelManifest, int8_entry_name
from edge.models.labels import FER2013_5_CLASSES
from training.emotion.calibrate import calibrate_emotion
from training.emotion.evaluate import evaluate_emotion
from training.manifest import copies_metrics, evaluation_command

NAME = "emotion5"
SOURCE = "emotion"


def derive_five_class(
    models_dir: Path, val: Path, train: Path = data_path("data/fer2013/train"), demo: bool = True
) -> Dict:
    """Write the ``emotion5`` manifest entry derived from ``emotion``: its accuracy on ``val``'s faces of the
    five classes (and on those that are not copies of a ``train`` face, where ``train`` is) and its
    calibration fitted on ``val`` (with the demo video's labels with ``demo``). Returns the entry."""
    manifest_path = Path(models_dir) / "manifest.json"
    data = json.loads(manifest_path.read_text())
    seven = ModelManifest(models_dir).entry(SOURCE)
    _drop_own_files(Path(models_dir), data, seven)
    entry = copy.deepcopy(seven)
    for key in ("calibration", "training_stages", "ship_command", "metrics", "metrics_command"):
        entry.pop(key, None)  # measured anew below, or not this entry's (it is derived, not shipped from runs)
    entry.update(
        derived_from=SOURCE,
        classes=list(FER2013_5_CLASSES),
        source=f"the five classes' logits of {SOURCE!r} (python -m training derive-emotion5): no file of its own",
    )
    data["models"][NAME] = entry
    manifest_path.write_text(json.dumps(data, indent=2) + "\n")

    train_faces = str(train) if Path(train).exists() else None
    report = evaluate_emotion(
        str(val),
        usage="PublicTest",
        out=str(Path(models_dir) / NAME),
        models_dir=models_dir,
        train=train_faces,
        name=NAME,
    )
    entry["metrics"] = {
        "publictest_accuracy": report["accuracy"],
        "publictest_macro_f1": report["macro_f1"],
        "per_class_f1": {c: report["per_class"][c]["f1"] for c in FER2013_5_CLASSES},
        "faces": report["n"],
        **copies_metrics(report),
    }
    entry["metrics_command"] = evaluation_command(val, train=train_faces, name=NAME)
    data["models"][NAME] = entry
    manifest_path.write_text(json.dumps(data, indent=2) + "\n")
    calibrate_emotion(Path(val), Path(models_dir), Path(models_dir) / NAME, write=True, name=NAME, demo=demo)
    return ModelManifest(models_dir).entry(NAME)


def _drop_own_files(models_dir: Path, data: Dict, seven: Dict) -> None:
    """Remove the weights and INT8 network of an earlier 5-class model that had files of its own (a cut or a
    5-class run shipped with ``ship-emotion --name emotion5``): the derived one runs the source's."""
    for key in (NAME, int8_entry_name(NAME)):
        old = data["models"].pop(key, None)
        if old and old.get("file") not in (None, seven["file"]) and not old.get("derived_from"):
            (models_dir / old["file"]).unlink(missing_ok=True)
