"""Camera augmentations: what a ceiling camera does to a face, reproducibly, on a whole batch."""

import cv2
import numpy as np
import torch

from tests.conftest import FER
from training.augment import AugmentConfig, augment_batch, blur_kernels, camera_batch, jpeg, seen_from_above


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
