"""dlib's 5-point face landmarks (eye corners and nose base), run in NumPy.

The 128-d descriptor network was trained on chips cut by dlib from *these* five
points. MTCNN's points (eye centres, nose tip, mouth corners) map onto them only
on average, and on lfw_calib that cost 5.7 points of faces named at 2% of
strangers named (docs/identity.md). So the descriptor's chips are aligned from
the points this predictor finds inside MTCNN's box.

The predictor is an ensemble of regression trees (Kazemi and Sullivan, CVPR 2014):
a cascade of levels, each reading a few hundred pixel intensities at offsets
anchored on the current shape estimate and adding the leaves of 500 depth-4
trees to it. The weights are dlib's `shape_predictor_5_face_landmarks.dat` (CC0),
converted to ``models/face_landmarks_5.npz`` by ``python -m training
convert-shape-predictor``. Parity with dlib: ``tests/edge/identity/test_landmarks.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.identity.align import similarity_transform

LANDMARKS = "face_landmarks_5"  # the manifest entry

# Where the five points land in the 150x150 chips that dlib's get_face_chip(size=150,
# padding=0.25) cuts: dlib's mean 5-point face mapped through its chip rectangle
# (python -m training.identity.chip_template --dlib5, 47 faces; chips aligned on it differ
# from dlib's by about 0.6 grey levels on average: interpolation).
DLIB5_CHIP_150 = np.array(
    [[110.61, 45.72], [89.17, 47.28], [36.39, 45.75], [57.84, 47.29], [73.51, 87.34]],
    dtype=np.float64,
)


class FaceLandmarks5:
    """dlib's 5-point shape predictor: ``points(image, box)`` gives the five points in image coordinates."""

    def __init__(
        self,
        initial_shape: np.ndarray,
        split_pixels: np.ndarray,
        split_thresholds: np.ndarray,
        leaves: np.ndarray,
        anchors: np.ndarray,
        deltas: np.ndarray,
    ) -> None:
        self.initial_shape = np.asarray(initial_shape, np.float32)  # (points, 2), in the unit box
        self.split_pixels = np.asarray(split_pixels, np.int64)  # (levels, trees, splits, 2) pixel indices
        self.split_thresholds = np.asarray(split_thresholds, np.float32)  # (levels, trees, splits)
        self.leaves = np.asarray(leaves, np.float32)  # (levels, trees, splits + 1, points * 2)
        self.anchors = np.asarray(anchors, np.int64)  # (levels, pixels): the point each pixel hangs on
        self.deltas = np.asarray(deltas, np.float32)  # (levels, pixels, 2): its offset from that point
        self.splits = self.split_thresholds.shape[2]
        self.depth = int(np.log2(self.splits + 1))
        if (1 << self.depth) - 1 != self.splits:
            raise ValueError(f"trees of {self.splits} splits are not complete binary trees")

    @classmethod
    def load(cls, path: Path) -> FaceLandmarks5:
        with np.load(str(path)) as data:
            return cls(**{k: data[k] for k in data.files})

    def save(self, path: Path) -> None:
        np.savez_compressed(
            str(path),
            initial_shape=self.initial_shape,
            split_pixels=self.split_pixels.astype(np.int16),
            split_thresholds=self.split_thresholds,
            leaves=self.leaves,
            anchors=self.anchors.astype(np.int8),
            deltas=self.deltas,
        )

    def points(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """The five points ``(5, 2)`` of the face in ``box`` (x1, y1, x2, y2) of a uint8 gray or RGB image."""
        left, top = float(box[0]), float(box[1])
        width, height = float(box[2]) - left, float(box[3]) - top
        h, w = image.shape[:2]
        shape = self.initial_shape.copy()
        trees = np.arange(self.leaves.shape[1])
        for level in range(self.leaves.shape[0]):
            # Pixel offsets follow the face's rotation and scale relative to the mean shape.
            turn = similarity_transform(self.initial_shape, shape)[:, :2].astype(np.float32)
            unit = self.deltas[level] @ turn.T + shape[self.anchors[level]]
            x = np.floor(left + unit[:, 0] * width + 0.5).astype(np.int64)
            y = np.floor(top + unit[:, 1] * height + 0.5).astype(np.int64)
            inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
            values = np.zeros(len(x), np.float32)
            values[inside] = intensity(image[y[inside], x[inside]])
            node = np.zeros(len(trees), np.int64)
            for _ in range(self.depth):
                pair = self.split_pixels[level, trees, node]
                go_left = values[pair[:, 0]] - values[pair[:, 1]] > self.split_thresholds[level, trees, node]
                node = np.where(go_left, 2 * node + 1, 2 * node + 2)
            shape = shape + self.leaves[level, trees, node - self.splits].sum(axis=0).reshape(-1, 2)
        return np.stack([left + shape[:, 0] * width, top + shape[:, 1] * height], axis=1)


def intensity(pixels: np.ndarray) -> np.ndarray:
    """dlib's gray level of gray or RGB ``(N, 3)`` pixels (the integer mean of the channels), read only
    where the trees look: converting a whole 1080p frame would cost more than the trees."""
    if pixels.ndim == 1:
        return pixels
    return pixels.astype(np.uint16).sum(axis=1) // 3
