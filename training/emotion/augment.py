"""Batch augmentation for 48x48 gray faces, done as tensor ops on a whole batch.

One random affine per face (rotation, scale, shift, horizontal flip) through
``affine_grid``/``grid_sample``, then random-erasing rectangles that mimic
hands, masks and glasses covering part of the face.

Camera augmentations (``video_prob``) turn FER2013's studio-like crops into what
a ceiling camera delivers (the demo's walkers are 40-90 px, soft, looking down):
a view from above (a perspective tilt), the face captured at 16-39 px and scaled
back, defocus or motion blur, gamma and low light with sensor noise, and JPEG
artefacts. Each face gets each of them with probability ``video_prob``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
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
    video_prob: float = 0.0  # chance of each camera augmentation per face (0: off)


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
    if cfg.video_prob > 0:
        out = camera_batch(out, cfg.video_prob, gen)
    return out


def _chosen(n: int, p: float, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=gen) < p


def seen_from_above(x: torch.Tensor, tilt: torch.Tensor) -> torch.Tensor:
    """A perspective tilt about the horizontal axis: ``tilt`` > 0 widens the forehead and narrows the chin."""
    n, _, h, w = x.shape
    ys = torch.linspace(-1, 1, h).view(1, h, 1).expand(n, h, w)
    xs = torch.linspace(-1, 1, w).view(1, 1, w).expand(n, h, w)
    depth = 1 + tilt.view(n, 1, 1) * ys  # homography [[1, 0, 0], [0, 1, 0], [0, tilt, 1]]
    grid = torch.stack([xs * depth, ys * depth], dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)


def blur_kernels(n: int, gen: torch.Generator, size: int = 7) -> torch.Tensor:
    """``(n, 1, size, size)``: half Gaussian defocus (sigma 0.5-1.6 px), half straight motion (3-7 px long)."""
    r = torch.arange(size, dtype=torch.float32) - size // 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    sigma = (torch.rand(n, generator=gen) * 1.1 + 0.5).view(n, 1, 1)
    gauss = torch.exp(-(xx**2 + yy**2) / (2 * sigma**2))
    angle = (torch.rand(n, generator=gen) * math.pi).view(n, 1, 1)
    length = (torch.rand(n, generator=gen) * 4 + 3).view(n, 1, 1)
    along = xx * torch.cos(angle) + yy * torch.sin(angle)
    across = -xx * torch.sin(angle) + yy * torch.cos(angle)
    motion = ((across.abs() <= 0.5) & (along.abs() <= length / 2)).float()
    motion[:, size // 2, size // 2] = 1.0  # never empty
    kernel = torch.where(_chosen(n, 0.5, gen).view(n, 1, 1), gauss, motion)
    return (kernel / kernel.sum(dim=(1, 2), keepdim=True)).unsqueeze(1)


def jpeg(x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Each face through a JPEG encoder at its own quality (blocking and ringing, as a camera stream has)."""
    out = []
    for face, q in zip((x[:, 0] * 255).round().clamp(0, 255).to(torch.uint8).numpy(), quality.tolist()):
        ok, buf = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, int(q)])
        out.append(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else face)
    return torch.from_numpy(np.stack(out)).unsqueeze(1).float() / 255


def camera_batch(x: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """The camera augmentations of the module docstring, each on a random ``p`` share of the batch."""
    n, _, h, w = x.shape

    def some(fn) -> None:
        nonlocal x
        pick = _chosen(n, p, gen)
        if pick.any():
            x = x.clone()
            x[pick] = fn(x[pick], int(pick.sum()))

    some(lambda f, k: seen_from_above(f, torch.rand(k, generator=gen) * 0.35))

    def low_resolution(f: torch.Tensor, k: int) -> torch.Tensor:
        side = int(torch.randint(16, 40, (1,), generator=gen))  # one size per call: interpolate takes one size
        small = F.interpolate(f, size=(side, side), mode="area")
        return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)

    some(low_resolution)

    def blur(f: torch.Tensor, k: int) -> torch.Tensor:
        kernels = blur_kernels(k, gen)
        pad = kernels.shape[-1] // 2
        padded = F.pad(f.transpose(0, 1), (pad, pad, pad, pad), mode="replicate")  # faces as channels
        return F.conv2d(padded, kernels, groups=k).transpose(0, 1)

    some(blur)

    def light(f: torch.Tensor, k: int) -> torch.Tensor:
        gamma = torch.exp(torch.randn(k, generator=gen) * 0.4).view(k, 1, 1, 1)
        gain = (torch.rand(k, generator=gen) * 0.7 + 0.3).view(k, 1, 1, 1)
        noise = torch.randn(f.shape, generator=gen) * (torch.rand(k, generator=gen) * 0.04).view(k, 1, 1, 1)
        return (f.clamp(0, 1) ** gamma * gain + noise).clamp(0, 1)

    some(light)
    some(lambda f, k: jpeg(f, torch.randint(20, 70, (k,), generator=gen)))
    return x


MIX_MODES = ("none", "mixup", "cutmix")


def mix_batch(
    x: torch.Tensor, y: torch.Tensor, mode: str, alpha: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Blend each face with another face of the batch, ``(mixed, partner_labels, lam)``.

    ``mixup`` (Zhang et al. 2018) averages the two images with weight ``lam`` ~ Beta(alpha, alpha);
    ``cutmix`` (Yun et al. 2019) pastes a rectangle of the partner whose area is ``1 - lam`` and returns the
    ``lam`` the pasted rectangle really leaves. The loss is then ``lam * loss(y) + (1 - lam) * loss(partner)``.
    One ``lam`` per batch, as both papers do; ``mode`` "none" returns the batch as it is with ``lam`` 1.
    """
    if mode not in MIX_MODES:
        raise ValueError(f"unknown mix mode {mode!r}: use one of {', '.join(MIX_MODES)}")
    if mode == "none" or alpha <= 0:
        return x, y, 1.0
    n, _, h, w = x.shape
    # torch's Beta sampler takes no generator; a NumPy one seeded from ``gen`` keeps runs repeatable.
    lam = float(np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=gen))).beta(alpha, alpha))
    partner = torch.randperm(n, generator=gen)
    if mode == "mixup":
        return lam * x + (1 - lam) * x[partner], y[partner], lam
    cut = math.sqrt(1 - lam)
    ch, cw = int(round(h * cut)), int(round(w * cut))
    top = int(torch.randint(0, h - ch + 1, (1,), generator=gen))
    left = int(torch.randint(0, w - cw + 1, (1,), generator=gen))
    mixed = x.clone()
    mixed[:, :, top : top + ch, left : left + cw] = x[partner, :, top : top + ch, left : left + cw]
    return mixed, y[partner], 1 - (ch * cw) / (h * w)
