"""MTCNN's three networks (Zhang et al., 2016) with the weights the facenet-pytorch wheel ships.

Defined here with the wheel's layer names, so its weight files load as they are, and read from the wheel's
``data/`` folder without importing the package: ``facenet_pytorch`` imports torchvision, about two seconds of
every start of the service and of each command (``tests/edge/test_mtcnn.py`` checks the outputs are its
networks' own).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn


def wheel_weights(name: str) -> Path:
    """The file ``data/<name>.pt`` of the installed facenet-pytorch wheel (found, not imported)."""
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("facenet-pytorch is not installed: pip install --no-deps facenet-pytorch==2.5.3")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / f"{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall facenet-pytorch (its wheel ships the MTCNN weights)")
    return path


class _Net(nn.Module):
    """Loads its weights from the wheel's file of the same name."""

    weights = ""

    def load_wheel_weights(self) -> _Net:
        self.load_state_dict(torch.load(wheel_weights(self.weights), map_location="cpu", weights_only=True))
        return self


class PNet(_Net):
    """The proposal network: a 12 x 12 window's face probability (2 channels) and box offsets (4), per cell."""

    weights = "pnet"

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)


def _flattened(x: torch.Tensor) -> torch.Tensor:
    # The dense layers were trained on features laid out (N, W, H, C), as the original Caffe model flattens.
    return x.permute(0, 3, 2, 1).contiguous().view(x.shape[0], -1)


class RNet(_Net):
    """The refinement network on 24 x 24 windows: face probability and box offsets."""

    weights = "rnet"

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu4(self.dense4(_flattened(self.prelu3(self.conv3(x)))))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)


class ONet(_Net):
    """The output network on 48 x 48 windows: box offsets, the five landmarks (10) and face probability."""

    weights = "onet"

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu5(self.dense5(_flattened(self.prelu4(self.conv4(x)))))
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), dim=1)
