"""The 5-class model derived from whatever 7-class network is shipped, measured with that manifest's views."""

import json
import shutil

import numpy as np
import pytest

from edge.config import REPO_ROOT
from edge.emotion import EmotionClassifier
from edge.manifest import ModelError, ModelManifest
from training.emotion.five_class import derive_five_class

MODELS = REPO_ROOT / "models"


def _models_with(tmp_path, names, tta=None):
    """A models folder holding the shipped entries ``names`` and their files."""
    models = tmp_path / "models"
    models.mkdir()
    data = json.loads((MODELS / "manifest.json").read_text())
    data["models"] = {k: data["models"][k] for k in names}
    if tta:
        data["models"]["emotion"]["input"]["tta_mode"] = tta
    for entry in data["models"].values():
        shutil.copy(MODELS / entry["file"], models / entry["file"])
    (models / "manifest.json").write_text(json.dumps(data))
    return models


def test_derive_writes_no_file_and_evaluates_with_its_own_manifest(tmp_path, fer_small):
    # This copy's service runs one view; the repository's manifest says otherwise, and must not be read.
    models = _models_with(tmp_path, ["emotion", "emotion_int8"], tta="none")
    files = sorted(p.name for p in models.iterdir())

    entry = derive_five_class(models, fer_small, train=fer_small, demo=False)

    seven = ModelManifest(models).entry("emotion")
    assert entry["derived_from"] == "emotion" and entry["file"] == seven["file"]
    assert entry["sha256"] == seven["sha256"] and "ship_command" not in entry
    assert sorted(p.name for p in models.iterdir() if p.is_file()) == files  # nothing written beside the weights
    report = json.loads((models / "emotion5" / "report.json").read_text())
    assert report["tta"] == "none" and report["n"] == 5 * 12  # fer_small: 12 faces of each kept class
    assert entry["metrics"]["publictest_accuracy"] == report["accuracy"]
    assert "--name emotion5" in entry["metrics_command"]
    # The training faces here are the faces scored: all are copies but FER2013's blank (one-gray) angry face.
    assert entry["metrics"]["publictest_training_copies"] == 59 and f"--train {fer_small}" in entry["metrics_command"]
    # Calibrated for the five classes, not left without an uncertain state.
    assert entry["calibration"]["publictest"]["faces"] == 5 * 12 and entry["calibration"]["temperature"] > 0
    assert "emotion5_int8" not in ModelManifest(models).entries  # it runs the source's INT8 network


def test_an_earlier_cut_with_files_of_its_own_is_replaced_and_its_files_removed(tmp_path, fer_small):
    models = _models_with(tmp_path, ["emotion"])
    data = json.loads((models / "manifest.json").read_text())
    for name, file in (("emotion5", "emotion5_old.pt"), ("emotion5_int8", "emotion5_old_int8.onnx")):
        (models / file).write_bytes(b"an earlier cut")
        data["models"][name] = dict(data["models"]["emotion"], file=file)
    (models / "manifest.json").write_text(json.dumps(data))

    derive_five_class(models, fer_small, train=tmp_path / "no-such-folder", demo=False)

    assert not (models / "emotion5_old.pt").exists() and not (models / "emotion5_old_int8.onnx").exists()
    entries = ModelManifest(models).entries
    assert "emotion5_int8" not in entries and entries["emotion5"]["derived_from"] == "emotion"
    assert "publictest_training_copies" not in entries["emotion5"]["metrics"]  # no training faces to compare


def test_a_derived_model_of_replaced_source_weights_is_refused_with_what_to_run(tmp_path):
    models = _models_with(tmp_path, ["emotion", "emotion5"])
    data = json.loads((models / "manifest.json").read_text())
    data["models"]["emotion"]["sha256"] = "0" * 64  # the 7-class weights were replaced since
    (models / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ModelError, match="derive-emotion5"):
        EmotionClassifier.from_manifest(ModelManifest(models), "emotion5", backend="torch")


def test_the_shipped_five_class_model_reads_the_seven_class_networks_logits(tmp_path):
    manifest = ModelManifest(MODELS)
    faces = np.random.default_rng(0).random((4, 1, 48, 48), dtype=np.float32)
    for backend in ("torch", "onnx"):  # onnx: the 7-class model's INT8 network, on this CPU
        seven = EmotionClassifier.from_manifest(manifest, "emotion", backend=backend, cache_dir=tmp_path)
        five = EmotionClassifier.from_manifest(manifest, "emotion5", backend=backend, cache_dir=tmp_path)
        keep = [seven.classes.index(c) for c in five.classes]
        np.testing.assert_allclose(five.view_logits(faces), seven.view_logits(faces)[..., keep], rtol=1e-5, atol=1e-6)
        assert five.precision == seven.precision and five.predict(faces).shape == (4, 5)
