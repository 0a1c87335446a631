import numpy as np
import pytest

from edge.config import REPO_ROOT
from edge.emotion import EmotionClassifier, softmax
from edge.manifest import ModelManifest
from edge.models.emotion_net import count_macs
from edge.models.packed_state import load_state
from edge.models.resnet9 import ResNet9
from tests.conftest import FER, SHARED


def test_resnet9_shapes_and_cost():
    import torch

    net = ResNet9(num_classes=7, width=128).eval()
    assert net(torch.zeros(2, 1, 48, 48)).shape == (2, 7)
    # The original 128-256-512 network: about 1.9 GMAC per face.
    assert 1.8e9 < count_macs(net) < 2.0e9
    assert count_macs(ResNet9(width=32)) * 15 < count_macs(net)


def _random_resnet9(seed, width=8):
    import torch

    torch.manual_seed(seed)
    net = ResNet9(num_classes=7, width=width)
    torch.nn.init.normal_(net.classifier[-1].weight, std=0.5)  # a zero head would say "uniform" for every face
    return net.eval()


def test_an_averaged_network_is_its_members_mean_and_exports_as_one(tmp_path):
    import torch

    from edge.backends import OnnxBackend
    from edge.compile import export_onnx
    from edge.models.emotion_net import AveragedNetwork, averaged_state, emotion_net_from_state

    a, b = _random_resnet9(0), _random_resnet9(1, width=16)
    x = torch.rand(5, 1, 48, 48)
    with torch.no_grad():
        mean = (torch.softmax(a(x), 1) + torch.softmax(b(x), 1)) / 2
        loaded = emotion_net_from_state(averaged_state([a.state_dict(), b.state_dict()]))
        assert isinstance(loaded, AveragedNetwork) and loaded.widths == [8, 16] and loaded.num_classes == 7
        assert torch.allclose(torch.softmax(loaded(x), 1), mean, atol=1e-6)
        assert not torch.allclose(mean, torch.softmax(a(x), 1), atol=1e-3)  # both members count
        single = emotion_net_from_state(a.state_dict())
        assert isinstance(single, ResNet9) and single.width == 8 and torch.equal(single(x), a(x))
    onnx_probs = OnnxBackend(export_onnx(loaded, (1, 48, 48), tmp_path / "avg.onnx"))(x.numpy())
    assert np.allclose(np.exp(onnx_probs), mean.numpy(), atol=1e-5)
    assert count_macs(loaded) == count_macs(a) + count_macs(b)
    with pytest.raises(ValueError, match="not the weights of an emotion network"):
        emotion_net_from_state({"fc.weight": torch.zeros(7, 10)})


def test_a_network_of_three_families_averages_loads_and_exports_as_one(tmp_path):
    import torch

    from edge.backends import OnnxBackend
    from edge.compile import export_onnx
    from edge.models.emotion_net import AveragedNetwork, averaged_state, emotion_net_from_state
    from edge.models.mini_xception import MiniXception
    from edge.models.xception import XceptionNet

    torch.manual_seed(2)
    xc = XceptionNet(num_classes=7, width=8)
    torch.nn.init.normal_(xc.classifier[-1].weight, std=0.5)
    xc.eval()
    assert xc(torch.zeros(2, 1, 48, 48)).shape == (2, 7)
    # Depthwise-separable: at width 24 it costs under a third of a ResNet9 of width 64.
    assert count_macs(XceptionNet(width=24)) * 3 < count_macs(ResNet9(width=64))
    res = _random_resnet9(0)
    mx = MiniXception().eval()  # resizes to 64 px inside: the export must carry that too
    torch.nn.init.normal_(mx.classifier[0].weight, std=0.5)
    x = torch.rand(4, 1, 48, 48)
    with torch.no_grad():
        loaded = emotion_net_from_state(averaged_state([res.state_dict(), xc.state_dict(), mx.state_dict()]))
        assert isinstance(loaded, AveragedNetwork)
        assert [type(m) for m in loaded.members] == [ResNet9, XceptionNet, MiniXception]
        mean = (torch.softmax(res(x), 1) + torch.softmax(xc(x), 1) + torch.softmax(mx(x), 1)) / 3
        assert torch.allclose(torch.softmax(loaded(x), 1), mean, atol=1e-6)
        alone = emotion_net_from_state(xc.state_dict())
        assert isinstance(alone, XceptionNet) and alone.width == 8 and torch.equal(alone(x), xc(x))
    onnx_probs = OnnxBackend(export_onnx(loaded, (1, 48, 48), tmp_path / "mixed.onnx"))(x.numpy())
    assert np.allclose(np.exp(onnx_probs), mean.numpy(), atol=1e-5)


def test_the_descriptor_family_is_the_face_descriptors_trunk_and_averages_and_exports_like_the_others(tmp_path):
    import torch

    from edge.backends import OnnxBackend
    from edge.compile import export_onnx
    from edge.models.descriptor_emotion import DescriptorEmotionNet
    from edge.models.emotion_net import AveragedNetwork, averaged_state, emotion_net_from_state
    from edge.models.face_descriptor import FaceDescriptorNet

    descriptor_state = load_state(REPO_ROOT / "models" / "face_descriptor_128.pt")
    net = DescriptorEmotionNet(size=112)
    net.load_pretrained(descriptor_state)
    x = torch.rand(3, 1, 48, 48)
    # Without its head, the network is the descriptor's trunk on the face resized and made RGB in 0..255.
    descriptor = FaceDescriptorNet()
    descriptor.load_state_dict(descriptor_state)
    descriptor.fc = torch.nn.Identity()
    head = net.classifier[-1]
    net.classifier[-1] = torch.nn.Identity()
    with torch.no_grad():
        rgb = torch.nn.functional.interpolate(x, size=(112, 112), mode="bilinear").expand(-1, 3, -1, -1) * 255
        assert torch.allclose(net.eval()(x), descriptor.eval()(rgb), atol=1e-4)
    net.classifier[-1] = head
    torch.nn.init.normal_(head.weight, std=0.5)
    with pytest.raises(ValueError, match="not the face descriptor's weights"):
        DescriptorEmotionNet().load_pretrained(_random_resnet9(0).state_dict())
    with pytest.raises(ValueError, match="width 32"):
        DescriptorEmotionNet(width=8)
    # Cheaper than a ResNet9 of width 64, at the default size.
    assert count_macs(DescriptorEmotionNet()) * 2 < count_macs(ResNet9(width=64))

    res = _random_resnet9(1)
    with torch.no_grad():
        loaded = emotion_net_from_state(averaged_state([res.state_dict(), net.state_dict()]))
        assert isinstance(loaded, AveragedNetwork)
        assert [type(m) for m in loaded.members] == [ResNet9, DescriptorEmotionNet]
        assert loaded.members[1].size == 112  # the size it was trained at travels with the weights
        mean = (torch.softmax(res(x), 1) + torch.softmax(net(x), 1)) / 2
        assert torch.allclose(torch.softmax(loaded(x), 1), mean, atol=1e-6)
    onnx_probs = OnnxBackend(export_onnx(loaded, (1, 48, 48), tmp_path / "with_descriptor.onnx"))(x.numpy())
    assert np.allclose(np.exp(onnx_probs), mean.numpy(), atol=1e-5)


def _fer_val_faces(per_class, classes=None):
    """The first ``per_class`` PublicTest faces of each class (FER2013's seven unless ``classes``), as
    (N, 1, 48, 48) in 0..1, and their labels."""
    import cv2

    from edge.models.labels import FER2013_CLASSES

    faces, labels = [], []
    for k, name in enumerate(classes or FER2013_CLASSES):
        files = sorted((FER / "val" / name).iterdir())[:per_class]
        faces += [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in files]
        labels += [k] * len(files)
    return np.stack(faces)[:, None].astype(np.float32) / 255.0, np.array(labels)


def test_the_expression_family_is_face_apis_network_and_averages_and_exports_like_the_others(tmp_path, shared):
    import torch

    from edge.backends import OnnxBackend
    from edge.compile import export_onnx
    from edge.models.emotion_net import AveragedNetwork, averaged_state, emotion_net_from_state
    from edge.models.expression_net import FaceExpressionNet
    from training.convert.faceapi import convert_expression

    weights = REPO_ROOT / "training" / "weights" / "faceapi-expression"
    net = FaceExpressionNet()
    net.load_pretrained(convert_expression(weights / "face_expression_model-weights_manifest.json"))
    # The converted network, unchanged, already reads FER2013 faces (59.6% on all of PublicTest): a wrong
    # padding, layout or class order would bring it near chance (14%).
    faces, labels = _fer_val_faces(20)
    with torch.no_grad():
        probs = torch.softmax(net.eval()(torch.from_numpy(faces)), 1).numpy()
    assert (probs.argmax(1) == labels).mean() > 0.45
    # TensorFlow pads a stride-2 conv on an even size after the end only: the first conv's output at (0, 0)
    # sees input rows and columns 0..2, not a zero row and column before them.
    first = net.dense0.conv0
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        corner = (first.depthwise.weight * x[:, :, :3, :3]).sum((1, 2, 3)) + first.depthwise.bias
        assert torch.allclose(first(x)[0, :, 0, 0], corner, atol=1e-5)
    with pytest.raises(ValueError, match="convert-faceapi-expression"):
        FaceExpressionNet().load_pretrained(_random_resnet9(0).state_dict())
    with pytest.raises(ValueError, match="width 32"):
        FaceExpressionNet(width=8)
    assert count_macs(FaceExpressionNet()) * 5 < count_macs(ResNet9(width=64))

    res, x = _random_resnet9(1), torch.from_numpy(faces[::20])
    with torch.no_grad():
        loaded = emotion_net_from_state(averaged_state([res.state_dict(), net.state_dict()]))
        assert isinstance(loaded, AveragedNetwork)
        assert [type(m) for m in loaded.members] == [ResNet9, FaceExpressionNet]
        mean = (torch.softmax(res(x), 1) + torch.softmax(net(x), 1)) / 2
        assert torch.allclose(torch.softmax(loaded(x), 1), mean, atol=1e-6)
    onnx_probs = OnnxBackend(export_onnx(loaded, (1, 48, 48), tmp_path / "with_expression.onnx"))(x.numpy())
    assert np.allclose(np.exp(onnx_probs), mean.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="not face-api.js's face expression network"):
        convert_expression(SHARED / "weights" / "faceapi" / "face_recognition_model-weights_manifest.json")


def test_shipped_model_recognises_real_fer_faces(shared):
    clf = EmotionClassifier.from_manifest(ModelManifest(REPO_ROOT / "models"), backend="torch")
    batch, labels = _fer_val_faces(20, clf.classes)
    probs = clf.predict(batch)
    assert probs.shape == (len(labels), 7)
    assert np.allclose(probs.sum(1), 1, atol=1e-4)
    accuracy = float((probs.argmax(1) == np.array(labels)).mean())
    assert accuracy > 0.35  # 7 classes: chance is 0.14


def test_classify_crops_faces_from_a_frame(multiface):
    from edge.detection import FaceDetector

    clf = EmotionClassifier.from_manifest(ModelManifest(REPO_ROOT / "models"), backend="torch")
    dets = FaceDetector().detect(multiface)
    crops = clf.crops(multiface, dets.boxes)
    assert crops.shape == (len(dets), 1, 48, 48) and crops.min() >= 0 and crops.max() <= 1
    assert clf.classify(multiface, dets.boxes).shape == (len(dets), 7)


def test_calibration_faces_cover_every_class_and_refuse_an_empty_folder(tmp_path, shared):
    import shutil

    import cv2

    from edge.emotion import calibration_faces

    faces = calibration_faces(FER / "val", limit=70)
    assert faces.shape[1:] == (1, 48, 48) and 60 <= len(faces) <= 70
    assert faces.min() >= 0.0 and faces.max() <= 1.0 and faces.std() > 0.1
    firsts = []
    for cls in ("angry", "happy", "sad"):  # 5 faces each: a limit of 3 takes the first of every class
        (tmp_path / "cal" / cls).mkdir(parents=True)
        for p in sorted((FER / "val" / cls).iterdir())[:5]:
            shutil.copy(p, tmp_path / "cal" / cls / p.name)
        firsts.append(cv2.imread(str(sorted((tmp_path / "cal" / cls).iterdir())[0]), cv2.IMREAD_GRAYSCALE))
    picked = calibration_faces(tmp_path / "cal", limit=3)
    assert np.allclose(picked[:, 0] * 255, np.stack(firsts), atol=1)
    with pytest.raises(ValueError, match="no face images"):
        calibration_faces(tmp_path / "empty-or-missing")


def test_tta_views_are_the_face_two_zooms_and_their_mirrors(shared):
    from edge.backends import TorchBackend
    from edge.emotion import softmax, tta_views
    from training.convert.export import fer_batch

    faces = fer_batch(FER / "val", per_class=2)
    views = tta_views(faces, "zoom")
    assert len(views) == 6 and all(v.shape == faces.shape for v in views)
    assert np.array_equal(views[0], faces) and np.array_equal(views[3], faces[..., ::-1])
    assert np.array_equal(views[4], views[1][..., ::-1]) and np.array_equal(views[5], views[2][..., ::-1])
    # The zoomed-in view magnifies the centre: its centre pixel is the face's centre pixel.
    assert np.allclose(views[1][:, 0, 24, 24], faces[:, 0, 24, 24], atol=0.06)
    assert len(tta_views(faces, "flip")) == 2 and len(tta_views(faces, "none")) == 1
    with pytest.raises(ValueError, match="unknown test-time augmentation"):
        tta_views(faces, "rotate")
    clf = EmotionClassifier.from_manifest(ModelManifest(REPO_ROOT / "models"), backend="torch", tta="zoom")
    assert isinstance(clf.backend, TorchBackend)
    expected = np.mean([softmax(clf.backend(v) / clf.temperature) for v in views], axis=0)  # calibrated
    assert np.allclose(clf.predict(faces), expected, atol=1e-5)


def test_the_five_class_model_is_the_seven_class_one_without_disgust_and_fear(shared):
    from training.convert.export import fer_batch

    manifest = ModelManifest(REPO_ROOT / "models")
    five = EmotionClassifier.from_manifest(manifest, "emotion5", backend="torch", tta="none")
    seven = EmotionClassifier.from_manifest(manifest, "emotion", backend="torch", tta="none")
    assert five.classes == ["angry", "happy", "sad", "surprise", "neutral"]
    assert manifest.entry("emotion5")["metrics"]["publictest_accuracy"] > 0.7
    keep = [seven.classes.index(c) for c in five.classes]

    faces = fer_batch(FER / "val", per_class=2)
    # The 7-class average's probabilities of the five classes, renormalised: its answer given "not disgust or fear".
    p7 = softmax(seven.view_logits(faces)[0])[:, keep]
    np.testing.assert_allclose(softmax(five.view_logits(faces)[0]), p7 / p7.sum(1, keepdims=True), atol=1e-5)


def _fer_faces(per_class: int):
    import cv2

    classes = ModelManifest(REPO_ROOT / "models").entry("emotion")["classes"]
    faces = []
    for name in classes:
        files = sorted((FER / "val" / name).iterdir())[:per_class]
        faces += [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in files]
    return np.stack(faces)[:, None].astype(np.float32) / 255.0


def test_the_shipped_int8_network_runs_on_onnx_and_agrees_with_float(shared, tmp_path):
    manifest = ModelManifest(REPO_ROOT / "models")
    int8 = EmotionClassifier.from_manifest(manifest, backend="onnx", cache_dir=tmp_path)
    fp32 = EmotionClassifier.from_manifest(manifest, backend="onnx", cache_dir=tmp_path, cpu_int8=False)
    torch_clf = EmotionClassifier.from_manifest(manifest, backend="torch")
    assert (int8.precision, fp32.precision, torch_clf.precision) == ("int8", "fp32", "fp32")
    faces = _fer_faces(20)
    a, b = int8.predict(faces), fp32.predict(faces)
    assert np.allclose(a.sum(1), 1, atol=1e-4)
    assert float((a.argmax(1) == b.argmax(1)).mean()) >= 0.9  # 98% on all of PublicTest (manifest)
    assert not np.allclose(a, b, atol=1e-4)  # it is really another network


def _models_copy(tmp_path):
    import shutil

    models = tmp_path / "models"
    shutil.copytree(REPO_ROOT / "models", models, ignore=shutil.ignore_patterns("*.pt", "*.npz"))
    shutil.copy(REPO_ROOT / "models" / ModelManifest(REPO_ROOT / "models").entry("emotion")["file"], models)
    return models


def test_an_int8_network_of_other_weights_is_not_run(shared, tmp_path, caplog):
    import json

    models = _models_copy(tmp_path)
    data = json.loads((models / "manifest.json").read_text())
    data["models"]["emotion_int8"]["quantized_from"] = "0" * 64  # as after shipping new weights
    (models / "manifest.json").write_text(json.dumps(data))
    clf = EmotionClassifier.from_manifest(ModelManifest(models), backend="onnx", cache_dir=tmp_path / "cache")
    assert clf.precision == "fp32"
    assert "quantized from other weights" in caplog.text and "quantize-emotion" in caplog.text


def test_a_corrupt_int8_file_is_refused_and_the_float_network_serves(shared, tmp_path, caplog):
    models = _models_copy(tmp_path)
    int8_file = models / ModelManifest(models).entry("emotion_int8")["file"]
    int8_file.write_bytes(int8_file.read_bytes()[:1000])
    clf = EmotionClassifier.from_manifest(ModelManifest(models), backend="onnx", cache_dir=tmp_path / "cache")
    assert clf.precision == "fp32" and clf.predict(_fer_faces(1)).shape == (7, 7)
    assert "sha256" in caplog.text and "quantize-emotion" in caplog.text


def test_hosts_that_do_not_run_onnx_never_look_for_the_int8_network(shared, tmp_path, caplog):
    import json

    models = _models_copy(tmp_path)
    data = json.loads((models / "manifest.json").read_text())
    data["models"]["emotion_int8"]["quantized_from"] = "0" * 64  # stale, as after `edge install-model`
    (models / "manifest.json").write_text(json.dumps(data))
    clf = EmotionClassifier.from_manifest(ModelManifest(models), backend="torch")
    assert clf.precision == "fp32" and clf.predict(_fer_faces(1)).shape == (7, 7)
    assert "emotion_int8" not in caplog.text  # a Jetson (TensorRT) or torch host has nothing to mend
