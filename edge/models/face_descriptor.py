"""The 128-d face descriptor network (dlib's ResNet, as shipped by face-api.js).

A ResNet-34-like network on 150x150 RGB chips: a 7x7/2 conv and 3x3/2 max-pool,
then residual stages of 32, 64, 128 and 256 channels, global average pooling
and a 256->128 linear map. Each conv is followed by a per-channel affine
("scale") layer, which is where dlib folds its batch normalisation.

Stride-2 blocks use unpadded convs and a 2x2 average-pooled shortcut,
zero-padded in channels, and in space where the two branches differ in size,
as dlib's ``add_prev`` does. Weights: ``training/convert/faceapi.py``.
"""

from __future__ import annotations

from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

# dlib's input layer subtracts this mean (RGB) and divides by 256.
MEAN_RGB = (122.782, 117.001, 104.298)
INPUT_SIZE = 150


class ConvScale(nn.Module):
    """Conv (with bias) followed by a per-channel scale and shift."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int) -> None:
        super().__init__()
        # 'same' padding for stride 1, none for stride 2 (TF 'valid' / dlib's default).
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2 if stride == 1 else 0)
        self.weight = nn.Parameter(torch.ones(out_ch))
        self.bias = nn.Parameter(torch.zeros(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class ResidualBlock(nn.Module):
    """Two 3x3 ConvScale layers with a shortcut; ``down`` halves the size and may widen the channels."""

    def __init__(self, in_ch: int, out_ch: int, down: bool) -> None:
        super().__init__()
        self.down = down
        self.conv1 = ConvScale(in_ch, out_ch, 3, 2 if down else 1)
        self.conv2 = ConvScale(out_ch, out_ch, 3, 1)
        self.extra_channels = out_ch - in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.relu(self.conv1(x)))
        if not self.down:
            return F.relu(out + x)
        short = F.avg_pool2d(x, 2, 2)
        if self.extra_channels:
            short = F.pad(short, (0, 0, 0, 0, 0, self.extra_channels))
        # Unpadded stride-2 convs can come out one smaller than the pooled shortcut: pad with zeros.
        dh, dw = short.shape[2] - out.shape[2], short.shape[3] - out.shape[3]
        if dh or dw:
            out = F.pad(out, (0, dw, 0, dh))
        return F.relu(out + short)


# (name, in, out, down) in the order of the face-api.js weight manifest.
BLOCKS: List[Tuple[str, int, int, bool]] = [
    ("conv32_1", 32, 32, False),
    ("conv32_2", 32, 32, False),
    ("conv32_3", 32, 32, False),
    ("conv64_down", 32, 64, True),
    ("conv64_1", 64, 64, False),
    ("conv64_2", 64, 64, False),
    ("conv64_3", 64, 64, False),
    ("conv128_down", 64, 128, True),
    ("conv128_1", 128, 128, False),
    ("conv128_2", 128, 128, False),
    ("conv256_down", 128, 256, True),
    ("conv256_1", 256, 256, False),
    ("conv256_2", 256, 256, False),
    ("conv256_down_out", 256, 256, True),
]


class FaceDescriptorTrunk(nn.Module):
    """The descriptor's layers up to its last feature map: RGB float in [0, 255] ``(N, 3, H, W)`` (H, W at least
    112) -> ``(N, 256, h, w)``. The emotion family :mod:`edge.models.descriptor_emotion` fine-tunes it too."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(MEAN_RGB).view(1, 3, 1, 1), persistent=False)
        self.conv32_down = ConvScale(3, 32, 7, 2)
        self.blocks = nn.ModuleDict({name: ResidualBlock(i, o, d) for name, i, o, d in BLOCKS})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / 256.0
        x = F.max_pool2d(F.relu(self.conv32_down(x)), 3, 2)
        for block in self.blocks.values():
            x = block(x)
        return x


class FaceDescriptorNet(FaceDescriptorTrunk):
    """150x150 RGB chips, float in [0, 255] ``(N, 3, 150, 150)`` -> 128-d descriptors (not normalised)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(256, 128, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(super().forward(x).mean(dim=(2, 3)))
