"""Packed state dicts: uint8-quantized tensors stored as uint8 and rebuilt bit for bit."""

import numpy as np
import torch

from edge.models.packed_state import dequantize, load_state, pack
from tests.conftest import ROOT


def test_quantized_tensors_are_stored_as_uint8_and_rebuilt_exactly_the_rest_as_they_are(tmp_path):
    rng = np.random.default_rng(0)
    q = rng.integers(0, 256, size=(8, 3, 3, 3)).astype(np.uint8)
    q.flat[0], q.flat[1] = 0, 255
    scale, minimum = 0.0123, -1.57
    state = {"conv.weight": torch.from_numpy(dequantize(q, scale, minimum)), "fc.bias": torch.randn(5)}
    packed = pack(state, [(0.5, -3.0), (scale, minimum)])
    assert packed["tensors"]["conv.weight"]["q"].dtype == torch.uint8
    assert isinstance(packed["tensors"]["fc.bias"], torch.Tensor)  # no quantization rebuilds it: kept as is
    torch.save(packed, tmp_path / "packed.pt")
    torch.save(state, tmp_path / "plain.pt")
    for path in (tmp_path / "packed.pt", tmp_path / "plain.pt"):
        loaded = load_state(path)
        assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], state[k]) for k in state)


def test_the_shipped_descriptor_is_packed_and_four_times_smaller_than_its_float_weights():
    path = ROOT / "models" / "face_descriptor_128.pt"
    floats = sum(t.numel() * 4 for t in load_state(path).values())
    assert path.stat().st_size < floats / 3
