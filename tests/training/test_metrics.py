import numpy as np

from training.metrics import classification_report, plot_confusion, plot_curves


def test_report_on_known_predictions(tmp_path):
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    r = classification_report(y_true, y_pred, ["a", "b", "c"])
    assert r["accuracy"] == 4 / 6
    assert r["per_class"]["a"] == {"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3}
    assert r["per_class"]["b"]["precision"] == 0.5 and r["per_class"]["b"]["recall"] == 0.5
    assert r["per_class"]["c"]["precision"] == 0.5 and r["per_class"]["c"]["recall"] == 1.0
    assert r["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    plot_confusion(r, tmp_path / "cm.png")
    plot_curves([{"epoch": 1, "train_loss": 1, "val_loss": 1, "train_acc": 0.3, "val_acc": 0.3}], tmp_path / "c.png")
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "c.png").stat().st_size > 1000
