"""Presence report (GET /report): per person, visits, time seen, first and last seen, emotion shares.

Built from ``face.left`` events, each of which already summarises one track
(duration, first/last seen, the share of time per dominant emotion). Known
people are grouped by name; strangers are one row, ``person: null``, whose
``visits`` counts the visitor tracks, ``unique_visitors`` the visitor labels
among them and ``returning_visitors`` the labels seen on more than one visit
(a stranger who came back, recognised by the visitor memory). ``visit_emotions``
counts visits by the emotion of the whole visit (``face.left``'s ``dominant_emotion``: an emotion,
``uncertain``, or ``not_read`` when no look at the face could be read).
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
    labels: Dict[str, int] = field(default_factory=dict)  # visits per label shown (visitor-N for strangers)
    visit_emotions: Dict[str, int] = field(default_factory=dict)  # visits per emotion of the whole visit

    def add(self, left_event: dict) -> None:
        data = left_event.get("data") or {}
        label = str(data.get("label") or f"track-{left_event.get('camera')}-{left_event.get('track_id')}")
        self.labels[label] = self.labels.get(label, 0) + 1
        if data.get("dominant_emotion"):
            emotion = str(data["dominant_emotion"])
            self.visit_emotions[emotion] = self.visit_emotions.get(emotion, 0) + 1
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
        row: Dict[str, object] = {
            "person": self.person,
            "visits": self.visits,
            "time_seen_s": round(self.seconds, 2),
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "emotion_shares": shares,
            "visit_emotions": dict(sorted(self.visit_emotions.items())),
        }
        if self.person is None:
            row["unique_visitors"] = len(self.labels)
            row["returning_visitors"] = sum(1 for n in self.labels.values() if n > 1)
        return row


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


STRANGERS = "strangers"


def presence_timeline(left_events: Iterable[dict], bucket_s: float = 3600.0) -> Dict[str, object]:
    """Presence and emotion over time, for the report's charts, in buckets of ``bucket_s`` seconds.

    Each visit's time is spread over the buckets it overlaps; its emotion shares over that time.
    ``presence[person][i]`` is seconds seen in bucket ``i``; ``emotions[person][label][i]`` the seconds
    of it with that dominant emotion. Strangers together are ``"strangers"``.
    """
    visits = []
    for event in left_events:
        data = event.get("data") or {}
        first, last = data.get("first_seen"), data.get("last_seen")
        if first is None or last is None:
            continue
        name = (event.get("identity") or {}).get("name") or STRANGERS
        visits.append((name, float(first), max(float(last), float(first)), data.get("emotion_shares") or {}))
    if not visits:
        return {"bucket_s": bucket_s, "buckets": [], "presence": {}, "emotions": {}}
    start = min(v[1] for v in visits) // bucket_s * bucket_s
    count = int((max(v[2] for v in visits) - start) // bucket_s) + 1
    presence: Dict[str, List[float]] = {}
    emotions: Dict[str, Dict[str, List[float]]] = {}
    for name, first, last, shares in visits:
        row = presence.setdefault(name, [0.0] * count)
        for i in range(int((first - start) // bucket_s), int((last - start) // bucket_s) + 1):
            lo, hi = start + i * bucket_s, start + (i + 1) * bucket_s
            seen = max(0.0, min(last, hi) - max(first, lo))
            row[i] += seen
            for label, share in shares.items():
                emotions.setdefault(name, {}).setdefault(label, [0.0] * count)[i] += seen * float(share)
    return {
        "bucket_s": bucket_s,
        "buckets": [_iso(start + i * bucket_s) for i in range(count)],
        "presence": {name: _rounded(row) for name, row in presence.items()},
        "emotions": {n: {k: _rounded(v) for k, v in sorted(e.items())} for n, e in emotions.items()},
    }


def _rounded(values: List[float]) -> List[float]:
    return [round(v, 2) for v in values]
