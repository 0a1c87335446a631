"""Converting dlib's shape predictor reproduces the shipped arrays; broken files are refused."""

import numpy as np
import pytest

from edge.identity.landmarks import FaceLandmarks5
from tests.conftest import ROOT, SHARED
from training.convert.shape_predictor import read_shape_predictor

DAT = SHARED / "weights" / "dlib" / "shape_predictor_5_face_landmarks.dat"


def test_conversion_reproduces_the_shipped_predictor(shared):
    converted = read_shape_predictor(DAT)
    shipped = FaceLandmarks5.load(ROOT / "models" / "face_landmarks_5.npz")
    assert converted.leaves.shape == (15, 500, 16, 10)  # 15 levels of 500 depth-4 trees, 5 points
    for name in ("initial_shape", "split_pixels", "split_thresholds", "leaves", "anchors", "deltas"):
        assert np.array_equal(getattr(converted, name), getattr(shipped, name)), name


def test_truncated_or_foreign_files_are_refused(shared, tmp_path):
    cut = tmp_path / "cut.dat"
    cut.write_bytes(DAT.read_bytes()[:100_000])
    with pytest.raises(ValueError, match="truncated"):
        read_shape_predictor(cut)
    other = tmp_path / "other.dat"
    other.write_bytes(b"\x01\x02" + DAT.read_bytes()[2:])
    with pytest.raises(ValueError, match="version-1"):
        read_shape_predictor(other)
