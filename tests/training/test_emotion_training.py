import json

import numpy as np
import torch

from training.emotion import EmotionTrainConfig, train_emotion
from training.evaluate import evaluate_emotion


def config(fer_small, out, epochs):
    return EmotionTrainConfig(
        train=str(fer_small),
        val=str(fer_small),
        out=str(out),
        width=8,
        epochs=epochs,
        batch_size=32,
        max_lr=0.05,
        threads=2,
    )


def test_short_run_lowers_the_loss_and_writes_its_outputs(fer_small, tmp_path):
    metrics = train_emotion(config(fer_small, tmp_path / "run", epochs=6))
    losses = [h["train_loss"] for h in metrics["history"]]
    assert losses[-1] < losses[0]
    for name in ("model.pt", "last.pt", "metrics.json", "curves.png", "confusion_val.png"):
        assert (tmp_path / "run" / name).exists(), name
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["val"]["n"] == 84 and len(saved["history"]) == 6


def test_resume_gives_the_same_state_as_an_uninterrupted_run(fer_small, tmp_path):
    train_emotion(config(fer_small, tmp_path / "straight", epochs=3))
    chunked = config(fer_small, tmp_path / "chunked", epochs=3)
    stopped = train_emotion(chunked, stop_after=2)
    assert stopped["stopped_after"] == 2
    train_emotion(chunked, resume=True)
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "chunked" / "last.pt", weights_only=False)
    assert a["epoch"] == b["epoch"] == 3
    for key in a["model"]:
        assert torch.allclose(a["model"][key].float(), b["model"][key].float(), atol=1e-6), key
    assert [h["val_acc"] for h in a["history"]] == [h["val_acc"] for h in b["history"]]


def test_evaluate_any_kaggle_folder(fer_small, tmp_path):
    report = evaluate_emotion(str(fer_small), None, out=str(tmp_path / "ev"))
    assert report["n"] == 84 and 0 <= report["accuracy"] <= 1
    assert np.array(report["confusion_matrix"]).sum() == 84
    assert (tmp_path / "ev" / "confusion.png").exists() and (tmp_path / "ev" / "report.json").exists()


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
    from training.ship import ship_emotion

    cfg = config(fer_small, tmp_path / "run5", epochs=1)
    cfg.classes = "fer5"
    train_emotion(cfg)
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(ROOT / "models" / "manifest.json", models)
    entry = ship_emotion(tmp_path / "run5", models, "emotion5", tta="flip")
    assert entry["file"] == "emotion5_resnet9_w8.pt" and len(entry["classes"]) == 5
    manifest = ModelManifest(models)
    assert manifest.verified_path("emotion5").name == "emotion5_resnet9_w8.pt"
    assert manifest.entry("emotion")["file"] == "emotion_resnet9_w32.pt"  # the 7-class entry is untouched
    assert (models / "emotion5" / "curves.png").exists()
