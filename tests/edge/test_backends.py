"""Backend selection and ONNX parity for every exported network, on real faces."""

import importlib.util
import json

import numpy as np
import pytest

from edge.backends import ModelSpec, OnnxBackend, TorchBackend, available_backends, make_backend
from edge.config import REPO_ROOT
from edge.manifest import ModelManifest
from edge.models.packed_state import load_state
from tests.conftest import FACES, FER
from training.convert.export import chip_batch, export_and_check, fer_batch


def emotion_spec():
    from training.emotion.train import emotion_net_from_weights

    m = ModelManifest(REPO_ROOT / "models")
    e = m.entry("emotion")

    def build():  # one ResNet9 or an averaged set, whatever ships
        return emotion_net_from_weights(m.verified_path("emotion"))

    return ModelSpec("emotion", e["sha256"], (1, 48, 48), build)


def test_selection_uses_what_is_installed(tmp_path):
    installed = available_backends()
    assert installed[-1] == "torch" and "onnx" in installed  # onnxruntime is a dependency on x86
    spec = emotion_spec()
    assert isinstance(make_backend("torch", spec, cache_dir=tmp_path), TorchBackend)
    auto = make_backend("auto", spec, cache_dir=tmp_path)
    assert isinstance(auto, OnnxBackend)  # ONNX Runtime is the fastest CPU backend installed here
    assert list(tmp_path.glob("emotion-*.onnx")), "the export is cached per model sha256"
    with pytest.raises(ValueError, match="unknown backend"):
        make_backend("cuda-magic", spec)
    if importlib.util.find_spec("tensorrt") is None:
        with pytest.raises(ValueError, match="needs tensorrt"):
            make_backend("tensorrt", spec)


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is None, reason="TensorRT is only on the Jetson / CUDA hosts")
def test_tensorrt_engine_is_built_once_and_agrees(tmp_path):  # pragma: no cover - runs on the device
    from edge.backends import TensorRTBackend

    spec = emotion_spec()
    trt = make_backend("tensorrt", spec, device="cuda", cache_dir=tmp_path)
    assert isinstance(trt, TensorRTBackend)
    engines = list(tmp_path.glob("*.engine"))
    make_backend("tensorrt", spec, device="cuda", cache_dir=tmp_path)
    assert list(tmp_path.glob("*.engine")) == engines
    x = np.random.rand(40, 1, 48, 48).astype(np.float32)  # more than the engine's largest batch (16)
    ref = TorchBackend(spec.module_factory())(x)
    assert (trt(x).argmax(1) == ref.argmax(1)).all()


def test_onnx_parity_emotion(tmp_path, shared):
    result = export_and_check(emotion_spec().module_factory(), fer_batch(FER / "val"), tmp_path / "e.onnx")
    assert result["max_abs_diff"] < 1e-3 and result["top1_agreement"] == 1.0


def test_onnx_parity_face_descriptor(tmp_path, shared):

    from edge.identity.embedders import FaceDescriptorEmbedder
    from edge.models.face_descriptor import FaceDescriptorNet

    net = FaceDescriptorNet()
    net.load_state_dict(load_state(REPO_ROOT / "models" / "face_descriptor_128.pt"))
    batch = chip_batch(FACES / "scenes" / "multiface.jpg", FaceDescriptorEmbedder(None).chips)
    result = export_and_check(net, batch, tmp_path / "d.onnx")
    assert result["max_abs_diff"] < 1e-3  # descriptors are ~0.1 per dimension
    assert result["min_cosine"] > 0.99999


def test_export_command_writes_every_installed_network(tmp_path, shared):
    from training.cli import main

    assert main(["export", "--out", str(tmp_path), "--fer", str(FER / "val")]) == 0
    rows = json.loads((tmp_path / "parity.json").read_text())
    assert [r["network"] for r in rows][:2] == ["emotion", "face_descriptor_128"]
    assert all(r["min_cosine"] > 0.9999 for r in rows) and rows[0]["top1_agreement"] == 1.0
    assert (tmp_path / "emotion.onnx").stat().st_size > 0


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is None, reason="TensorRT is only on the Jetson / CUDA hosts")
def test_tensorrt_int8_engine_from_fer_calibration_agrees(tmp_path):  # pragma: no cover - runs on the device
    from dataclasses import replace

    from edge.emotion import calibration_faces

    spec = replace(emotion_spec(), int8_calibration=lambda: calibration_faces(FER / "val", limit=256))
    trt = make_backend("tensorrt", spec, device="cuda", cache_dir=tmp_path)
    assert list(tmp_path.glob("*-int8.engine")) and list(tmp_path.glob("*.calib"))
    x = fer_batch(FER / "val", per_class=16)
    ref = TorchBackend(spec.module_factory())(x)
    assert (trt(x).argmax(1) == ref.argmax(1)).mean() >= 0.9
