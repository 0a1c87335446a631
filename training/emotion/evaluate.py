"""Evaluate an emotion model on any labelled set in the Kaggle layout (or fer2013.csv)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch

from edge.config import REPO_ROOT
from edge.emotion import kept_logits, network_entry
from edge.manifest import ModelManifest
from training.emotion.fer import load_fer
from training.emotion.fer_duplicates import training_copies
from training.emotion.train import emotion_net_from_weights, predict_probs
from training.metrics import classification_report, plot_confusion


class KeptLogits(torch.nn.Module):
    """A network's logits at ``positions`` only: a derived model (``emotion5``) as the service runs it."""

    def __init__(self, net: torch.nn.Module, positions: Sequence[int]) -> None:
        super().__init__()
        self.net, self.positions = net, list(positions)
        self.num_classes = len(self.positions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[:, self.positions]


def load_emotion_model(model: Optional[str], models_dir: Path = REPO_ROOT / "models", name: str = "emotion"):
    """(network, classes, test-time views) for ``model``: a weights file (its width and number of classes
    from its shapes; class names and views from the manifest entry with that file name, else the FER2013
    ones and flips), or None for the shipped model of manifest entry ``name`` (sha256-checked; a derived entry
    reads its classes' logits of its source's network)."""
    manifest = ModelManifest(models_dir)
    if model is None:
        entry = manifest.entry(name)
        net = emotion_net_from_weights(manifest.verified_path(network_entry(manifest, name)))
        positions = kept_logits(manifest, name)
        net = net if positions is None else KeptLogits(net, positions)
        return net.eval(), list(entry["classes"]), str(entry.get("input", {}).get("tta_mode", "flip"))
    path = Path(model)
    entry = next((e for e in manifest.entries.values() if e.get("file") == path.name and "derived_from" not in e), {})
    net = emotion_net_from_weights(path)
    classes = entry.get("classes")
    if classes is None:
        from edge.models.labels import FER2013_5_CLASSES, FER2013_CLASSES

        classes = list(FER2013_CLASSES if net.num_classes == 7 else FER2013_5_CLASSES)
    return net.eval(), list(classes), str(entry.get("input", {}).get("tta_mode", "flip"))


def evaluate_emotion(
    data: str,
    model: Union[None, str, Sequence[str]] = None,
    usage: str = "PrivateTest",
    out: Optional[str] = None,
    tta: Optional[str] = None,
    models_dir: Path = REPO_ROOT / "models",
    train: Optional[str] = None,
    name: str = "emotion",
) -> Dict[str, object]:
    """Accuracy, per-class P/R/F1 and the confusion matrix; writes report.json and confusion.png into ``out``.

    ``model`` is one weights file, several (an ensemble: the mean of their probabilities, each with its
    own views, to judge what a combination or a distillation teacher would reach), or None for the shipped
    model of manifest entry ``name``. ``tta`` defaults to each model's manifest ``tta_mode`` (what the
    service runs), else ``flip``; the manifest read is the one in ``models_dir``.

    With ``train`` (the training split, either layout) the report also holds ``without_training_copies``:
    the accuracy on the faces that are not copies of a training face (:mod:`training.emotion.fer_duplicates`), the
    number closer to what a face on live video meets, and the accuracy on the copies.
    """
    torch.set_flush_denormal(True)
    models = [model] if model is None or isinstance(model, str) else list(model)
    loaded = [load_emotion_model(m, Path(models_dir), name) for m in models]
    classes = loaded[0][1]
    if any(c != classes for _, c, _ in loaded):
        raise ValueError(f"the models {models} do not share one list of classes: they cannot be averaged")
    faces = load_fer(Path(data), classes=classes, usage=(usage,))
    views = [tta or default_tta for _, _, default_tta in loaded]
    probs = np.mean([predict_probs(net, faces.images, tta=v) for (net, _, _), v in zip(loaded, views)], axis=0)
    report = classification_report(faces.labels, probs.argmax(1), classes)
    report["data"] = str(data)
    report["model"] = " + ".join(str(m or f"shipped model {name!r}") for m in models)
    report["tta"] = views[0] if len(set(views)) == 1 else " + ".join(views)
    if train:
        copies = training_copies(faces.images, load_fer(Path(train), classes=classes).images)
        right = probs.argmax(1) == faces.labels
        report["without_training_copies"] = {
            "train": str(train),
            "faces": int((~copies).sum()),
            "accuracy": float(right[~copies].mean()) if (~copies).any() else None,
            "copies": int(copies.sum()),
            "accuracy_on_copies": float(right[copies].mean()) if copies.any() else None,
        }
    if out:
        out_dir = Path(out)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "report.json").write_text(json.dumps(report, indent=2))
        plot_confusion(report, out_dir / "confusion.png", title=f"Emotion on {Path(data).name}")
    return report
