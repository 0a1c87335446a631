"""EventStore: per-track events in SQLite (WAL), with a cursor, filters and waiters.

Events are committed before anyone is told about them, so whatever a client
has seen survives a restart; ``seq`` is SQLite's AUTOINCREMENT key and never
goes back, even after old events are deleted by retention.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from typing import Dict, List, Optional, Sequence

from edge.notify import Notifier
from edge.sqlite import StorageError, connect
from edge.types import Event

EVENT_TYPES = ("face.appeared", "identity.changed", "emotion.changed", "face.left")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    type TEXT NOT NULL,
    camera TEXT NOT NULL,
    track_id INTEGER NOT NULL,
    identity TEXT,
    emotion TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_time ON events(time);
CREATE INDEX IF NOT EXISTS events_identity ON events(identity, seq);
"""


def utc_iso(ts: Optional[datetime] = None) -> str:
    ts = ts or datetime.now(timezone.utc)
    return ts.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventStore:
    """Append-only event log with cursor queries and async long-poll waiters."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._conn = connect(path)
        with self._conn:
            self._conn.executescript(SCHEMA)
        self.last_seq = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
        self.notifier = Notifier()
        self.write_errors = 0

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def max_track_id(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COALESCE(MAX(track_id), 0) FROM events").fetchone()[0])

    def append(self, events: Sequence[Event]) -> List[Event]:
        """Store ``events`` in one transaction, give them ``seq`` and ``time``, then wake waiters."""
        if not events:
            return []
        now = utc_iso()
        try:
            with self._lock, self._conn:
                for ev in events:
                    ev.time = now
                    body = ev.as_dict()
                    cur = self._conn.execute(
                        "INSERT INTO events(time, type, camera, track_id, identity, emotion, body) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            now,
                            ev.type,
                            ev.camera,
                            ev.track_id,
                            ev.identity.name if ev.identity else None,
                            ev.emotion.label if ev.emotion else None,
                            json.dumps(body),
                        ),
                    )
                    ev.seq = int(cur.lastrowid)
                self.last_seq = events[-1].seq
        except sqlite3.Error as exc:
            self.write_errors += 1
            raise StorageError(f"could not store events: {exc} (is the disk full?)") from exc
        self.notifier.notify()
        return list(events)

    def query(
        self,
        after: int = 0,
        limit: int = 100,
        camera: Optional[str] = None,
        identity: Optional[str] = None,
        emotion: Optional[str] = None,
        types: Optional[Sequence[str]] = None,
        since: Optional[str] = None,
        until: Optional[str] = None,
    ) -> List[Dict[str, object]]:
        """Events with ``seq > after`` matching every given filter, oldest first."""
        sql = ["SELECT seq, time, body FROM events WHERE seq > ?"]
        args: List[object] = [after]
        for column, value in (("camera", camera), ("identity", identity), ("emotion", emotion)):
            if value is not None:
                sql.append(f"AND {column} = ?")
                args.append(value)
        if types:
            sql.append(f"AND type IN ({','.join('?' * len(types))})")
            args.extend(types)
        if since:
            sql.append("AND time >= ?")
            args.append(since)
        if until:
            sql.append("AND time < ?")
            args.append(until)
        sql.append("ORDER BY seq LIMIT ?")
        args.append(limit)
        with self._lock:
            rows = self._conn.execute(" ".join(sql), args).fetchall()
        out = []
        for seq, time, body in rows:
            event = json.loads(body)
            event["seq"], event["time"] = seq, time
            out.append(event)
        return out

    def delete_older_than(self, days: float) -> int:
        cutoff = utc_iso(datetime.now(timezone.utc) - timedelta(days=days))
        with self._lock, self._conn:
            return self._conn.execute("DELETE FROM events WHERE time < ?", (cutoff,)).rowcount

    async def wait_after(self, after: int, timeout: float) -> bool:
        """Wait until an event with ``seq > after`` exists or ``timeout`` passes; True if one exists."""
        return await self.notifier.wait_until(lambda: self.last_seq > after, timeout)
