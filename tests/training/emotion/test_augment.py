"""Camera augmentations: what a ceiling camera does to a face, reproducibly, on a whole batch."""

import cv2
import numpy as np
import pytest
import torch

from tests.conftest import FER
from training.emotion.augment import (
    AugmentConfig,
    augment_batch,
    blur_kernels,
    camera_batch,
    jpeg,
    mix_batch,
    seen_from_above,
)


def faces(n: int = 32) -> torch.Tensor:
    files = sorted((FER / "val" / "happy").glob("*.jpg"))[:n]
    return torch.from_numpy(np.stack([cv2.imread(str(f), 0) for f in files])).unsqueeze(1).float() / 255


def detail(x: torch.Tensor) -> float:
    """Mean absolute Laplacian: fine detail, which blur, low resolution and JPEG take away."""
    lap = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3)
    return float(torch.nn.functional.conv2d(x, lap).abs().mean())


def test_camera_batch_keeps_shape_and_range_and_takes_detail_away(shared):
    x = faces()
    y = camera_batch(x, 1.0, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert detail(y) < 0.7 * detail(x)
    again = camera_batch(x, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(y, again)  # one generator, one result: runs can be resumed and compared


def test_each_part_does_what_it_says(shared):
    x = faces(8)
    g = torch.Generator().manual_seed(1)
    assert torch.allclose(seen_from_above(x, torch.zeros(8)), x, atol=1e-5)  # no tilt, no change
    tilted = seen_from_above(x, torch.full((8,), 0.3))
    # Seen from above, the chin rows shrink toward the centre: the bottom row samples inside the face.
    assert not torch.allclose(tilted[..., -1, :], x[..., -1, :])
    kernels = blur_kernels(16, g)
    assert torch.allclose(kernels.sum(dim=(1, 2, 3)), torch.ones(16))
    compressed = jpeg(x, torch.full((8,), 20))
    assert 0 < float((compressed - x).abs().mean()) < 0.1


def test_off_by_default_and_mixed_in_by_video_prob(shared):
    x = faces(16)
    plain = augment_batch(x, AugmentConfig(), torch.Generator().manual_seed(2))
    with_camera = augment_batch(x, AugmentConfig(video_prob=0.5), torch.Generator().manual_seed(2))
    assert AugmentConfig().video_prob == 0
    assert not torch.equal(plain, with_camera)


def test_mixup_blends_two_real_faces_with_the_weight_it_returns(shared):
    x = faces(16)
    y = torch.arange(16)
    mixed, partner, lam = mix_batch(x, y, "mixup", 0.4, torch.Generator().manual_seed(3))
    assert 0 < lam < 1 and sorted(partner.tolist()) == list(range(16))  # every face is someone's partner
    assert torch.allclose(mixed, lam * x + (1 - lam) * x[partner])
    again = mix_batch(x, y, "mixup", 0.4, torch.Generator().manual_seed(3))
    assert torch.equal(mixed, again[0]) and again[2] == lam


def test_cutmix_pastes_a_rectangle_whose_area_is_the_partners_share(shared):
    x = faces(16)
    y = torch.arange(16)
    lams = []
    for seed in range(6):
        mixed, partner, lam = mix_batch(x, y, "cutmix", 1.0, torch.Generator().manual_seed(seed))
        changed = (mixed != x).any(dim=0)[0]  # (H, W): where any face took its partner's pixels
        rows, cols = torch.nonzero(changed, as_tuple=True)
        inside = torch.zeros_like(changed)
        if len(rows):
            inside[int(rows.min()) : int(rows.max()) + 1, int(cols.min()) : int(cols.max()) + 1] = True
        assert torch.equal(mixed[:, :, inside], x[partner][:, :, inside])  # the rectangle is the partner's
        assert torch.equal(mixed[:, :, ~inside], x[:, :, ~inside])  # the rest is the face's own
        assert abs(inside.float().mean().item() - (1 - lam)) < 1e-6
        lams.append(lam)
    assert any(0.1 < lam < 0.9 for lam in lams)


def test_mixing_off_or_unknown(shared):
    x, y = faces(4), torch.arange(4)
    same, partner, lam = mix_batch(x, y, "none", 0.4, torch.Generator())
    assert same is x and lam == 1.0 and torch.equal(partner, y)
    with pytest.raises(ValueError, match="mixup, cutmix"):
        mix_batch(x, y, "mosaic", 0.4, torch.Generator())
