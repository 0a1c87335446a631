"""aws/retrain.sh: lint, the dry-run plan, and the train -> publish -> install path it drives, run for real on CPU."""

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from edge.manifest import ModelError, ModelManifest, install_model, sha256_of
from training.cli import main as training_main

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_shell_scripts_pass_bash_n_and_shellcheck():
    scripts = sorted(str(p) for p in ROOT.glob("**/*.sh") if ".venv" not in p.parts) + [str(ROOT / ".ci" / "run")]
    assert any(s.endswith("retrain.sh") for s in scripts)
    for script in scripts:
        assert subprocess.run(["bash", "-n", script]).returncode == 0, script
    out = subprocess.run([str(BIN / "shellcheck"), *scripts], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


def dry_run(tmp_path, *extra):
    bucket = tmp_path / "bucket"
    (bucket / "data" / "fer2013").mkdir(parents=True)
    out = subprocess.run(
        ["bash", str(ROOT / "aws" / "retrain.sh"), "--bucket", str(bucket), "--dry-run", "--run-id", "r1", *extra],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "WORK": str(tmp_path / "work")},
    )
    assert out.returncode == 0, out.stderr
    return out.stdout, out.stderr


def test_dry_run_prints_the_plan_and_does_nothing(tmp_path):
    stdout, stderr = dry_run(tmp_path, "--width", "32", "--epochs", "3", "--people", "staff")
    plan = [line[2:] for line in stdout.splitlines() if line.startswith("+ ")]
    assert plan[0].startswith("docker build")
    assert any("emotion --train /work/data/fer2013/train" in step and "--width 32" in step for step in plan)
    assert "install-model" in stdout and "missing:" in stderr  # prerequisites are reported
    assert any(step.split("edge-train:latest ")[-1].startswith("identity --data /work/data/staff") for step in plan)
    assert not (tmp_path / "work").exists() and not (tmp_path / "bucket" / "runs").exists()
    check_training_steps(plan)


def check_training_steps(plan):
    """The training commands the plan runs inside the image exist and take exactly those arguments."""
    for step in plan:
        if step.startswith("docker run") and "edge-train:latest" in step:
            args = shlex.split(step.split("edge-train:latest", 1)[1])
            if "--entrypoint torchrun" in step:
                assert args[:4] == ["--nproc-per-node", "4", "-m", "training"], args
                args = args[4:]
            with pytest.raises(SystemExit) as parsed:
                training_main([args[0], "--help"])
            assert parsed.value.code == 0
            from training.cli import COMMANDS

            assert args[0] in COMMANDS


def test_several_gpus_train_with_torchrun(tmp_path):
    stdout, _ = dry_run(tmp_path, "--gpus", "4")
    plan = [line[2:] for line in stdout.splitlines() if line.startswith("+ ")]
    emotion = [step for step in plan if " emotion --train " in step]
    assert len(emotion) == 1 and "--entrypoint torchrun edge-train:latest --nproc-per-node 4" in emotion[0]
    check_training_steps(plan)
    out = subprocess.run(
        ["bash", str(ROOT / "aws" / "retrain.sh"), "--bucket", str(tmp_path), "--gpus", "two"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "--gpus needs a positive number" in out.stderr


def test_unknown_option_and_missing_bucket_are_explained(tmp_path):
    out = subprocess.run(["bash", str(ROOT / "aws" / "retrain.sh"), "--frobnicate"], capture_output=True, text=True)
    assert out.returncode == 2 and "unknown option" in out.stderr
    out = subprocess.run(["bash", str(ROOT / "aws" / "retrain.sh")], capture_output=True, text=True)
    assert out.returncode == 2 and "--bucket" in out.stderr


def test_train_publish_install_on_cpu(fer_small, tmp_path):
    """The commands retrain.sh runs, on a few hundred real faces, down to the device installing the model."""
    run = tmp_path / "run"
    args = [
        "emotion",
        "--train",
        str(fer_small),
        "--val",
        str(fer_small),
        "--width",
        "8",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--out",
        str(run),
    ]
    assert training_main(args) == 0
    assert (
        training_main(
            [
                "evaluate-emotion",
                "--data",
                str(fer_small),
                "--model",
                str(run / "model.pt"),
                "--out",
                str(tmp_path / "eval"),
            ]
        )
        == 0
    )
    publish = tmp_path / "publish"
    url = (publish / "emotion_resnet9_w8.pt").as_uri()
    publish_args = ["publish-emotion", "--run", str(run), "--out", str(publish), "--url", url, "--skip-demo"]
    assert training_main(publish_args) == 0
    assert (publish / "emotion_resnet9_w8.onnx").exists()
    published = json.loads((publish / "emotion.json").read_text())
    # A device cannot calibrate or quantize (no FER2013 faces there): both travel with the weights.
    assert published["calibration"]["temperature"] > 0 and 0 < published["calibration"]["uncertain_below"] < 1
    assert (publish / "emotion" / "reliability.png").exists()
    int8 = published["int8"]
    assert int8["file"] == "emotion_resnet9_w8_int8.onnx" and int8["quantized_from"] == published["sha256"]
    assert int8["url"] == (publish / int8["file"]).as_uri() and sha256_of(publish / int8["file"]) == int8["sha256"]
    # The device side: a models folder like the Jetson volume.
    device_models = tmp_path / "device-models"
    device_models.mkdir()
    (device_models / "manifest.json").write_text((ROOT / "models" / "manifest.json").read_text())
    entry = install_model(device_models, (publish / "emotion.json").as_uri())
    assert entry["width"] == 8
    manifest = ModelManifest(device_models)
    assert manifest.verified_path("emotion").name == "emotion_resnet9_w8.pt"
    from edge.emotion import EmotionClassifier

    clf = EmotionClassifier.from_manifest(manifest, backend="torch")
    assert clf.classes[3] == "happy"
    # The CPU service runs the published INT8 network with the published calibration.
    assert manifest.entry("emotion_int8")["installed_at"] == entry["installed_at"]
    cpu = EmotionClassifier.from_manifest(manifest, backend="onnx")
    assert cpu.precision == "int8" and cpu.temperature == published["calibration"]["temperature"]
    assert cpu.uncertain_below == published["calibration"]["uncertain_below"]


def test_an_install_whose_int8_file_is_corrupt_changes_nothing(tmp_path):
    """The INT8 download is checked before the manifest changes: a bad file leaves the device as it was."""
    publish = tmp_path / "publish"
    publish.mkdir()
    (publish / "w.pt").write_bytes(b"weights")
    (publish / "w_int8.onnx").write_bytes(b"not what was published")
    entry = {
        "name": "emotion",
        "file": "w.pt",
        "sha256": sha256_of(publish / "w.pt"),
        "url": (publish / "w.pt").as_uri(),
        "int8": {"file": "w_int8.onnx", "sha256": "0" * 64, "url": (publish / "w_int8.onnx").as_uri()},
    }
    (publish / "emotion.json").write_text(json.dumps(entry))
    device_models = tmp_path / "device-models"
    device_models.mkdir()
    before = (ROOT / "models" / "manifest.json").read_text()
    (device_models / "manifest.json").write_text(before)
    with pytest.raises(ModelError, match="sha256"):
        install_model(device_models, (publish / "emotion.json").as_uri())
    assert (device_models / "manifest.json").read_text() == before
    assert not (device_models / "w_int8.onnx").exists()


def test_a_signed_weights_link_needs_its_own_int8_link():
    from training.emotion.ship import sibling_url

    assert sibling_url("https://b/runs/1/w.pt", "w.pt", "w_int8.onnx") == "https://b/runs/1/w_int8.onnx"
    with pytest.raises(ValueError, match="--int8-url"):
        sibling_url("https://b.s3.amazonaws.com/w.pt?X-Amz-Signature=abc", "w.pt", "w_int8.onnx")


def test_the_script_runs_from_any_directory_and_re_signs_a_run_without_training(tmp_path):
    bucket = tmp_path / "bucket"
    (bucket / "data" / "fer2013").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = str(ROOT / "aws" / "retrain.sh")
    env = {"PATH": "/usr/bin:/bin", "WORK": str(tmp_path / "work")}
    out = subprocess.run(
        ["bash", script, "--bucket", str(bucket), "--dry-run", "--resign", "r7"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    plan = [line[2:] for line in out.stdout.splitlines() if line.startswith("+ ")]
    assert plan[0] == f"docker build -t edge-train:latest -f {ROOT}/aws/Dockerfile {ROOT}"
    assert not any(" emotion --train" in step or "evaluate-emotion" in step for step in plan)  # no training
    assert any("publish-emotion --run /work/runs/r7/emotion" in step for step in plan)
    assert "install-model" in out.stdout


def test_a_trained_head_comes_with_how_to_install_it(tmp_path):
    stdout, _ = dry_run(tmp_path, "--people", "staff")
    assert "EDGE_IDENTITY__HEAD=/data/identity_head.pt" in stdout and "docker compose up -d" in stdout
    assert "fetch-models" in (ROOT / "aws" / "Dockerfile").read_text()  # the head is trained on VGGFace2
