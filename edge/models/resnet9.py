"""ResNet9 emotion network (the seed project's design, with a width knob).

Layout: conv1, conv2+pool, residual(2 blocks), conv3, conv4+pool, residual,
conv5, conv6+pool, residual, dropout, 6x6 max-pool, linear. A conv block is
3x3 conv -> BatchNorm -> ELU (-> 2x2 max-pool). ``width=128`` is the original
128-256-512 network (~1.9 GMAC per 48x48 face); ``width=32`` costs 1/16 of that.
"""

from __future__ import annotations

from typing import List

import torch
from torch import nn


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
