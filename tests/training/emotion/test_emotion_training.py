import json

import numpy as np
import pytest
import torch

from edge.models.packed_state import load_state
from training.emotion.evaluate import evaluate_emotion
from training.emotion.train import EmotionTrainConfig, train_emotion


def config(fer_small, out, epochs, **changes):
    return EmotionTrainConfig(
        train=str(fer_small),
        val=str(fer_small),
        out=str(out),
        width=8,
        epochs=epochs,
        batch_size=32,
        max_lr=0.05,
        threads=2,
        **changes,
    )


@pytest.mark.parametrize("arch", ["resnet9", "xception"])
def test_short_run_lowers_the_loss_and_writes_its_outputs(fer_small, tmp_path, arch):
    cfg = config(fer_small, tmp_path / "run", epochs=6, arch=arch)
    if arch == "xception":
        cfg.max_lr = 0.01  # on 84 faces its loss wanders at 0.05 (the full data trains at 0.1)
    metrics = train_emotion(cfg)
    losses = [h["train_loss"] for h in metrics["history"]]
    assert losses[-1] < losses[0]
    for name in ("model.pt", "last.pt", "metrics.json", "curves.png", "confusion_val.png"):
        assert (tmp_path / "run" / name).exists(), name
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["val"]["n"] == 84 and len(saved["history"]) == 6


@pytest.mark.parametrize("mix", ["none", "mixup"])
def test_resume_gives_the_same_state_as_an_uninterrupted_run(fer_small, tmp_path, mix):
    train_emotion(config(fer_small, tmp_path / "straight", epochs=3, mix=mix))
    chunked = config(fer_small, tmp_path / "chunked", epochs=3, mix=mix)
    stopped = train_emotion(chunked, stop_after=2)
    assert stopped["stopped_after"] == 2
    train_emotion(chunked, resume=True)
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "chunked" / "last.pt", weights_only=False)
    assert a["epoch"] == b["epoch"] == 3
    for key in a["model"]:
        assert torch.allclose(a["model"][key].float(), b["model"][key].float(), atol=1e-6), key
    assert [h["val_acc"] for h in a["history"]] == [h["val_acc"] for h in b["history"]]
    # The per-epoch record beside the checkpoint, its clock running on across the resume.
    lines = [json.loads(line) for line in (tmp_path / "chunked" / "epochs.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2, 3]
    assert lines[2]["elapsed_s"] >= lines[1]["elapsed_s"] == round(b["history"][1]["elapsed_s"], 4)


def test_evaluate_any_kaggle_folder(fer_small, tmp_path):
    report = evaluate_emotion(str(fer_small), None, out=str(tmp_path / "ev"))
    assert report["n"] == 84 and 0 <= report["accuracy"] <= 1
    assert np.array(report["confusion_matrix"]).sum() == 84
    assert (tmp_path / "ev" / "confusion.png").exists() and (tmp_path / "ev" / "report.json").exists()


def test_evaluate_an_ensemble_averages_the_models_probabilities(fer_small, tmp_path):
    from edge.config import REPO_ROOT
    from edge.manifest import ModelManifest
    from training.emotion.fer import load_folder
    from training.emotion.train import emotion_net_from_weights, predict_probs

    shipped = ModelManifest(REPO_ROOT / "models")
    path = shipped.verified_path("emotion")
    state = torch.load(path, weights_only=True)
    for key in [k for k in state if k.endswith("classifier.3.bias")]:  # the last layer (of each member)
        state[key] = state[key] + torch.linspace(-2, 2, 7)  # another opinion
    other = tmp_path / "other.pt"
    torch.save(state, other)

    report = evaluate_emotion(str(fer_small), [str(path), str(other)], tta="flip")

    faces = load_folder(fer_small)
    probs = np.mean([predict_probs(emotion_net_from_weights(p), faces.images, tta="flip") for p in (path, other)], 0)
    assert report["n"] == 84 and report["accuracy"] == pytest.approx((probs.argmax(1) == faces.labels).mean())
    assert " + " in report["model"] and report["tta"] == "flip"
    from edge.models.emotion_net import HEAD_KEYS

    five = tmp_path / "five.pt"  # a 5-class network: each member's last layer without disgust and fear
    torch.save({k: v[[0, 3, 4, 5, 6]] if k.endswith(HEAD_KEYS) else v for k, v in state.items()}, five)
    with pytest.raises(ValueError, match="do not share one list of classes"):
        evaluate_emotion(str(fer_small), [str(path), str(five)])


def test_torchrun_with_two_processes_trains_and_writes_one_model(fer_small, tmp_path):
    import subprocess
    import sys

    from edge.models.resnet9 import ResNet9
    from tests.conftest import ROOT

    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "training"]
    cmd += ["emotion", "--train", str(fer_small), "--val", str(fer_small), "--out", str(out), "--width", "8"]
    cmd += ["--epochs", "2", "--batch-size", "32", "--max-lr", "0.05", "--threads", "1", "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "distributed: 2 processes on cpu, 16 faces each per step" in proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["history"]) == 2 and metrics["val"]["n"] == 84
    assert metrics["history"][0]["train_faces"] == 84  # every face once per epoch, across both processes
    model = ResNet9(num_classes=7, width=8)
    model.load_state_dict(torch.load(out / "model.pt", weights_only=True))  # plain keys, no "module."


def test_ship_a_five_class_run_beside_the_seven_class_model(fer_small, tmp_path):
    import shutil

    from edge.manifest import ModelManifest
    from tests.conftest import ROOT
    from training.emotion.ship import ship_emotion

    cfg = config(fer_small, tmp_path / "run5", epochs=1)
    cfg.classes = "fer5"
    train_emotion(cfg)
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(ROOT / "models" / "manifest.json", models)
    seven_before = ModelManifest(models).entry("emotion")
    entry = ship_emotion(tmp_path / "run5", models, "emotion5", tta="flip", demo=False)
    assert entry["file"] == "emotion5_resnet9_w8.pt" and len(entry["classes"]) == 5
    # Calibrated anew for these weights (the shipped emotion5's temperature belonged to others).
    assert entry["calibration"]["publictest"]["faces"] == 5 * 12 and "demo_video" not in entry["calibration"]
    assert (models / "emotion5" / "reliability.png").exists()
    manifest = ModelManifest(models)
    assert manifest.verified_path("emotion5").name == "emotion5_resnet9_w8.pt"
    assert manifest.entry("emotion") == seven_before  # the 7-class entry is untouched
    assert (models / "emotion5" / "curves.png").exists()
    # The run's training faces are still here: the new weights ship with their INT8 network, measured.
    int8 = manifest.entry("emotion5_int8")
    assert int8["quantized_from"] == entry["sha256"] and int8["metrics"]["faces"] == 5 * 12
    assert manifest.verified_path("emotion5_int8").name == "emotion5_resnet9_w8_int8.onnx"


def test_ship_two_runs_of_two_families_as_one_averaged_network(fer_small, tmp_path):
    import shutil

    from edge.emotion import EmotionClassifier
    from edge.manifest import ModelManifest
    from tests.conftest import ROOT
    from training.cli import main as training_main

    # A ResNet9 and an XceptionNet: the families an average mixes to make different mistakes.
    for seed, arch in ((1, "resnet9"), (2, "xception")):
        train_emotion(config(fer_small, tmp_path / f"run{seed}", epochs=1, seed=seed, arch=arch))
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(ROOT / "models" / "manifest.json", models)
    (models / "emotion").mkdir()
    (models / "emotion" / "curves.png").write_bytes(b"the replaced model's curves")
    runs = ["--run", str(tmp_path / "run1"), "--run", str(tmp_path / "run2")]
    assert training_main(["ship-emotion", *runs, "--models", str(models), "--tta", "flip", "--skip-demo"]) == 0
    manifest = ModelManifest(models)
    entry = manifest.entry("emotion")
    assert entry["file"] == "emotion_mixed_w8+xc8.pt" and entry["width"] == [8, 8]
    assert "ResNet9 w8, XceptionNet w8" in entry["architecture"] and len(entry["training"]) == 2
    # The plots are the new network's (its first member's curves), not the replaced model's.
    assert (models / "emotion" / "curves.png").read_bytes() == (tmp_path / "run1" / "curves.png").read_bytes()
    # Its accuracy is the two runs' ensemble, as evaluate-emotion measures one.
    ensemble = evaluate_emotion(str(fer_small), [str(tmp_path / f"run{s}" / "model.pt") for s in (1, 2)], tta="flip")
    assert entry["metrics"]["publictest_accuracy"] == round(ensemble["accuracy"], 4)
    # The recorded command measures the shipped file alone, and gets the same figure.
    assert entry["metrics_command"].endswith(
        f"--usage PublicTest --tta flip --train {fer_small} --model models/{entry['file']}"
    )
    # Here the training faces are the validation faces: every one is a copy but the blank one (an angry
    # "face" of one gray, which FER2013 holds), which alone is left to score.
    assert entry["metrics"]["publictest_training_copies"] == 83
    assert entry["metrics"]["publictest_accuracy_without_training_copies"] in (0.0, 1.0)
    alone = evaluate_emotion(str(fer_small), str(models / entry["file"]), tta="flip", models_dir=models)
    assert round(alone["accuracy"], 4) == entry["metrics"]["publictest_accuracy"]
    assert entry["ship_command"].count("--run ") == 2
    member_macs = [json.loads((tmp_path / f"run{s}" / "metrics.json").read_text())["macs"] for s in (1, 2)]
    assert entry["metrics"]["macs"] == sum(member_macs) and member_macs[0] != member_macs[1]
    assert manifest.entry("emotion_int8")["quantized_from"] == entry["sha256"]
    faces = np.zeros((3, 1, 48, 48), np.float32) + 0.5
    for backend in ("torch", "onnx"):
        clf = EmotionClassifier.from_manifest(manifest, backend=backend, cache_dir=tmp_path / "cache")
        assert clf.predict(faces).shape == (3, 7)
    # The 5-class model is cut from every member.
    from training.emotion.five_class import derive_five_class

    five = derive_five_class(models, fer_small, train=fer_small, demo=False)
    assert five["derived_from"] == "emotion" and five["file"] == "emotion_mixed_w8+xc8.pt"
    clf5 = EmotionClassifier.from_manifest(ModelManifest(models), "emotion5", backend="torch")
    assert clf5.predict(faces).shape == (3, 5)


def _teacher_sure_of(label, path, num_classes=7):
    """A teacher that calls every face ``label``: a ResNet9 whose last layer only has a bias."""
    from edge.models.resnet9 import ResNet9

    net = ResNet9(num_classes=num_classes, width=8)
    last = net.classifier[3]
    torch.nn.init.zeros_(last.weight)
    with torch.no_grad():
        last.bias.zero_()
        last.bias[label] = 20.0
    torch.save(net.state_dict(), path)
    return str(path)


def test_a_student_learns_what_its_teacher_says(fer_small, tmp_path):
    from training.emotion.fer import load_fer
    from training.emotion.train import emotion_net_from_weights, predict_probs

    faces = load_fer(fer_small)

    def shares(name, teachers):
        cfg = config(fer_small, tmp_path / name, epochs=4)
        cfg.teachers, cfg.distill_alpha, cfg.distill_temperature = teachers, 1.0, 1.0  # the teacher's word only
        train_emotion(cfg)
        student = emotion_net_from_weights(tmp_path / name / "model.pt")
        return np.bincount(predict_probs(student, faces.images, tta="none").argmax(1), minlength=7) / len(faces)

    # Four epochs on 84 faces leave a network that favours some class or other (which one depends on the CPU's
    # arithmetic: bf16 or fp32). The teacher insists on the class the data alone made rarest, so what the
    # student says of it can only come from the teacher.
    alone = shares("alone", [])
    rarest = int(alone.argmin())
    taught = shares("taught", [_teacher_sure_of(rarest, tmp_path / "teacher.pt")])
    assert taught[rarest] > 0.9, (alone, taught)


def test_a_teacher_with_other_classes_is_refused_by_name(fer_small, tmp_path):
    import pytest

    cfg = config(fer_small, tmp_path / "run", epochs=1)
    cfg.classes = "fer5"
    cfg.teachers = [_teacher_sure_of(0, tmp_path / "seven.pt")]
    with pytest.raises(ValueError, match="seven.pt predicts 7 classes, this run trains 5"):
        train_emotion(cfg)


def test_a_weight_average_is_validated_each_epoch_and_resumes_exactly(fer_small, tmp_path):
    straight = train_emotion(config(fer_small, tmp_path / "straight", epochs=3, ema_decay=0.9))
    chunked = config(fer_small, tmp_path / "chunked", epochs=3, ema_decay=0.9)
    train_emotion(chunked, stop_after=1)
    train_emotion(chunked, resume=True)
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "chunked" / "last.pt", weights_only=False)
    for key in a["ema"]:
        assert torch.allclose(a["ema"][key].float(), b["ema"][key].float(), atol=1e-6), key
    history = straight["history"]
    assert all(0 <= h["ema_val_acc"] <= 1 for h in history)
    # The average is a different network from the trained weights, and model.pt is the better of the two.
    assert any(not torch.equal(a["ema"]["module." + k], v) for k, v in a["model"].items() if v.is_floating_point())
    assert straight["best_val_acc"] == max(max(h["val_acc"], h["ema_val_acc"]) for h in history)


def test_a_weight_average_decay_outside_zero_to_one_is_refused(fer_small, tmp_path):
    with pytest.raises(ValueError, match="ema_decay"):
        train_emotion(config(fer_small, tmp_path / "run", epochs=1, ema_decay=1.5))


def test_a_descriptor_run_fine_tunes_the_face_descriptors_trunk(fer_small, tmp_path):
    from edge.config import REPO_ROOT
    from edge.models.descriptor_emotion import DescriptorEmotionNet
    from training.emotion.train import emotion_net_from_weights

    descriptor = REPO_ROOT / "models" / "face_descriptor_128.pt"
    cfg = config(fer_small, tmp_path / "run", epochs=4, arch="descriptor", init_from=str(descriptor))
    cfg.width, cfg.max_lr = 32, 0.005
    metrics = train_emotion(cfg)
    assert metrics["history"][-1]["train_loss"] < metrics["history"][0]["train_loss"]
    tuned = emotion_net_from_weights(tmp_path / "run" / "model.pt")
    assert isinstance(tuned, DescriptorEmotionNet)
    # Fine-tuned, not trained from scratch: the first filters moved, but little.
    start = load_state(descriptor)["conv32_down.conv.weight"].flatten()
    after = tuned.conv32_down.conv.weight.detach().flatten()
    assert not torch.equal(start, after)
    assert torch.nn.functional.cosine_similarity(start, after, dim=0) > 0.99
    # Starting a run from weights of another network says so.
    resnet9 = _teacher_sure_of(0, tmp_path / "resnet9.pt")
    other = config(fer_small, tmp_path / "other", epochs=1, arch="descriptor", init_from=str(resnet9))
    other.width = 32
    with pytest.raises(ValueError, match="not the face descriptor's weights"):
        train_emotion(other)


def test_an_expression_run_fine_tunes_face_apis_network(fer_small, tmp_path):
    from edge.config import REPO_ROOT
    from edge.models.expression_net import FaceExpressionNet
    from training.convert.faceapi import main as convert
    from training.emotion.train import emotion_net_from_weights

    manifest = REPO_ROOT / "training" / "weights" / "faceapi-expression" / "face_expression_model-weights_manifest.json"
    start = convert(manifest, tmp_path / "faceapi_expression_fer7.pt", expression=True)
    cfg = config(fer_small, tmp_path / "run", epochs=3, arch="expression", init_from=str(start))
    cfg.width, cfg.max_lr = 32, 0.003
    metrics = train_emotion(cfg)
    assert len(metrics["history"]) == 3
    tuned = emotion_net_from_weights(tmp_path / "run" / "model.pt")
    assert isinstance(tuned, FaceExpressionNet)
    # Fine-tuned from face-api.js's filters, head included, not trained from scratch.
    before = torch.load(start, weights_only=True)
    for key in ("dense0.conv0.depthwise.weight", "classifier.3.weight"):
        moved = tuned.state_dict()[key].flatten()
        assert not torch.equal(before[key].flatten(), moved)
        assert torch.nn.functional.cosine_similarity(before[key].flatten(), moved, dim=0) > 0.95
    resnet9 = _teacher_sure_of(0, tmp_path / "resnet9.pt")
    other = config(fer_small, tmp_path / "other", epochs=1, arch="expression", init_from=str(resnet9))
    other.width = 32
    with pytest.raises(ValueError, match="convert-faceapi-expression"):
        train_emotion(other)
