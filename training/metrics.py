"""Classification metrics and the PNG plots that training and evaluation write."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> Dict[str, object]:
    """Accuracy, per-class precision/recall/F1/support, macro F1 and the confusion matrix (rows = truth)."""
    k = len(classes)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    per_class = {}
    f1s: List[float] = []
    for i, name in enumerate(classes):
        tp = cm[i, i]
        predicted = cm[:, i].sum()
        actual = cm[i, :].sum()
        precision = float(tp / predicted) if predicted else 0.0
        recall = float(tp / actual) if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        f1s.append(f1)
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": int(actual)}
    total = int(cm.sum())
    return {
        "accuracy": float(np.trace(cm) / total) if total else 0.0,
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "n": total,
        "classes": list(classes),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
    }


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(report: Dict[str, object], path: Path, title: str = "Confusion matrix") -> None:
    """Row-normalised confusion matrix with counts, as a PNG."""
    plt = _pyplot()
    cm = np.asarray(report["confusion_matrix"], dtype=float)
    classes = report["classes"]
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            color = "white" if norm[i, j] > 0.5 else "black"
            ax.text(j, i, f"{norm[i, j]:.2f}\n{int(cm[i, j])}", ha="center", va="center", fontsize=7, color=color)
    ax.set_title(f"{title} (accuracy {report['accuracy']:.3f})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_curves(history: List[Dict[str, float]], path: Path) -> None:
    """Loss and accuracy per epoch for train and validation (and the weight average's validation, for the
    epochs that have one), as a PNG."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, [h["train_loss"] for h in history], label="train")
    ax1.plot(epochs, [h["val_loss"] for h in history], label="val")
    averaged = [h for h in history if "ema_val_acc" in h]
    if averaged:
        ax1.plot([h["epoch"] for h in averaged], [h["ema_val_loss"] for h in averaged], label="val, weight average")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss")
    ax1.legend()
    ax2.plot(epochs, [h["train_acc"] for h in history], label="train")
    ax2.plot(epochs, [h["val_acc"] for h in history], label="val")
    if averaged:
        ax2.plot([h["epoch"] for h in averaged], [h["ema_val_acc"] for h in averaged], label="val, weight average")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
