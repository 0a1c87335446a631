"""ResNet9 emotion network (the seed project's design, with a width knob).

Layout: conv1, conv2+pool, residual(2 blocks), conv3, conv4+pool, residual,
conv5, conv6+pool, residual, dropout, 6x6 max-pool, linear. A conv block is
3x3 conv -> BatchNorm -> ELU (-> 2x2 max-pool). ``width=128`` is the original
128-256-512 network (~1.9 GMAC per 48x48 face); ``width=32`` costs 1/16 of that.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Sequence, Union

import torch
from torch import nn

from edge.models.xception import XceptionNet


def conv_block(in_ch: int, out_ch: int, pool: bool = False) -> nn.Sequential:
    """3x3 conv, BatchNorm, ELU and an optional 2x2 max-pool."""
    layers: List[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ELU(inplace=True),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class Residual(nn.Module):
    """Two conv blocks with an identity shortcut."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_block(channels, channels), conv_block(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNet9(nn.Module):
    """Emotion classifier for 48x48 gray faces; returns logits ``(N, num_classes)``."""

    def __init__(self, num_classes: int = 7, width: int = 32, in_channels: int = 1, dropout: float = 0.5) -> None:
        super().__init__()
        w1, w2, w3 = width, 2 * width, 4 * width
        self.width = width
        self.num_classes = num_classes
        self.features = nn.Sequential(
            conv_block(in_channels, w1),
            conv_block(w1, w1, pool=True),  # 48 -> 24
            Residual(w1),
            conv_block(w1, w2),
            conv_block(w2, w2, pool=True),  # 24 -> 12
            Residual(w2),
            conv_block(w2, w3),
            conv_block(w3, w3, pool=True),  # 12 -> 6
            Residual(w3),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.MaxPool2d(6),
            nn.Flatten(),
            nn.Linear(w3, num_classes),
        )
        # Max-pooled residual features are large at init; a zero head starts the loss at log(k).
        nn.init.zeros_(self.classifier[-1].weight)
        nn.init.zeros_(self.classifier[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class AveragedResNet9(nn.Module):
    """Several ResNet9s of the same classes as one network (an ensemble that ships as one file).

    Its logits are the log of the members' mean probability, so a softmax of them is the ensemble's answer and
    everything downstream (test-time views, temperature, ONNX, TensorRT, INT8) treats it as one network."""

    def __init__(self, members: Sequence[ResNet9]) -> None:
        super().__init__()
        if not members or len({m.num_classes for m in members}) != 1:
            raise ValueError("an averaged network needs at least one member, all with the same classes")
        self.members = nn.ModuleList(members)
        self.num_classes = members[0].num_classes
        self.widths = [m.width for m in members]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.stack([torch.softmax(m(x).float(), dim=1) for m in self.members]).mean(dim=0)
        return torch.log(probs.clamp_min(1e-12))


# The network families a weights file may hold, by the name training runs use (``--arch``).
ARCHITECTURES: Dict[str, Callable[..., nn.Module]] = {"resnet9": ResNet9, "xception": XceptionNet}


def averaged_state(states: Sequence[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """The state_dict of the :class:`AveragedResNet9` whose members hold ``states``, in that order."""
    return {f"members.{i}.{key}": value for i, state in enumerate(states) for key, value in state.items()}


def resnet9_from_state(state: Dict[str, torch.Tensor]) -> Union[ResNet9, AveragedResNet9]:
    """The network a state_dict holds (a ResNet9, or an AveragedResNet9 when its keys are ``members.<i>.``), at
    the widths and number of classes its shapes say, weights loaded, in eval mode; ValueError for anything else."""

    def member(prefix: str) -> nn.Module:
        num_classes = int(state[prefix + "classifier.3.weight"].shape[0])
        if prefix + "features.0.weight" in state:  # a bare stem conv: the Xception family
            return XceptionNet(num_classes=num_classes, width=int(state[prefix + "features.0.weight"].shape[0]))
        return ResNet9(num_classes=num_classes, width=int(state[prefix + "features.0.0.weight"].shape[0]))

    try:
        count = len({key.split(".")[1] for key in state if key.startswith("members.")})
        net = AveragedResNet9([member(f"members.{i}.") for i in range(count)]) if count else member("")
        net.load_state_dict(state)
    except (KeyError, IndexError, RuntimeError, ValueError) as exc:
        raise ValueError(f"these are not the weights of a ResNet9 ({type(exc).__name__}: {exc})") from exc
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
