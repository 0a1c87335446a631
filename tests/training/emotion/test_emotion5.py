"""The 5-class model cut from whatever 7-class network is shipped, measured with that manifest's views."""

import json
import shutil

import numpy as np
import torch

from edge.config import REPO_ROOT
from edge.manifest import ModelManifest, sha256_of
from edge.models.emotion_net import HEAD_KEYS
from training.emotion.five_class import derive_five_class

MODELS = REPO_ROOT / "models"


def test_derive_names_the_file_by_width_and_evaluates_with_its_own_manifest(tmp_path, fer_small):
    models = tmp_path / "models"
    models.mkdir()
    seven = ModelManifest(MODELS).entry("emotion")
    shutil.copy(MODELS / seven["file"], models / seven["file"])
    data = json.loads((MODELS / "manifest.json").read_text())
    # This copy's service runs one view; the repository's manifest says otherwise, and must not be read.
    data["models"]["emotion"]["input"]["tta_mode"] = "none"
    data["models"] = {"emotion": data["models"]["emotion"]}
    (models / "manifest.json").write_text(json.dumps(data))

    entry = derive_five_class(models, fer_small, train=fer_small, demo=False)

    widths = seven["width"] if isinstance(seven["width"], list) else [seven["width"]]  # averaged: one per member
    path = models / ("emotion5" + seven["file"][len("emotion") :])  # emotion5_mixed_w64+w32+fmx8+xc24.pt
    assert entry["file"] == path.name and entry["sha256"] == sha256_of(path)
    assert "ship_command" not in entry  # derived from the 7-class entry, not shipped from runs
    assert ModelManifest(models).verified_path("emotion5") == path
    report = json.loads((models / "emotion5" / "report.json").read_text())
    assert report["tta"] == "none" and report["n"] == 5 * 12  # fer_small: 12 faces of each kept class
    assert entry["metrics"]["publictest_accuracy"] == report["accuracy"]
    # The training faces here are the faces scored: all are copies but FER2013's blank (one-gray) angry face.
    assert entry["metrics"]["publictest_training_copies"] == 59 and f"--train {fer_small}" in entry["metrics_command"]
    five, full = torch.load(path, weights_only=True), torch.load(MODELS / seven["file"], weights_only=True)
    keep = [seven["classes"].index(c) for c in entry["classes"]]
    last = [k for k in full if k.endswith(HEAD_KEYS) and k.endswith("weight")]  # each member's last layer
    assert len(last) == len(widths)
    for key in last:
        np.testing.assert_array_equal(five[key], full[key][keep])
    int8 = ModelManifest(models).entry("emotion5_int8")
    assert int8["quantized_from"] == entry["sha256"] and int8["metrics"]["tta"] == "none"
    # Calibrated for the five classes, not left without an uncertain state.
    calibration = ModelManifest(models).entry("emotion5")["calibration"]
    assert calibration["publictest"]["faces"] == 5 * 12 and calibration["temperature"] > 0


def test_without_training_faces_the_int8_network_of_replaced_weights_is_dropped(tmp_path, fer_small, caplog):
    models = tmp_path / "models"
    models.mkdir()
    data = json.loads((MODELS / "manifest.json").read_text())
    data["models"] = {k: data["models"][k] for k in ("emotion", "emotion5_int8")}
    for entry in data["models"].values():
        shutil.copy(MODELS / entry["file"], models / entry["file"])
    (models / "manifest.json").write_text(json.dumps(data))

    derive_five_class(models, fer_small, train=tmp_path / "no-such-folder", demo=False)

    assert "emotion5_int8" not in ModelManifest(models).entries
    assert not (models / data["models"]["emotion5_int8"]["file"]).exists()
    assert "quantize-emotion --name emotion5" in caplog.text
