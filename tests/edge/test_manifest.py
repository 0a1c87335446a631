import json
import shutil

import numpy as np
import pytest
import torch

from edge.config import REPO_ROOT
from edge.manifest import ModelError, ModelManifest, sha256_of

MODELS = REPO_ROOT / "models"


def test_every_shipped_model_matches_its_sha256_and_loads():
    manifest = ModelManifest(MODELS)
    shipped = [n for n, e in manifest.entries.items() if "url" not in e]
    assert {"emotion", "face_descriptor_128", "face_landmarks_5"} <= set(shipped)
    for name in shipped:
        path = manifest.verified_path(name)
        if path.suffix == ".npz":  # NumPy arrays (the landmark predictor's trees)
            with np.load(path) as arrays:
                assert arrays.files and all(arrays[k].size for k in arrays.files)
            continue
        if path.suffix == ".onnx":  # the INT8 networks for CPUs
            import onnx

            onnx.checker.check_model(onnx.load(str(path)))
            continue
        state = torch.load(path, map_location="cpu", weights_only=True)
        assert isinstance(state, dict) and state


def test_emotion_entry_documents_the_model():
    entry = ModelManifest(MODELS).entry("emotion")
    assert entry["classes"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert entry["input"]["size"] == [48, 48]
    assert entry["metrics"]["publictest_accuracy"] > 0.3
    assert "license" in entry


def test_corrupt_and_missing_files_are_refused(tmp_path):
    shutil.copy(MODELS / "manifest.json", tmp_path / "manifest.json")
    entry = json.loads((MODELS / "manifest.json").read_text())["models"]["emotion"]
    data = (MODELS / entry["file"]).read_bytes()
    (tmp_path / entry["file"]).write_bytes(data[:-10] + b"0123456789")
    manifest = ModelManifest(tmp_path)
    with pytest.raises(ModelError, match="corrupt"):
        manifest.verified_path("emotion")
    with pytest.raises(ModelError, match="missing"):
        manifest.verified_path("face_descriptor_128")
    with pytest.raises(ModelError, match="make models"):
        manifest.verified_path("vggface2")
    with pytest.raises(ModelError, match="not in"):
        manifest.entry("nope")


def test_a_broken_manifest_is_explained(tmp_path):
    with pytest.raises(ModelError, match="missing"):
        ModelManifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        ModelManifest(tmp_path)


def test_sha256_of_known_bytes(tmp_path):
    p = tmp_path / "x"
    p.write_bytes(b"abc")
    assert sha256_of(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def _shipped_copy(tmp_path):
    shipped = tmp_path / "image-models"
    shipped.mkdir()
    for name in ("manifest.json", ModelManifest(MODELS).entry("emotion")["file"]):
        shutil.copy(MODELS / name, shipped / name)
    return shipped


def test_a_rebuilt_image_refreshes_the_volume_manifest(tmp_path):
    """A device that ran an older image keeps its volume; the new image's models must still reach it."""
    from edge.manifest import seed_models_dir

    shipped = _shipped_copy(tmp_path)
    volume = tmp_path / "volume"
    assert "emotion" in seed_models_dir(volume, shipped)
    assert seed_models_dir(volume, shipped) == []  # nothing new: nothing rewritten
    # The image is rebuilt with a retrained emotion model.
    new_weights = shipped / "emotion_new.pt"
    new_weights.write_bytes(b"retrained weights")
    data = json.loads((shipped / "manifest.json").read_text())
    data["models"]["emotion"].update(file="emotion_new.pt", sha256=sha256_of(new_weights))
    (shipped / "manifest.json").write_text(json.dumps(data))
    assert seed_models_dir(volume, shipped) == ["emotion"]
    assert ModelManifest(volume).verified_path("emotion") == volume / "emotion_new.pt"


def test_a_model_installed_on_the_device_is_kept_over_the_image(tmp_path):
    from edge.manifest import seed_models_dir

    shipped = _shipped_copy(tmp_path)
    volume = tmp_path / "volume"
    seed_models_dir(volume, shipped)
    data = json.loads((volume / "manifest.json").read_text())
    data["models"]["emotion"]["installed_at"] = "2026-11-01T00:00:00+00:00"
    data["models"]["emotion"]["file"] = "mine.pt"
    del data["models"]["emotion_int8"]  # installed without an INT8 network: the image's is of other weights
    (volume / "manifest.json").write_text(json.dumps(data))
    assert seed_models_dir(volume, shipped) == []
    models = json.loads((volume / "manifest.json").read_text())["models"]
    assert models["emotion"]["file"] == "mine.pt" and "emotion_int8" not in models
    assert "face_descriptor_128" in models and "emotion5" in models  # the image's other entries still arrive
