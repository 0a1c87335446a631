"""``python -m training quantize-emotion``: the emotion network as INT8 ONNX for CPUs, with its measured accuracy.

ONNX Runtime's static quantization (QDQ format): weights int8 per output channel, activations uint8 with
ranges observed on real FER2013 training faces (and their mirrors, since the service runs flipped views
too). The file lands beside the float weights as manifest entry ``<name>_int8``, which records the sha256
of the weights it came from: the service runs it only while they still ship (``edge.emotion.quantized_file``).
Its PublicTest accuracy is measured through the service's own classifier, float and INT8 on the same
faces with the same views, so the manifest says what quantization costs.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import numpy as np

from edge.backends import OnnxBackend
from edge.compile import export_onnx
from edge.emotion import (
    INPUT_SIZE,
    EmotionClassifier,
    calibration_faces,
    emotion_network,
    tta_views,
)
from edge.manifest import ModelManifest, int8_entry_name
from training.emotion.fer import load_fer
from training.manifest import update_entry

log = logging.getLogger(__name__)

CALIBRATION_BATCH = 64


class _FaceBatches:
    """ONNX Runtime's CalibrationDataReader over real faces and their mirrors, a batch at a time."""

    def __init__(self, faces: np.ndarray, input_name: str) -> None:
        views = np.concatenate(tta_views(faces, "flip"))
        self._batches: Iterator[np.ndarray] = iter(
            [views[i : i + CALIBRATION_BATCH] for i in range(0, len(views), CALIBRATION_BATCH)]
        )
        self._input_name = input_name

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        batch = next(self._batches, None)
        return None if batch is None else {self._input_name: batch}


def quantize_onnx(float_onnx: Path, faces: np.ndarray, out: Path) -> Path:
    """Write the static INT8 (QDQ) form of ``float_onnx`` to ``out``, activation ranges from ``faces``."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # Shape inference and graph folding first, as ONNX Runtime advises: batch norm folds into the convs,
        # so each conv is quantized with the scale it really has.
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(float_onnx), str(prepared), skip_symbolic_shape=True)
        staged = Path(tmp) / out.name
        quantize_static(
            str(prepared),
            str(staged),
            _FaceBatches(faces, "input"),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        staged.replace(out)  # only a complete file reaches the models folder
    return out


def compare_on_publictest(
    float_onnx: Path, int8_onnx: Path, classes, tta: str, val_dir: Path, limit: Optional[int] = None
) -> Dict[str, Any]:
    """PublicTest accuracy of the float and INT8 networks through ``EmotionClassifier`` (the service's path),
    same faces, same views, and how often they name the same class."""
    faces = load_fer(Path(val_dir), classes=classes, usage=("PublicTest",))
    images, labels = faces.images[:limit], faces.labels[:limit]
    batch = images[:, None].astype(np.float32) / 255.0
    predictions = {}
    for precision, path in (("fp32", float_onnx), ("int8", int8_onnx)):
        classifier = EmotionClassifier(OnnxBackend(path, precision=precision), classes, tta)
        predictions[precision] = np.concatenate(
            [classifier.predict(batch[i : i + 256]).argmax(1) for i in range(0, len(batch), 256)]
        )
    return {
        "publictest_accuracy": round(float((predictions["int8"] == labels).mean()), 4),
        "publictest_accuracy_float": round(float((predictions["fp32"] == labels).mean()), 4),
        "same_class_as_float": round(float((predictions["int8"] == predictions["fp32"]).mean()), 4),
        "faces": int(len(labels)),
        "tta": tta,
    }


def quantize_emotion(
    models_dir: Path,
    train_dir: Path,
    val_dir: Path,
    name: str = "emotion",
    calibration: int = 512,
    limit: Optional[int] = None,
) -> Dict[str, Any]:
    """Quantize manifest entry ``name`` into ``<file stem>_int8.onnx`` beside it, measure it on PublicTest
    (the first ``limit`` faces when given) and record it as ``<name>_int8``; returns that entry."""
    models_dir = Path(models_dir)
    manifest = ModelManifest(models_dir)
    entry = manifest.entry(name)
    if entry.get("derived_from"):
        raise ValueError(f"{name!r} runs the INT8 network of {entry['derived_from']!r}: quantize that one")
    tta = entry["input"].get("tta_mode", "flip")
    out = models_dir / (Path(entry["file"]).stem + "_int8.onnx")
    with tempfile.TemporaryDirectory() as tmp:
        float_onnx = export_onnx(emotion_network(manifest, name), (1, INPUT_SIZE, INPUT_SIZE), Path(tmp) / "f.onnx")
        log.info("quantizing %s with %d training faces", name, calibration)
        quantize_onnx(float_onnx, calibration_faces(Path(train_dir), limit=calibration), out)
        metrics = compare_on_publictest(float_onnx, out, entry["classes"], tta, Path(val_dir), limit)
    command = f"python -m training quantize-emotion --name {name}"
    return update_entry(
        models_dir,
        int8_entry_name(name),
        out,
        {
            "quantized_from": entry["sha256"],
            "format": "ONNX, static INT8 (QDQ): int8 weights per output channel, uint8 activations",
            "calibration": f"{calibration} FER2013 training faces and their mirrors, spread over the classes",
            "runs_on": "the onnx backend on CPUs (emotion.cpu_int8); GPUs run the float network",
            "metrics": metrics,
            "metrics_command": command,
        },
    )


def requantize(models_dir: Path, name: str, train_dir: Path, val_dir: Path) -> Optional[Dict[str, Any]]:
    """After new weights ship under ``name``: quantize them when the training and PublicTest faces are here;
    otherwise drop the INT8 entry of the weights they replaced (the service would not run it anyway) and say
    how to make a new one. Returns the new INT8 entry, or None."""
    if Path(train_dir).is_dir() and Path(val_dir).is_dir():
        return quantize_emotion(models_dir, train_dir, val_dir, name)
    manifest_path = Path(models_dir) / "manifest.json"
    data = json.loads(manifest_path.read_text())
    stale = data["models"].pop(int8_entry_name(name), None)
    if stale is not None:
        (Path(models_dir) / stale["file"]).unlink(missing_ok=True)
        manifest_path.write_text(json.dumps(data, indent=2) + "\n")
    log.warning(
        "%s or %s is missing: %s ships without an INT8 network (CPUs run it in float); run `python -m training "
        "quantize-emotion --name %s` where the FER2013 faces are",
        train_dir,
        val_dir,
        name,
        name,
    )
    return None
