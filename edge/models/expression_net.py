"""face-api.js's face expression network, in PyTorch, as an emotion family fine-tuned on FER2013.

Its weights (MIT, ``face_expression_model`` of face-api.js, as shipped in the ``@vladmandic/face-api`` npm
package) were learnt for seven expressions on face photos other than FER2013's, so its mistakes differ from
those of the networks trained here from scratch; that is what an averaged network needs from a member. It is
small: four densely connected blocks of depthwise-separable convs (32, 64, 128, 256 channels), global
average pooling and a linear head; about 0.05 GMAC a face at its 112x112 input.

Like every emotion family it takes 48x48 gray faces in 0..1 and does its own preprocessing inside the graph
(so ONNX, TensorRT and INT8 get it too): a bilinear resize to 112, the gray copied to three channels, the
range 0..255 less face-api's mean colour, divided by 255. TensorFlow's ``same`` padding of a stride-2 conv on
an even size pads only after the last row and column, so those convs pad explicitly.
Weights: ``python -m training convert-faceapi-expression``.
"""

from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F
from torch import nn

from edge.models.face_descriptor import MEAN_RGB  # face-api.js subtracts the same mean colour in both networks

INPUT_SIZE = 112  # what face-api.js feeds the network
WIDTHS = (32, 64, 128, 256)


class TfSameConv(nn.Module):
    """A conv with TensorFlow's ``same`` padding: symmetric at stride 1, only after the end at stride 2.

    ``separable``: a 3x3 depthwise conv (no bias) then a 1x1 pointwise conv with bias, as TF's
    ``separableConv2d``; otherwise a plain 3x3 conv with bias."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, separable: bool = True) -> None:
        super().__init__()
        self.stride = stride
        padding = 1 if stride == 1 else 0
        if separable:
            self.depthwise = nn.Conv2d(in_ch, in_ch, 3, stride=stride, padding=padding, groups=in_ch, bias=False)
            self.pointwise = nn.Conv2d(in_ch, out_ch, 1)
        else:
            self.depthwise = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=padding)
            self.pointwise = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 2:  # even sizes only (112, 56, 28, 14): one row and column of zeros at the end
            x = F.pad(x, (0, 1, 0, 1))
        return self.pointwise(self.depthwise(x))


class DenseBlock(nn.Module):
    """face-api.js's ``denseBlock4``: a stride-2 conv, then three separable convs, each fed the ReLU of the
    sum of every output before it."""

    def __init__(self, in_ch: int, out_ch: int, first: bool) -> None:
        super().__init__()
        self.conv0 = TfSameConv(in_ch, out_ch, stride=2, separable=not first)
        self.conv1 = TfSameConv(out_ch, out_ch, stride=1)
        self.conv2 = TfSameConv(out_ch, out_ch, stride=1)
        self.conv3 = TfSameConv(out_ch, out_ch, stride=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = F.relu(self.conv0(x))
        for conv in (self.conv1, self.conv2, self.conv3):
            total = total + conv(F.relu(total))  # conv1's input, total = relu(conv0), is already >= 0
        return F.relu(total)


class FaceExpressionNet(nn.Module):
    """Emotion classifier for 48x48 gray faces in 0..1 ``(N, 1, 48, 48)``; returns logits ``(N, num_classes)``.

    ``width`` is the first block's width, fixed at 32 by the pretrained weights (a parameter only so that
    every family is built the same way)."""

    def __init__(self, num_classes: int = 7, width: int = 32, dropout: float = 0.3) -> None:
        super().__init__()
        if width != WIDTHS[0]:
            raise ValueError(f"face-api.js's expression network has a first block of width 32, not {width}")
        self.width = width
        self.num_classes = num_classes
        channels = (3,) + WIDTHS
        self.dense0 = DenseBlock(channels[0], channels[1], first=True)
        self.dense1 = DenseBlock(channels[1], channels[2], first=False)
        self.dense2 = DenseBlock(channels[2], channels[3], first=False)
        self.dense3 = DenseBlock(channels[3], channels[4], first=False)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(WIDTHS[-1], num_classes)
        )
        self.register_buffer("mean", torch.tensor(MEAN_RGB).view(1, 3, 1, 1), persistent=False)

    def load_pretrained(self, state: Dict[str, torch.Tensor]) -> None:
        """Start from face-api.js's weights as ``python -m training convert-faceapi-expression`` writes them
        (seven outputs in FER2013's order); ValueError for any other file."""
        try:
            self.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(
                "not face-api.js's expression network for these classes (write it with "
                f"`python -m training convert-faceapi-expression`): {exc}"
            ) from exc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        x = (x.expand(-1, 3, -1, -1) * 255.0 - self.mean) / 255.0
        for block in (self.dense0, self.dense1, self.dense2, self.dense3):
            x = block(x)
        return self.classifier(x)
