"""The process's thread budget: every library's pool gets the same size, sized to the CPUs it may use."""

import os

import cv2
import pytest
import torch

from edge import thread_budget
from edge.thread_budget import apply_thread_budget, available_cpus, onnx_threads, pool_threads


@pytest.fixture
def restored():
    """The libraries' pools as they were: the rest of the suite runs with their defaults."""
    before = cv2.getNumThreads(), torch.get_num_threads(), thread_budget._onnx_threads
    yield
    cv2.setNumThreads(before[0])
    torch.set_num_threads(before[1])
    thread_budget._onnx_threads = before[2]


def test_the_default_is_half_the_cpus_this_process_may_use():
    assert available_cpus() == len(os.sched_getaffinity(0))
    assert pool_threads(0) == max(1, available_cpus() // 2) and pool_threads(3) == 3


def test_the_budget_sizes_opencv_pytorch_and_the_onnx_sessions_made_after(restored, tmp_path):
    import onnxruntime as ort

    from edge.backends import OnnxBackend

    apply_thread_budget(1)
    assert cv2.getNumThreads() == 1 and torch.get_num_threads() == 1 and onnx_threads() == 1
    onnx = tmp_path / "tiny.onnx"
    torch.onnx.export(torch.nn.Linear(4, 2).eval(), torch.zeros(1, 4), str(onnx), dynamo=False)
    backend = OnnxBackend(onnx)
    options = backend.session.get_session_options()
    assert isinstance(backend.session, ort.InferenceSession) and options.intra_op_num_threads == 1
    assert OnnxBackend(onnx, threads=2).session.get_session_options().intra_op_num_threads == 2
