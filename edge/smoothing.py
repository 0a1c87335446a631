"""Per-track temporal smoothing: live video is where single-frame classifiers fail."""

from __future__ import annotations

from collections import Counter, deque
from typing import Deque, Dict, List, Optional, Sequence, Tuple

import numpy as np


class EmotionSmoother:
    """Moving average of emotion probabilities with a hysteresis on the dominant label.

    The dominant label changes only when a new label's smoothed probability
    leads the current one's by ``hysteresis``: a face hovering between two
    expressions does not flood clients with ``emotion.changed`` events.
    """

    def __init__(self, classes: Sequence[str], window: int = 8, hysteresis: float = 0.1) -> None:
        self.classes = list(classes)
        self.hysteresis = hysteresis
        self._recent: Deque[np.ndarray] = deque(maxlen=window)
        self.dominant: Optional[int] = None
        self.last: Optional[np.ndarray] = None  # the newest unsmoothed sample
        self._time_share = np.zeros(len(self.classes))

    def add(self, probs: np.ndarray) -> bool:
        """Add one sample; returns True when the dominant label changed."""
        self.last = np.asarray(probs, dtype=np.float64)
        self._recent.append(self.last)
        mean = self.mean()
        best = int(mean.argmax())
        if self.dominant is None:
            self.dominant = best
            return True
        if best != self.dominant and mean[best] - mean[self.dominant] >= self.hysteresis:
            self.dominant = best
            return True
        return False

    def mean(self) -> np.ndarray:
        return np.mean(self._recent, axis=0) if self._recent else np.zeros(len(self.classes))

    def tick(self, seconds: float) -> None:
        """Credit ``seconds`` of screen time to the current dominant label (for emotion shares)."""
        if self.dominant is not None:
            self._time_share[self.dominant] += seconds

    def shares(self) -> Dict[str, float]:
        total = self._time_share.sum()
        if total <= 0:
            return {}
        return {c: round(float(v / total), 4) for c, v in zip(self.classes, self._time_share) if v > 0}

    def current(self) -> Optional[Tuple[str, float, Dict[str, float]]]:
        if self.dominant is None:
            return None
        mean = self.mean()
        return self.classes[self.dominant], float(mean[self.dominant]), dict(zip(self.classes, map(float, mean)))


class IdentityVote:
    """A track's name is the majority over its recent identifications (None = stranger)."""

    def __init__(self, size: int = 5) -> None:
        self._recent: Deque[Tuple[Optional[str], float]] = deque(maxlen=size)
        self.name: Optional[str] = None
        self.score: float = 0.0
        self.decided = False

    def add(self, name: Optional[str], score: float) -> bool:
        """Add one identification; returns True when the voted name changed (or was first decided)."""
        self._recent.append((name, score))
        votes = Counter(n for n, _ in self._recent)
        top, _ = votes.most_common(1)[0]
        scores: List[float] = [s for n, s in self._recent if n == top]
        changed = not self.decided or top != self.name
        self.name, self.score, self.decided = top, float(np.mean(scores)), True
        return changed
