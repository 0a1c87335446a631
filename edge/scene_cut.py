"""SceneCutDetector: tells when a frame starts a new shot (an edited video, a camera switch on a stream).

Across a cut, a face near where another face was is someone else: the tracker must not continue the old
track with it. The test compares colour distributions, not pixels: walkers and a moving camera shift
pixels but keep the colours of a scene, a cut replaces them. Measured on the annotated videos (``python -m
bench tracking``): HSV-histogram Bhattacharyya distances between analysed frames of one shot stay under
0.13 (frames up to 9 apart), the cuts of the hamilton clip are 0.43 to 0.58.
"""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from edge.types import CapturedFrame


class SceneCutDetector:
    """``is_cut(frame)``: is this frame's colour distribution far from the previous frame's?

    ``threshold`` is a Bhattacharyya distance (0 same, 1 disjoint) of 8 x 8 x 8-bin HSV histograms of a
    160 x 90 thumbnail (about 0.2 ms per frame); 0 turns detection off.
    """

    def __init__(self, threshold: float = 0.3) -> None:
        self.threshold = threshold
        self._previous: Optional[np.ndarray] = None

    def is_cut(self, frame: np.ndarray) -> bool:
        if self.threshold <= 0:
            return False
        hist = colour_histogram(frame)
        previous, self._previous = self._previous, hist
        if previous is None:
            return False
        return float(cv2.compareHist(previous, hist, cv2.HISTCMP_BHATTACHARYYA)) > self.threshold


class ShotCounter:
    """Numbers the shots of a sequence of frames: ``stamp`` gives each frame the index of the frame that began
    its shot. One per camera, on every captured frame, so that every reader agrees on where the cuts are."""

    def __init__(self, threshold: float = 0.3) -> None:
        self._cuts = SceneCutDetector(threshold)
        self.shot = 1

    def stamp(self, index: int, image: np.ndarray, time: float = 0.0) -> CapturedFrame:
        """Frame ``index`` (the next of the sequence) with its shot."""
        if self._cuts.is_cut(image):
            self.shot = index
        return CapturedFrame(index, image, time, self.shot)


def colour_histogram(frame: np.ndarray) -> np.ndarray:
    """Normalised 8 x 8 x 8-bin HSV histogram of a BGR frame's 160 x 90 thumbnail."""
    # Nearest-pixel sampling: a histogram needs no smoothing, and it keeps this at 0.2 ms for a 1080p frame.
    hsv = cv2.cvtColor(cv2.resize(frame, (160, 90), interpolation=cv2.INTER_NEAREST), cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, [8, 8, 8], [0, 180, 0, 256, 0, 256])
    return cv2.normalize(hist, hist).flatten()
