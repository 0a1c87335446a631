"""DetectionWorker: whole-frame face detection on a thread of its own.

Detection is most of an analysis step's cost and the rest is cheap: following the boxes onto the next frame,
tracking, and identity and emotion for the faces that need them. Run in one thread, the analysis waits for each
detection and the frames that arrive meanwhile are never tracked. With the detector on its own worker, the
camera's analysis goes on following and tracking every frame while the worker detects on an earlier one; the
detections are carried onto the frame the analysis has reached when they arrive (``VideoAnalyzer``).
One worker serves every camera of the service (one detection at a time, in the order asked): the CPU the
detector may take is bounded by one thread of work, whatever the number of cameras.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, List, Tuple

import numpy as np

from edge.types import Detections


@dataclass
class PendingDetection:
    """A detection asked for: the analysed frame number it runs on and its result to come (detections, seconds)."""

    frame_index: int
    result: Future

    def done(self) -> bool:
        return self.result.done()


class DetectionWorker:
    """Runs detections one at a time on its own thread; :meth:`submit` returns at once."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detection")
        self._asked: List[Future] = []  # not done yet, to cancel at close (Python 3.8 has no cancel_futures)
        self._lock = threading.Lock()  # the cameras' analysis threads submit

    def submit(
        self, detect: Callable[[np.ndarray], Detections], frame: np.ndarray, frame_index: int
    ) -> PendingDetection:
        """Detect with ``detect`` on ``frame`` (analysed frame number ``frame_index``) when the worker is free."""
        with self._lock:
            future = self._pool.submit(_timed, detect, frame)
            self._asked = [f for f in self._asked if not f.done()] + [future]
        return PendingDetection(frame_index, future)

    def close(self) -> None:
        """Stop taking work; a detection running finishes, the ones waiting are dropped."""
        with self._lock:
            for future in self._asked:
                future.cancel()
            self._pool.shutdown(wait=False)


def _timed(detect: Callable[[np.ndarray], Detections], frame: np.ndarray) -> Tuple[Detections, float]:
    t0 = time.perf_counter()
    return detect(frame), time.perf_counter() - t0
