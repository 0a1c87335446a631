"""A small Xception-style emotion network: depthwise-separable convolutions with strided shortcuts.

It exists beside :mod:`edge.models.resnet9` to make *different* mistakes: averaged with the ResNet9s (which
share their design, recipe and most of their errors), a network of another family adds more than another
ResNet9 does. Layout, for 48x48 gray faces: two 3x3 stem convs (``width``, ``2*width``), then three blocks
that double the channels and halve the size (48 -> 24 -> 12 -> 6), each two separable convs and a 3x3/2
max-pool beside a strided 1x1 shortcut, then a separable residual block at 6x6, global average pooling and
a linear head. ``width=32`` costs about 0.25 GMAC per face, half a ResNet9 of width 64.
"""

from __future__ import annotations

from typing import List

import torch
from torch import nn


def separable(in_ch: int, out_ch: int) -> List[nn.Module]:
    """A 3x3 depthwise conv then a 1x1 pointwise conv, with BatchNorm."""
    return [
        nn.Conv2d(in_ch, in_ch, kernel_size=3, padding=1, groups=in_ch, bias=False),
        nn.Conv2d(in_ch, out_ch, kernel_size=1, bias=False),
        nn.BatchNorm2d(out_ch),
    ]


class DownBlock(nn.Module):
    """Two separable convs and a max-pool that halves the size, plus a strided 1x1 shortcut."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *separable(in_ch, out_ch),
            nn.ReLU(inplace=True),
            *separable(out_ch, out_ch),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        self.shortcut = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=2, bias=False), nn.BatchNorm2d(out_ch)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class SeparableResidual(nn.Module):
    """Two separable convs with an identity shortcut (Xception's middle flow)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(),
            *separable(channels, channels),
            nn.ReLU(inplace=True),
            *separable(channels, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class XceptionNet(nn.Module):
    """Emotion classifier for 48x48 gray faces; returns logits ``(N, num_classes)``."""

    def __init__(self, num_classes: int = 7, width: int = 32, in_channels: int = 1, dropout: float = 0.3) -> None:
        super().__init__()
        self.width = width
        self.num_classes = num_classes
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, w, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(inplace=True),
            nn.Conv2d(w, 2 * w, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(2 * w),
            nn.ReLU(inplace=True),
            DownBlock(2 * w, 4 * w),  # 48 -> 24
            DownBlock(4 * w, 8 * w),  # 24 -> 12
            DownBlock(8 * w, 16 * w),  # 12 -> 6
            SeparableResidual(16 * w),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(16 * w, num_classes),
        )
        nn.init.zeros_(self.classifier[-1].weight)
        nn.init.zeros_(self.classifier[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
