"""Faces of a test split that are copies of training faces.

FER2013 was gathered by image search, and the same picture often landed in more than one split: 300 of
PublicTest's 3,589 faces are pixel copies (or re-encoded, brightened copies) of training faces, 96% of them
with the same label. A network that memorises its training set scores well on those for free, and a face on
live video never has such a twin, so evaluations report accuracy on the test faces without one as well.
"""

from __future__ import annotations

import numpy as np
import torch

# Pearson correlation of the pixels at or above which two faces count as one picture. Exact copies score
# 0.999+ (287 PublicTest faces); down to 0.98 come JPEG re-encodes and brightness or contrast changes of
# them (13 more); below that, different photos of one pose start to appear.
DUPLICATE_CORRELATION = 0.98


def _unit_rows(images: np.ndarray) -> torch.Tensor:
    """Each face as a zero-mean unit vector, so a dot product is the pixels' Pearson correlation (a flat
    face, all one gray, becomes zeros and matches nothing)."""
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32))
    return torch.nn.functional.normalize(x - x.mean(dim=1, keepdim=True), dim=1)


def training_copies(
    test_images: np.ndarray, train_images: np.ndarray, threshold: float = DUPLICATE_CORRELATION
) -> np.ndarray:
    """A boolean mask over ``test_images`` ``(N, H, W)``: True where some face of ``train_images`` correlates
    with it at ``threshold`` or more."""
    if len(test_images) == 0 or len(train_images) == 0:
        return np.zeros(len(test_images), dtype=bool)
    train = _unit_rows(train_images)
    test = _unit_rows(test_images)
    best = torch.cat([(test[s : s + 512] @ train.T).max(dim=1).values for s in range(0, len(test), 512)])
    return (best >= threshold).numpy()
