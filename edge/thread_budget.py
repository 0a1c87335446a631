"""One thread budget for the libraries' own thread pools (OpenCV, PyTorch, ONNX Runtime), sized to the machine.

The service runs several threads of its own that each call into these libraries at the same time (per camera
capture, analysis and render, and the shared detection worker). Left to their defaults, each library starts a
pool as big as the machine for every such caller, and on a small CPU they take turns on the same cores.
Measured on 2 cores (`python -m bench stream --cameras 1`, 1080p demo, three runs each, one sitting): one
thread per pool analysed 18.9-19.1 frames a second at 150% CPU, the libraries' defaults 17.6-18.3 at 157-160%.
"""

from __future__ import annotations

import os

_onnx_threads = 0  # what OnnxBackend gives ONNX Runtime's intra-op pool (0: its default, the machine's cores)


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity: a container's cpuset, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def pool_threads(configured: int = 0) -> int:
    """``configured``, or (0) half the CPUs, at least 1: the analysis and the detection worker run networks
    at the same time, each with a pool of its own."""
    return configured or max(1, available_cpus() // 2)


def apply_thread_budget(threads: int) -> None:
    """Give every library's pool ``threads`` threads, from now on (ONNX Runtime: the sessions made after)."""
    global _onnx_threads
    import cv2
    import torch

    cv2.setNumThreads(threads)
    torch.set_num_threads(threads)
    _onnx_threads = threads


def onnx_threads() -> int:
    """ONNX Runtime's intra-op threads under the budget applied (0: none applied, its default)."""
    return _onnx_threads
