"""Presence report (GET /report): per person, visits, time seen, first and last seen, emotion shares.

Built from ``face.left`` events, each of which already summarises one track
(duration, first/last seen, the share of time per dominant emotion). Known
people are grouped by name; strangers are one row, ``person: null``, whose
``visits`` counts the visitor tracks.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Dict, Iterable, List, Optional


@dataclass
class PersonPresence:
    """One row of the report."""

    person: Optional[str]
    visits: int = 0
    seconds: float = 0.0
    first_seen: float = float("inf")
    last_seen: float = float("-inf")
    emotion_seconds: Dict[str, float] = field(default_factory=dict)

    def add(self, left_event: dict) -> None:
        data = left_event.get("data") or {}
        duration = float(data.get("duration_s") or 0.0)
        self.visits += 1
        self.seconds += duration
        self.first_seen = min(self.first_seen, float(data.get("first_seen", self.first_seen)))
        self.last_seen = max(self.last_seen, float(data.get("last_seen", self.last_seen)))
        for label, share in (data.get("emotion_shares") or {}).items():
            self.emotion_seconds[label] = self.emotion_seconds.get(label, 0.0) + float(share) * duration

    def as_dict(self) -> Dict[str, object]:
        total = sum(self.emotion_seconds.values())
        shares = {k: round(v / total, 4) for k, v in sorted(self.emotion_seconds.items())} if total else {}
        return {
            "person": self.person,
            "visits": self.visits,
            "time_seen_s": round(self.seconds, 2),
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "emotion_shares": shares,
        }


def _iso(ts: float) -> Optional[str]:
    if ts in (float("inf"), float("-inf")):
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def presence_report(left_events: Iterable[dict]) -> List[Dict[str, object]]:
    """Rows from ``face.left`` events: known people by time seen (longest first), strangers last."""
    rows: Dict[Optional[str], PersonPresence] = {}
    for event in left_events:
        name = (event.get("identity") or {}).get("name")
        rows.setdefault(name, PersonPresence(name)).add(event)
    ordered = sorted((r for r in rows.values() if r.person is not None), key=lambda r: -r.seconds)
    if None in rows:
        ordered.append(rows[None])
    return [r.as_dict() for r in ordered]


def report_csv(rows: List[Dict[str, object]], emotions: Iterable[str]) -> str:
    """The same rows as CSV, one ``share_<emotion>`` column per class."""
    emotions = list(emotions)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["person", "visits", "time_seen_s", "first_seen", "last_seen"] + [f"share_{e}" for e in emotions])
    for r in rows:
        shares = r["emotion_shares"]
        writer.writerow(
            [r["person"] or "", r["visits"], r["time_seen_s"], r["first_seen"] or "", r["last_seen"] or ""]
            + [shares.get(e, 0.0) for e in emotions]
        )
    return out.getvalue()
