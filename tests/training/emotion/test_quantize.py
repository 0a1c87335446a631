import json
import shutil

import numpy as np

from edge.config import REPO_ROOT
from edge.emotion import EmotionClassifier
from edge.manifest import ModelManifest, sha256_of
from training.emotion.quantize import quantize_emotion


def test_quantize_writes_a_measured_int8_entry_that_the_service_runs(fer_small, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    shipped = ModelManifest(REPO_ROOT / "models").entry("emotion")
    shutil.copy(REPO_ROOT / "models" / shipped["file"], models)
    (models / "manifest.json").write_text(json.dumps({"models": {"emotion": shipped}}))

    entry = quantize_emotion(models, fer_small, fer_small, calibration=64)

    int8_file = models / entry["file"]
    assert entry["sha256"] == sha256_of(int8_file) and entry["quantized_from"] == shipped["sha256"]
    assert json.loads((models / "manifest.json").read_text())["models"]["emotion_int8"] == entry
    metrics = entry["metrics"]
    assert metrics["faces"] == 84 and metrics["tta"] == shipped["input"]["tta_mode"]
    assert metrics["same_class_as_float"] >= 0.85
    assert abs(metrics["publictest_accuracy"] - metrics["publictest_accuracy_float"]) <= 0.1
    clf = EmotionClassifier.from_manifest(ModelManifest(models), backend="onnx", cache_dir=tmp_path / "cache")
    assert clf.precision == "int8"
    assert np.allclose(clf.predict(np.full((2, 1, 48, 48), 0.5, np.float32)).sum(1), 1, atol=1e-4)
