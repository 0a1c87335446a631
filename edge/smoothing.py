"""Per-track temporal smoothing: live video is where single-frame classifiers fail."""

from __future__ import annotations

from collections import Counter, deque
from typing import Deque, Dict, List, Optional, Sequence, Tuple

import numpy as np

UNCERTAIN = "uncertain"  # the label of a face whose emotion the model cannot tell with enough confidence
NOT_READ = "not_read"  # a face too small, blurred or turned to be read at all (emotion.min_quality)


class EmotionSmoother:
    """Moving average of emotion probabilities with a hysteresis on the dominant label.

    The dominant label changes only when a new label's smoothed probability
    leads the current one's by ``hysteresis``: a face hovering between two
    expressions does not flood clients with ``emotion.changed`` events.
    """

    def __init__(
        self, classes: Sequence[str], window: int = 8, hysteresis: float = 0.1, uncertain_below: float = 0.0
    ) -> None:
        self.classes = list(classes)
        self.hysteresis = hysteresis
        self.uncertain_below = uncertain_below
        self._recent: Deque[np.ndarray] = deque(maxlen=window)
        self.dominant: Optional[int] = None  # the last confident label; kept while uncertain
        self.uncertain = False  # the smoothed top probability is under ``uncertain_below``
        self.last: Optional[np.ndarray] = None  # the newest unsmoothed sample
        self.unread = False  # the newest look at the face could not be read (its quality was too low)
        # Time per label; the last two slots: uncertain, not read
        self._time_share = np.zeros(len(self.classes) + 2)
        self._visit_sum = np.zeros(len(self.classes))  # every read sample of the visit, for its emotion
        self._visit_reads = 0

    def not_read(self) -> None:
        """The face was looked at but could not be read: no emotion is shown until one can be."""
        self.unread = True

    def add(self, probs: np.ndarray) -> bool:
        """Add one sample; returns True when the dominant label changed (never for an uncertain face)."""
        self.unread = False
        self.last = np.asarray(probs, dtype=np.float64)
        self._recent.append(self.last)
        self._visit_sum += self.last
        self._visit_reads += 1
        mean = self.mean()
        best = int(mean.argmax())
        self.uncertain = bool(mean[best] < self.uncertain_below)
        if self.uncertain:
            return False
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
        """Credit ``seconds`` of screen time to the current label, or to "uncertain" or "not read" (for
        emotion shares)."""
        if self.unread:
            self._time_share[-1] += seconds
        elif self.uncertain:
            self._time_share[-2] += seconds
        elif self.dominant is not None:
            self._time_share[self.dominant] += seconds

    def shares(self) -> Dict[str, float]:
        total = self._time_share.sum()
        if total <= 0:
            return {}
        labels = self.classes + [UNCERTAIN, NOT_READ]
        return {c: round(float(v / total), 4) for c, v in zip(labels, self._time_share) if v > 0}

    def visit(self) -> Tuple[str, float]:
        """The emotion of the whole visit: the mean of every read sample's calibrated probabilities, with the
        uncertain rule applied to it; ("not_read", 0) when no look at the face could be read."""
        if self._visit_reads == 0:
            return NOT_READ, 0.0
        mean = self._visit_sum / self._visit_reads
        best = int(mean.argmax())
        return (UNCERTAIN if mean[best] < self.uncertain_below else self.classes[best]), float(mean[best])

    def current(self) -> Optional[Tuple[str, float, Dict[str, float]]]:
        """(label, smoothed probability, all smoothed probabilities); the label is "uncertain" when the
        smoothed top probability is under ``uncertain_below``; None before the first read sample and while
        the face cannot be read."""
        if self.unread:
            return None
        mean = self.mean()
        if self.uncertain:
            return UNCERTAIN, float(mean.max()), dict(zip(self.classes, map(float, mean)))
        if self.dominant is None:
            return None
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
