"""Ship a trained emotion run into ``models/``: weights, manifest entry, plots."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, NamedTuple, Optional, Sequence, Tuple, Union

from edge.manifest import ModelManifest, int8_entry_name, sha256_of
from edge.models.labels import CLASS_SETS
from training.emotion.calibrate import calibrate_emotion
from training.emotion.quantize import requantize
from training.manifest import copies_metrics, evaluation_command, update_entry

log = logging.getLogger(__name__)


class Family(NamedTuple):
    """How the manifest and file names speak of a network family (a run config's ``arch``)."""

    name: str  # in the manifest's architecture text
    where: str  # the class that holds it
    tag: str  # before its width in file names: w64, xc24, fmx8


FAMILIES = {
    "resnet9": Family("ResNet9", "edge.models.resnet9.ResNet9", "w"),
    "xception": Family("XceptionNet", "edge.models.xception.XceptionNet", "xc"),
    "fer-mini-xception": Family("fer's mini-Xception", "edge.models.mini_xception.MiniXception", "fmx"),
    "human-big-xception": Family("Human's big Xception", "edge.models.mini_xception.BigXception", "hbx"),
    "descriptor": Family("face descriptor trunk", "edge.models.descriptor_emotion.DescriptorEmotionNet", "dt"),
    "expression": Family("face-api expression network", "edge.models.expression_net.FaceExpressionNet", "fx"),
}

TTA_DESCRIPTIONS = {
    "none": "the face alone",
    "flip": "average with the mirrored face",
    "zoom": "average over 6 views: the face, a 44 px centre crop and the face padded by 2 px (both scaled "
    "back to 48), and the mirrors of the three (edge.emotion.tta_views)",
}


def ship_emotion(
    runs: Union[Path, Sequence[Path]],
    models_dir: Path,
    name: str = "emotion",
    extra: Optional[Dict[str, Any]] = None,
    tta: str = "zoom",
    demo: bool = True,
):
    """Ship run folders' best weights into ``models_dir`` under manifest entry ``name`` (emotion: 7 classes,
    emotion5: 5), with their PublicTest metrics measured with the test-time views ``tta`` that the service will
    run; plots go to ``models_dir/<name>``. One run ships as ``<name>_resnet9_w<W>.pt``; several ship as one
    averaged network (``edge.models.emotion_net.AveragedNetwork``), ``<name>_resnet9_w<W1>+w<W2>.pt``; other
    families tag their widths by ``FAMILIES`` and several families make the name ``mixed``:
    ``<name>_mixed_w64+w32+fmx8.pt``.

    The entry gets its calibration (temperature and uncertain threshold fitted on PublicTest, the demo video's
    labels with ``demo``) and its INT8 network when the run's FER2013 faces are still here: new weights must
    not ship with the old weights' calibration, or none."""
    runs = [Path(runs)] if isinstance(runs, (str, Path)) else [Path(r) for r in runs]
    models_dir = Path(models_dir)
    target, fields = emotion_entry(runs, models_dir, tta, name)
    fields.update(extra or {})
    update_entry(models_dir, name, target, fields)
    config = run_config(runs[0])
    return finish_for_devices(models_dir, name, Path(config["train"]), Path(config["val"]), demo)


def finish_for_devices(models_dir: Path, name: str, train: Path, val: Path, demo: bool = True) -> Dict[str, Any]:
    """After new weights ship under ``name``: fit their calibration on ``val`` (PublicTest) and quantize them
    with ``train`` faces, where those are (a warning says what is missing otherwise); returns the entry."""
    if Path(val).is_dir():
        calibrate_emotion(Path(val), models_dir, models_dir / name, write=True, name=name, demo=demo)
    else:
        log.warning("%s is missing: %s ships uncalibrated (no uncertain state)", val, name)
    requantize(models_dir, name, Path(train), Path(val))
    return ModelManifest(models_dir).entry(name)


def run_config(run_dir: Path) -> Dict[str, Any]:
    """The training configuration of a run folder (from metrics.json when it finished, else last.pt)."""
    metrics_path = run_dir / "metrics.json"
    if metrics_path.exists():
        return json.loads(metrics_path.read_text())["config"]
    import torch

    return torch.load(run_dir / "last.pt", map_location="cpu", weights_only=False)["config"]


def publish_emotion(
    run_dir: Path, out: Path, url: str, tta: str = "zoom", int8_url: Optional[str] = None, demo: bool = True
) -> Path:
    """Write what ``edge install-model`` installs on a device into ``out``: the weights, their ONNX, their INT8
    ONNX for CPUs, and ``emotion.json``, the manifest entry with ``url``, the calibration fitted on PublicTest
    and the INT8 network's own entry (downloaded from ``int8_url``, by default ``url`` with the INT8 file's
    name in place of the weights'). The run's FER2013 faces must still be where it trained: a device has none
    to calibrate or quantize with."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = run_config(Path(run_dir))
    missing = [p for p in (config["train"], config["val"]) if not Path(p).is_dir()]
    if missing:
        raise FileNotFoundError(f"{missing} missing: publishing calibrates and quantizes on the run's FER2013 faces")
    target, fields = emotion_entry([Path(run_dir)], out, tta)
    fields["onnx_file"] = export_emotion_onnx(target, fields, out / (target.stem + ".onnx")).name
    with tempfile.TemporaryDirectory() as tmp:
        # A models folder of its own, so calibration and quantization run exactly as `ship-emotion` runs them.
        staged = Path(tmp)
        update_entry(staged, "emotion", target, fields)
        calibration = finish_for_devices(staged, "emotion", Path(config["train"]), Path(config["val"]), demo)[
            "calibration"
        ]
        int8 = ModelManifest(staged).entry(int8_entry_name("emotion"))
        shutil.copyfile(staged / int8["file"], out / int8["file"])
        shutil.copytree(staged / "emotion", out / "emotion", dirs_exist_ok=True)  # reliability.png
    calibration["command"] = "python -m training publish-emotion (as calibrate-emotion --write)"
    int8["url"] = int8_url or sibling_url(url, target.name, int8["file"])
    fields.update(
        {
            "name": "emotion",
            "file": target.name,
            "sha256": sha256_of(target),
            "bytes": target.stat().st_size,
            "url": url,
            "calibration": calibration,
            "int8": int8,
        }
    )
    entry_path = out / "emotion.json"
    entry_path.write_text(json.dumps(fields, indent=2) + "\n")
    return entry_path


def sibling_url(url: str, name: str, sibling: str) -> str:
    """``url`` of file ``name`` with ``sibling`` in its place (same folder); signed links cannot be rewritten."""
    if not url.endswith("/" + name):
        raise ValueError(f"{url} does not end with /{name}: give the INT8 network's own link (--int8-url)")
    return url[: -len(name)] + sibling


def export_emotion_onnx(weights: Path, fields: Dict[str, Any], out: Path) -> Path:
    """ONNX of the shipped weights (dynamic batch), for TensorRT or ONNX Runtime elsewhere."""
    from edge.compile import export_onnx
    from training.emotion.train import emotion_net_from_weights

    return export_onnx(emotion_net_from_weights(weights), (1, 48, 48), out)


def emotion_entry(
    runs: Sequence[Path], models_dir: Path, tta: str = "zoom", name: str = "emotion"
) -> Tuple[Path, Dict[str, Any]]:
    """Write the runs' best weights (one run's copied, several averaged) and plots into ``models_dir``; return
    the file and its manifest fields.

    The metrics are a single run's validation (PublicTest) report, measured again with ``tta`` when the
    validation data is still where the run found it (training validates with flips only); an averaged
    network is always measured, so its data must be there.
    """
    configs = [run_config(r) for r in runs]
    widths = [int(c["width"]) for c in configs]
    families = [c.get("arch", "resnet9") for c in configs]  # runs from before --arch are all ResNet9s
    # emotion_resnet9_w64+w32.pt, emotion_xception_xc24.pt; members of several families: emotion_mixed_w64+xc24.pt.
    tags = [FAMILIES[f].tag + str(w) for f, w in zip(families, widths)]
    family = families[0] if len(set(families)) == 1 else "mixed"
    target = models_dir / f"{name}_{family}_{'+'.join(tags)}.pt"
    plots = models_dir / name
    plots.mkdir(exist_ok=True)
    # The first run's training curves (of an averaged network: its first member's); never the replaced model's.
    if (runs[0] / "curves.png").exists():
        shutil.copyfile(runs[0] / "curves.png", plots / "curves.png")
    else:
        (plots / "curves.png").unlink(missing_ok=True)
    if len(runs) == 1:
        # As trained, in float32: a single run may ship with its training's figures, measured on these bytes.
        shutil.copyfile(runs[0] / "model.pt", target)
    else:
        import torch

        from edge.models.emotion_net import averaged_state

        states = [torch.load(r / "model.pt", map_location="cpu", weights_only=True) for r in runs]
        torch.save(stored_half(averaged_state(states)), target)
    config = configs[0]
    metrics_path = runs[0] / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() and len(runs) == 1 else {}
    val, mode = (metrics["val"], "flip") if metrics else (None, tta)  # training validates with flips
    if len(runs) > 1 or (metrics and tta != "flip"):
        if Path(config["val"]).exists():
            from training.emotion.evaluate import evaluate_emotion

            # Writes plots/confusion.png and report.json for these views.
            train = config["train"] if Path(config["train"]).exists() else None
            val = evaluate_emotion(config["val"], str(target), "PublicTest", str(plots), tta, train=train)
            mode = tta
        elif len(runs) > 1:
            raise FileNotFoundError(f"{config['val']} is gone: an averaged network ships only with its PublicTest")
        else:
            log.warning("%s is gone: the metrics and tta_mode stay the training's (flips)", config["val"])
    if mode == "flip" and len(runs) == 1 and (runs[0] / "confusion_val.png").exists():
        shutil.copyfile(runs[0] / "confusion_val.png", plots / "confusion.png")
    fields: Dict[str, Any] = {
        "architecture": architecture_text(families, widths),
        "width": widths[0] if len(runs) == 1 else widths,
        "classes": list(CLASS_SETS[config["classes"]]),
        "input": {
            "size": [48, 48],
            "channels": "gray",
            "range": "pixel / 255 (0..1)",
            "crop": "square around the MTCNN box",
            "tta_mode": mode,
            "tta": TTA_DESCRIPTIONS[mode],
        },
        "training": training_fields(config) if len(runs) == 1 else [training_fields(c) for c in configs],
        "data": "FER2013 train (28,709 faces); selected on PublicTest (3,589)",
        "source": "trained by this project: python -m training emotion",
        "license": "weights: MIT (this project); FER2013 data: research use",
        "ship_command": "python -m training ship-emotion "
        + " ".join(f"--run {r}" for r in runs)
        + f" --tta {tta}"
        + ("" if name == "emotion" else f" --name {name}"),
    }
    if val is not None:
        unseen = val.get("without_training_copies")
        fields["metrics_command"] = evaluation_command(
            config["val"], target.name, mode, train=unseen["train"] if unseen else None
        )
        fields["metrics"] = {
            "publictest_accuracy": round(val["accuracy"], 4),
            "publictest_macro_f1": round(val["macro_f1"], 4),
            "per_class_f1": {k: round(v["f1"], 4) for k, v in val["per_class"].items()},
        }
        fields["metrics"].update(copies_metrics(val))
    if metrics:
        fields["metrics"].update({"params": metrics["params"], "macs": metrics["macs"]})
        if metrics["history"]:  # a converted network has none
            fields["metrics"]["epochs_run"] = len(metrics["history"])
            fields["metrics"]["train_time_s"] = round(metrics["history"][-1]["elapsed_s"])
    elif len(runs) > 1:
        from edge.models.emotion_net import count_macs
        from training.emotion.train import emotion_net_from_weights

        net = emotion_net_from_weights(target)
        fields["metrics"].update({"params": sum(p.numel() for p in net.parameters()), "macs": count_macs(net)})
        fields["source"] += f" ({len(runs)} runs averaged by ship_command)"
    converted = [c["source"] for c in configs if "source" in c]
    if converted:
        fields["source"] += "; converted: " + "; ".join(converted)
        fields["license"] = "weights: MIT (this project; converted members: see source); FER2013: research use"
    return target, fields


def stored_half(state: Dict[str, Any]) -> Dict[str, Any]:
    """``state`` with its floating tensors in float16, to store: the repository keeps every shipped network in
    its history, and averages of several members are large. The service still computes in float32 (loading
    casts them back; the largest relative change is about 5e-4), and the accuracy recorded is measured on
    the stored file."""
    return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}


def architecture_text(families: Sequence[str], widths: Sequence[int]) -> str:
    """What a manifest entry says the network is: one family's class, or the members of an average."""
    if len(families) == 1:
        family = FAMILIES[families[0]]
        return f"{family.name} ({family.where})"
    names = ", ".join(f"{FAMILIES[f].name} w{w}" for f, w in zip(families, widths))
    return f"the mean probability of {len(families)} networks: {names} (edge.models.emotion_net.AveragedNetwork)"


def training_fields(config: Dict[str, Any]) -> Dict[str, Any]:
    """The training settings a manifest entry records from a run's configuration."""
    if "source" in config:  # converted, not trained here (convert-fer-emotion)
        return {"source": config["source"]}
    keys = ("epochs", "batch_size", "optimizer", "max_lr", "weight_decay", "grad_clip", "label_smoothing", "seed")
    return {k: config[k] for k in keys}
