"""Batch augmentation for 48x48 gray faces, done as tensor ops on a whole batch.

One random affine per face (rotation, scale, shift, horizontal flip) through
``affine_grid``/``grid_sample``, then random-erasing rectangles that mimic
hands, masks and glasses covering part of the face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    rotation_deg: float = 20.0
    scale: float = 0.12
    shift: float = 0.12
    flip: bool = True
    erase_prob: float = 0.5
    erase_area: tuple = (0.02, 0.2)


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Augment ``x`` of shape ``(N, 1, H, W)`` in [0, 1]; ``gen`` makes it reproducible."""
    n, _, h, w = x.shape

    def uniform(lo: float, hi: float, size: int = n) -> torch.Tensor:
        return torch.rand(size, generator=gen) * (hi - lo) + lo

    angle = uniform(-cfg.rotation_deg, cfg.rotation_deg) * math.pi / 180
    scale = uniform(1 - cfg.scale, 1 + cfg.scale)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0) if cfg.flip else torch.ones(n)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = cos * flip
    theta[:, 0, 1] = -sin
    theta[:, 1, 0] = sin * flip
    theta[:, 1, 1] = cos
    theta[:, 0, 2] = uniform(-cfg.shift, cfg.shift) * 2
    theta[:, 1, 2] = uniform(-cfg.shift, cfg.shift) * 2
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    if cfg.erase_prob > 0:
        area = uniform(*cfg.erase_area) * h * w
        aspect = torch.exp(uniform(math.log(0.3), math.log(3.3)))
        eh = torch.sqrt(area * aspect).clamp(1, h).long()
        ew = torch.sqrt(area / aspect).clamp(1, w).long()
        top = (torch.rand(n, generator=gen) * (h - eh + 1).float()).long()
        left = (torch.rand(n, generator=gen) * (w - ew + 1).float()).long()
        rows = torch.arange(h).view(1, h, 1)
        cols = torch.arange(w).view(1, 1, w)
        mask = (
            (rows >= top.view(n, 1, 1))
            & (rows < (top + eh).view(n, 1, 1))
            & (cols >= left.view(n, 1, 1))
            & (cols < (left + ew).view(n, 1, 1))
        )
        apply = (torch.rand(n, generator=gen) < cfg.erase_prob).view(n, 1, 1)
        noise = torch.rand(n, h, w, generator=gen)
        out = torch.where((mask & apply).unsqueeze(1), noise.unsqueeze(1), out)
    return out
