"""Convert dlib's ``shape_predictor_5_face_landmarks.dat`` into the arrays of :class:`FaceLandmarks5`.

dlib's serialisation, as far as a shape predictor needs it: an integer is one byte
(low 4 bits: how many little-endian bytes follow; bit 7: negative) and those bytes;
a float is two integers, mantissa and binary exponent; a column vector is its
negated row and column counts and then its elements; a std::vector is its length
and then its elements. The file holds a version (1), the mean shape, the forests
(per level, per tree: its splits (pixel index, pixel index, threshold) and its
leaves), and per level the anchor point and offset of each feature pixel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, List, Tuple, TypeVar

import numpy as np

from edge.identity.landmarks import FaceLandmarks5

T = TypeVar("T")


class DlibReader:
    """Reads dlib's serialised integers, floats, column vectors and vectors from a byte string."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def integer(self) -> int:
        if self.pos >= len(self.data):
            raise ValueError(f"the file ends at byte {self.pos} inside the predictor: truncated or not one")
        head = self.data[self.pos]
        size = head & 0x0F
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if head & 0x80 else value

    def real(self) -> float:
        mantissa = self.integer()
        return float(mantissa) * 2.0 ** self.integer()

    def column(self) -> np.ndarray:
        rows, cols = abs(self.integer()), abs(self.integer())
        return np.array([self.real() for _ in range(rows * cols)], np.float32)

    def sequence(self, item: Callable[[], T]) -> List[T]:
        return [item() for _ in range(self.integer())]

    @property
    def done(self) -> bool:
        return self.pos == len(self.data)


def read_shape_predictor(path: Path) -> FaceLandmarks5:
    """The predictor stored in dlib's ``.dat`` file; raises ValueError for anything else."""
    r = DlibReader(Path(path).read_bytes())
    if r.integer() != 1:
        raise ValueError(f"{path}: not a version-1 dlib shape predictor")
    initial = r.column()

    def tree() -> Tuple[List[Tuple[int, int, float]], List[np.ndarray]]:
        splits = r.sequence(lambda: (r.integer(), r.integer(), r.real()))
        return splits, r.sequence(r.column)

    forests = r.sequence(lambda: r.sequence(tree))
    anchors = r.sequence(lambda: r.sequence(r.integer))
    deltas = r.sequence(lambda: r.sequence(lambda: (r.real(), r.real())))
    if not r.done:
        raise ValueError(f"{path}: {len(r.data) - r.pos} bytes left after the predictor")
    return FaceLandmarks5(
        initial_shape=initial.reshape(-1, 2),
        split_pixels=np.array([[[s[:2] for s in splits] for splits, _ in level] for level in forests]),
        split_thresholds=np.array([[[s[2] for s in splits] for splits, _ in level] for level in forests]),
        leaves=np.array([[np.stack(leaves) for _, leaves in level] for level in forests]),
        anchors=np.array(anchors),
        deltas=np.array(deltas),
    )


MANIFEST_FIELDS = {
    "architecture": "ensemble of regression trees, 15 levels x 500 trees of depth 4 (edge.identity.landmarks)",
    "output": "5 points: the corners of both eyes and the base of the nose, dlib's order",
    "input": "uint8 gray (mean of R, G, B) image and a face box (the MTCNN box)",
    "source": "dlib shape_predictor_5_face_landmarks.dat, converted by python -m training convert-shape-predictor",
    "license": "CC0 (dlib-models)",
    "parity": "points within 0.8 px of dlib's, scaled to a 100 px face, on the same boxes "
    "(lfw_calib and shared photos; tests/edge/identity/test_landmarks.py)",
}


def convert_shape_predictor(src: Path, dest: Path) -> FaceLandmarks5:
    predictor = read_shape_predictor(src)
    dest.parent.mkdir(parents=True, exist_ok=True)
    predictor.save(dest)
    return predictor
