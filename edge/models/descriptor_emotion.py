"""An emotion network on the face descriptor's trunk: dlib's face-recognition ResNet, fine-tuned on FER2013.

It exists to make *different* mistakes from the emotion networks trained from scratch here (ResNet9,
XceptionNet, mini-Xception): its filters were learned on millions of face photos for identity, not on
FER2013's 28,709 faces, so averaged with them it adds what they share least. The 48x48 gray face is resized
to ``size`` (128 by default, about the size a tight face has in dlib's 150x150 chips; the trunk needs at
least 112), copied to the three colour channels, and runs through
:class:`edge.models.face_descriptor.FaceDescriptorTrunk` (the descriptor without its 128-d identity map);
global average pooling and a linear head give the logits. About 0.2 GMAC a face at
128 (a ResNet9 of width 64 is 0.47).
"""

from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F
from torch import nn

from edge.models.face_descriptor import FaceDescriptorTrunk

DEFAULT_SIZE = 128


class DescriptorEmotionNet(FaceDescriptorTrunk):
    """Emotion classifier for 48x48 gray faces in 0..1 ``(N, 1, 48, 48)``; returns logits ``(N, num_classes)``.

    ``width`` is the trunk's first stage width, fixed at 32 by the pretrained weights (it is a parameter only
    so that every family is built the same way)."""

    def __init__(self, num_classes: int = 7, width: int = 32, dropout: float = 0.3, size: int = DEFAULT_SIZE) -> None:
        super().__init__()
        if width != 32:
            raise ValueError(f"the face descriptor's trunk has a first stage of width 32, not {width}")
        self.width = width
        self.num_classes = num_classes
        # Saved with the weights, so that a weights file says at which size its network was trained.
        self.register_buffer("input_size", torch.tensor(size))
        self.size = size  # the same, as a plain int: a fixed resize in the exported graph
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(256, num_classes)
        )
        nn.init.zeros_(self.classifier[-1].weight)
        nn.init.zeros_(self.classifier[-1].bias)

    def load_pretrained(self, descriptor_state: Dict[str, torch.Tensor]) -> None:
        """Start from the face descriptor's weights (``models/face_descriptor_128.pt``): every layer but its
        128-d identity map, which this network replaces by the emotion head. Raises on any other file."""
        trunk = {key: value for key, value in descriptor_state.items() if not key.startswith("fc.")}
        try:
            missing, unexpected = self.load_state_dict(trunk, strict=False)
        except RuntimeError as exc:  # same names, other shapes
            raise ValueError(f"not the face descriptor's weights: {exc}") from exc
        wrong = unexpected + [key for key in missing if not key.startswith("classifier.") and key != "input_size"]
        if wrong:
            raise ValueError(f"not the face descriptor's weights: missing or unexpected keys {wrong[:5]}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        # The trunk's input is RGB in 0..255; a gray face is the same in each channel.
        return self.classifier(super().forward(x.expand(-1, 3, -1, -1) * 255.0))
