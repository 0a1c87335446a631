"""Prometheus text metrics: counters, gauges and rolling latency summaries."""

from __future__ import annotations

import threading
from collections import deque
from typing import Deque, Dict, List, Optional, Tuple

import numpy as np


class LatencyWindow:
    """The last ``size`` samples of one stage, for p50/p95 quantiles."""

    def __init__(self, size: int = 300) -> None:
        self.samples: Deque[float] = deque(maxlen=size)
        self.count = 0
        self.total = 0.0

    def add(self, seconds: float) -> None:
        self.samples.append(seconds)
        self.count += 1
        self.total += seconds

    def quantile(self, q: float) -> float:
        return float(np.quantile(np.asarray(self.samples), q)) if self.samples else 0.0


class Metrics:
    """What /metrics reports; updated by the pipeline threads. Counters and gauges of one camera carry its name
    as the ``camera`` label; the stage latencies are of the shared networks, so they carry none."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: Dict[Tuple[str, Optional[str]], float] = {}
        self.gauges: Dict[Tuple[str, Optional[str]], float] = {}
        self.stages: Dict[str, LatencyWindow] = {}

    def inc(self, name: str, value: float = 1.0, camera: Optional[str] = None) -> None:
        with self._lock:
            self.counters[name, camera] = self.counters.get((name, camera), 0.0) + value

    def set(self, name: str, value: float, camera: Optional[str] = None) -> None:
        with self._lock:
            self.gauges[name, camera] = float(value)

    def observe(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.stages.setdefault(stage, LatencyWindow()).add(seconds)

    @staticmethod
    def _lines(kind: str, values: Dict[Tuple[str, Optional[str]], float]) -> List[str]:
        """One TYPE line per metric, then its value per camera (unlabelled when it is not a camera's)."""
        lines: List[str] = []
        previous = None
        for (name, camera), value in sorted(values.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
            if name != previous:
                lines.append(f"# TYPE edge_{name} {kind}")
                previous = name
            label = f'{{camera="{camera}"}}' if camera is not None else ""
            lines.append(f"edge_{name}{label} {value:g}")
        return lines

    def render(self) -> str:
        """The Prometheus exposition format (text 0.0.4)."""
        with self._lock:
            lines = self._lines("counter", self.counters) + self._lines("gauge", self.gauges)
            if self.stages:
                lines.append("# HELP edge_stage_seconds Latency of each pipeline stage (rolling window).")
                lines.append("# TYPE edge_stage_seconds summary")
                for stage, w in sorted(self.stages.items()):
                    for q in (0.5, 0.95):
                        lines.append(f'edge_stage_seconds{{stage="{stage}",quantile="{q}"}} {w.quantile(q):.6f}')
                    lines.append(f'edge_stage_seconds_sum{{stage="{stage}"}} {w.total:.6f}')
                    lines.append(f'edge_stage_seconds_count{{stage="{stage}"}} {w.count}')
        return "\n".join(lines) + "\n"
