"""Temperature scaling and the uncertain threshold, on data whose right answers are known."""

import numpy as np

from edge.config import REPO_ROOT
from edge.emotion import EmotionClassifier, probabilities
from edge.manifest import ModelManifest
from training.calibrate import expected_calibration_error, fit_temperature, uncertain_threshold


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
