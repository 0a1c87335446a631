"""Ship a trained emotion run into ``models/``: weights, manifest entry, plots."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from edge.manifest import sha256_of
from edge.models.labels import CLASS_SETS
from training.manifest import update_entry
from training.quantize import requantize

log = logging.getLogger(__name__)

TTA_DESCRIPTIONS = {
    "none": "the face alone",
    "flip": "average with the mirrored face",
    "zoom": "average over 6 views: the face, a 44 px centre crop and the face padded by 2 px (both scaled "
    "back to 48), and the mirrors of the three (edge.emotion.tta_views)",
}


def ship_emotion(
    run_dir: Path,
    models_dir: Path,
    name: str = "emotion",
    extra: Optional[Dict[str, Any]] = None,
    tta: str = "zoom",
):
    """Copy ``run_dir/model.pt`` as ``<name>_resnet9_w<W>.pt`` into ``models_dir`` and record it under
    ``name`` (emotion: 7 classes, emotion5: 5), with its PublicTest metrics measured with the test-time
    views ``tta`` that the service will run; plots go to ``models_dir/<name>``."""
    target, fields = emotion_entry(Path(run_dir), Path(models_dir), tta, name)
    fields.update(extra or {})
    entry = update_entry(Path(models_dir), name, target, fields)
    config = run_config(Path(run_dir))
    requantize(Path(models_dir), name, Path(config["train"]), Path(config["val"]))
    return entry


def run_config(run_dir: Path) -> Dict[str, Any]:
    """The training configuration of a run folder (from metrics.json when it finished, else last.pt)."""
    metrics_path = run_dir / "metrics.json"
    if metrics_path.exists():
        return json.loads(metrics_path.read_text())["config"]
    import torch

    return torch.load(run_dir / "last.pt", map_location="cpu", weights_only=False)["config"]


def publish_emotion(run_dir: Path, out: Path, url: str, tta: str = "zoom") -> Path:
    """Write the weights and ``emotion.json`` (a manifest entry with ``url``) for ``edge install-model``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    target, fields = emotion_entry(Path(run_dir), out, tta)
    onnx_path = export_emotion_onnx(target, fields, out / (target.stem + ".onnx"))
    fields["onnx_file"] = onnx_path.name
    fields.update(
        {
            "name": "emotion",
            "file": target.name,
            "sha256": sha256_of(target),
            "bytes": target.stat().st_size,
            "url": url,
        }
    )
    entry_path = out / "emotion.json"
    entry_path.write_text(json.dumps(fields, indent=2) + "\n")
    return entry_path


def export_emotion_onnx(weights: Path, fields: Dict[str, Any], out: Path) -> Path:
    """ONNX of the shipped weights (dynamic batch), for TensorRT or ONNX Runtime elsewhere."""
    import torch

    from edge.compile import export_onnx
    from edge.models.resnet9 import ResNet9

    net = ResNet9(num_classes=len(fields["classes"]), width=fields["width"])
    net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return export_onnx(net, (1, 48, 48), out)


def emotion_entry(
    run_dir: Path, models_dir: Path, tta: str = "zoom", name: str = "emotion"
) -> Tuple[Path, Dict[str, Any]]:
    """Copy the run's best weights (and plots) into ``models_dir``; return the file and its manifest fields.

    The metrics are the run's validation (PublicTest) report, measured again with ``tta`` when the
    validation data is still where the run found it (training validates with flips only).
    """
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    config = run_config(run_dir)
    width = int(config["width"])
    target = models_dir / f"{name}_resnet9_w{width}.pt"
    shutil.copyfile(run_dir / "model.pt", target)
    plots = models_dir / name
    plots.mkdir(exist_ok=True)
    if (run_dir / "curves.png").exists():
        shutil.copyfile(run_dir / "curves.png", plots / "curves.png")
    val, mode = (metrics["val"], "flip") if metrics else (None, tta)  # training validates with flips
    if metrics and tta != "flip":
        if Path(config["val"]).exists():
            from training.evaluate import evaluate_emotion

            # Writes plots/confusion.png and report.json for these views.
            val = evaluate_emotion(config["val"], str(run_dir / "model.pt"), "PublicTest", str(plots), tta)
            mode = tta
        else:
            log.warning("%s is gone: the metrics and tta_mode stay the training's (flips)", config["val"])
    if mode == "flip" and (run_dir / "confusion_val.png").exists():
        shutil.copyfile(run_dir / "confusion_val.png", plots / "confusion.png")
    fields: Dict[str, Any] = {
        "architecture": "ResNet9 (edge.models.resnet9.ResNet9)",
        "width": width,
        "classes": list(CLASS_SETS[config["classes"]]),
        "input": {
            "size": [48, 48],
            "channels": "gray",
            "range": "pixel / 255 (0..1)",
            "crop": "square around the MTCNN box",
            "tta_mode": mode,
            "tta": TTA_DESCRIPTIONS[mode],
        },
        "training": {
            k: config[k]
            for k in (
                "epochs",
                "batch_size",
                "optimizer",
                "max_lr",
                "weight_decay",
                "grad_clip",
                "label_smoothing",
                "seed",
            )
        },
        "data": "FER2013 train (28,709 faces); selected on PublicTest (3,589)",
        "source": "trained by this project: python -m training emotion",
        "license": "weights: MIT (this project); FER2013 data: research use",
    }
    if metrics:
        fields["metrics"] = {
            "publictest_accuracy": round(val["accuracy"], 4),
            "publictest_macro_f1": round(val["macro_f1"], 4),
            "per_class_f1": {k: round(v["f1"], 4) for k, v in val["per_class"].items()},
            "params": metrics["params"],
            "macs": metrics["macs"],
            "epochs_run": len(metrics["history"]),
            "train_time_s": round(metrics["history"][-1]["elapsed_s"]),
        }
    return target, fields
