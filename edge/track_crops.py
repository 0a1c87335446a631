"""TrackCropStore: the best face crops of each announced track, kept as long as retention allows.

They are the thumbnails of the track's events (``GET /events/{seq}/thumbnail.jpg``) and let a user name
a visitor after the fact (``POST /events/{seq}/enroll``). Saved when a track is announced and again,
with its best faces by then, when it leaves. Crops of strangers are personal data: they are deleted
with the events of the same age (``storage.retention_days``), with the person they show, and the oldest
go first when they take more than ``storage.max_thumbnail_mb``. The database file is owner-only (see
:mod:`edge.sqlite`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import List, Sequence, Tuple

import cv2
import numpy as np

from edge.sqlite import connect, delete_rows_older_than, prepare_schema, storage_error, utc_iso
from edge.types import FaceCrop

SCHEMA = """
CREATE TABLE IF NOT EXISTS track_crops (
    camera TEXT NOT NULL,
    track_id INTEGER NOT NULL,
    rank INTEGER NOT NULL,
    time TEXT NOT NULL,
    quality REAL NOT NULL,
    png BLOB NOT NULL,
    box TEXT NOT NULL,
    landmarks TEXT NOT NULL,
    PRIMARY KEY (camera, track_id, rank)
);
CREATE INDEX IF NOT EXISTS track_crops_time ON track_crops(time);
"""


class TrackCropStore:
    """Best crops per (camera, track), in the service's SQLite file."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._conn = connect(path)
        prepare_schema(self._conn, SCHEMA, "track crop")
        # Bytes of PNG kept, counted once here and then by every change: enforce_limit runs after every save,
        # in the analysis thread, and must not scan the table each time.
        self._bytes = self._total()

    def _total(self) -> int:
        return int(self._conn.execute("SELECT COALESCE(SUM(LENGTH(png)), 0) FROM track_crops").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def save(self, camera: str, track_id: int, crops: Sequence[FaceCrop]) -> None:
        rows = []
        now = utc_iso()
        for rank, c in enumerate(crops):
            ok, png = cv2.imencode(".png", cv2.cvtColor(c.crop, cv2.COLOR_RGB2BGR))
            if ok:
                box, landmarks = json.dumps(np.asarray(c.box).tolist()), json.dumps(np.asarray(c.landmarks).tolist())
                rows.append((camera, track_id, rank, now, float(c.quality), png.tobytes(), box, landmarks))
        try:
            with self._lock, self._conn:
                replaced = self._conn.execute(
                    "SELECT COALESCE(SUM(LENGTH(png)), 0) FROM track_crops WHERE camera = ? AND track_id = ? "
                    "AND rank < ?",
                    (camera, track_id, len(rows)),
                ).fetchone()[0]
                self._conn.executemany("INSERT OR REPLACE INTO track_crops VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self._bytes += sum(len(r[5]) for r in rows) - int(replaced)
        except sqlite3.Error as exc:
            raise storage_error(f"could not keep the faces of track {track_id}", exc) from exc

    def load(self, camera: str, track_id: int, limit: int = 1 << 30) -> List[FaceCrop]:
        """The kept crops of a track, best first (at most ``limit``)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT quality, png, box, landmarks FROM track_crops WHERE camera = ? AND track_id = ? "
                "ORDER BY rank LIMIT ?",
                (camera, track_id, limit),
            ).fetchall()
        out = []
        for quality, png, box, landmarks in rows:
            bgr = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
            out.append(
                FaceCrop(
                    quality,
                    cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
                    np.array(json.loads(box)),
                    np.array(json.loads(landmarks)),
                )
            )
        return out

    def delete_tracks(self, tracks: Sequence[Tuple[str, int]]) -> int:
        """Forget every crop of these (camera, track id) pairs; returns how many crops went."""
        try:
            with self._lock, self._conn:
                removed = sum(
                    self._conn.execute(
                        "DELETE FROM track_crops WHERE camera = ? AND track_id = ?", (camera, track_id)
                    ).rowcount
                    for camera, track_id in set(tracks)
                )
                self._bytes = self._total()
        except sqlite3.Error as exc:
            raise storage_error("could not delete face crops", exc) from exc
        return removed

    def enforce_limit(self, max_bytes: int) -> int:
        """Delete the oldest tracks' crops until all take at most ``max_bytes``; returns how many went."""
        if self._bytes <= max_bytes:
            return 0
        removed = 0
        try:
            with self._lock, self._conn:
                total = self._total()
                rows = self._conn.execute(
                    "SELECT camera, track_id, SUM(LENGTH(png)) FROM track_crops GROUP BY camera, track_id "
                    "ORDER BY MIN(time), track_id"
                ).fetchall()
                for camera, track_id, size in rows:
                    if total <= max_bytes:
                        break
                    removed += self._conn.execute(
                        "DELETE FROM track_crops WHERE camera = ? AND track_id = ?", (camera, track_id)
                    ).rowcount
                    total -= size
                self._bytes = total
        except sqlite3.Error as exc:
            raise storage_error("could not trim the kept face crops", exc) from exc
        return removed

    def delete_older_than(self, days: float) -> int:
        removed = delete_rows_older_than(self._conn, self._lock, "track_crops", days)
        if removed:
            with self._lock:
                self._bytes = self._total()
        return removed
