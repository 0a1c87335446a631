"""Temperature scaling and the uncertain threshold, on data whose right answers are known."""

import numpy as np

from edge.config import REPO_ROOT
from edge.emotion import EmotionClassifier, probabilities
from edge.manifest import ModelManifest
from tests.conftest import FER
from training.emotion.calibrate import expected_calibration_error, fit_temperature, uncertain_threshold


def overconfident(n=4000, seed=0):
    """Logits of a 3-class model that is right 60% of the time but says ~95%."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    predicted = np.where(rng.random(n) < 0.6, labels, (labels + rng.integers(1, 3, n)) % 3)
    logits = rng.normal(0, 0.3, (n, 3))
    logits[np.arange(n), predicted] += 4.0
    return logits[None], labels


def test_temperature_scaling_fixes_an_overconfident_model():
    logits, labels = overconfident()
    before = probabilities(logits, 1.0)
    assert expected_calibration_error(before, labels) > 0.25
    t = fit_temperature(logits, labels)
    after = probabilities(logits, t)
    assert t > 2 and expected_calibration_error(after, labels) < 0.03
    assert (after.argmax(1) == before.argmax(1)).all()  # the label never changes, only its confidence


def test_the_threshold_keeps_answers_that_are_right_often_enough():
    logits, labels = overconfident()
    probs = probabilities(logits, fit_temperature(logits, labels))
    probs[:2000] = probabilities(logits[:, :2000] * 3, 1.0)  # half the faces are confident and ...
    probs[:2000] = np.eye(3)[labels[:2000]] * 0.5 + probs[:2000] * 0.5  # ... right
    t = uncertain_threshold(probs, labels, target=0.9)
    kept = probs.max(1) >= t
    assert (probs.argmax(1) == labels)[kept].mean() >= 0.9 and kept.mean() > 0.3


def test_the_shipped_model_carries_its_calibration():
    entry = ModelManifest(REPO_ROOT / "models").entry("emotion")["calibration"]
    assert (
        0 < entry["publictest"]["ece_after"] <= 0.05
        and entry["publictest"]["ece_after"] < entry["publictest"]["ece_before"]
    )
    classifier = EmotionClassifier.from_manifest(ModelManifest(REPO_ROOT / "models"), backend="torch")
    assert classifier.temperature == entry["temperature"] and classifier.uncertain_below == entry["uncertain_below"]


def _publictest_sample(root, per_class=6):
    """A Kaggle-layout folder of real PublicTest faces."""
    import shutil

    for cls_dir in sorted((FER / "val").iterdir()):
        (root / cls_dir.name).mkdir(parents=True)
        for p in sorted(cls_dir.iterdir())[:per_class]:
            shutil.copy(p, root / cls_dir.name / p.name)
    return root


def test_the_check_measures_the_shipped_calibration_on_float_and_int8(shared, tmp_path, capsys):
    from training.cli import main
    from training.emotion.calibrate import check_calibration

    val = _publictest_sample(tmp_path / "val")
    manifest_before = (REPO_ROOT / "models" / "manifest.json").read_bytes()
    rows = check_calibration(val, REPO_ROOT / "models")
    entry = ModelManifest(REPO_ROOT / "models").entry("emotion")["calibration"]
    assert [r["precision"] for r in rows] == ["fp32", "int8"]
    for r in rows:
        assert r["temperature"] == entry["temperature"]
        assert 0.3 < r["accuracy"] < 1 and 0 <= r["ece_after"] <= 1 and 0 <= r["uncertain_share"] <= 1
    assert main(["calibrate-emotion", "--check", "--val", str(val)]) == 0
    table = capsys.readouterr().out
    assert "ECE after" in table and "int8" in table and "fp32" in table
    assert (REPO_ROOT / "models" / "manifest.json").read_bytes() == manifest_before  # a check fits nothing
