"""EventStore: per-track events in SQLite (WAL), with a cursor, filters and waiters.

Events are committed before anyone is told about them, so whatever a client
has seen survives a restart; ``seq`` is SQLite's AUTOINCREMENT key and never
goes back, even after old events are deleted by retention.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from edge.notify import Notifier
from edge.sqlite import CHUNK_ROWS, connect, delete_rows_older_than, in_chunks, prepare_schema, storage_error, utc_iso
from edge.types import Event, visitor_label

EVENT_TYPES = ("face.appeared", "identity.changed", "emotion.changed", "face.left")


class OpenTracks(NamedTuple):
    """A camera's tracks on screen, each as the face.left event it would get now (the crash-recovery record)."""

    camera: str
    would_leave: Sequence[Event]


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
-- A person's or visitor's visits (face search) are found by the label in the event's body
CREATE INDEX IF NOT EXISTS events_label ON events(json_extract(body, '$.data.label'), seq);
-- Tracks on screen, as the face.left event each would get now; rewritten every few seconds. Rows left
-- here by a crash or power loss become face.left events at the next start, so no visit goes uncounted.
CREATE TABLE IF NOT EXISTS open_tracks (
    camera TEXT NOT NULL,
    track_id INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (camera, track_id)
);
"""


class EventStore:
    """Append-only event log with cursor queries and async long-poll waiters."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._conn = connect(path)
        prepare_schema(self._conn, SCHEMA, "event")
        self.last_seq = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
        self.notifier = Notifier()
        self.write_errors = 0

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def max_track_id(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COALESCE(MAX(track_id), 0) FROM events").fetchone()[0])

    def append(self, events: Sequence[Event], open_tracks: Optional[OpenTracks] = None) -> List[Event]:
        """Store ``events`` in one transaction, give them ``seq`` and ``time``, then wake waiters.

        With ``open_tracks`` the camera's record of tracks on screen is replaced in the same transaction, so
        that a kill can never leave a stored face.appeared whose track the next start does not close (or a
        restart's face.left whose record would close the track a second time)."""
        if not events:
            return []
        now = utc_iso()
        try:
            with self._lock, self._conn:  # one transaction: all of them or none
                if open_tracks is not None:
                    self._replace_open_tracks(*open_tracks)
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
        except sqlite3.Error as exc:
            for ev in events:  # rolled back: these seqs were never stored and will be given again
                ev.seq = ev.time = None
            self.write_errors += 1
            raise storage_error("could not store events", exc) from exc
        # Only now, after the commit: a seq a client has seen is always stored.
        self.last_seq = events[-1].seq
        self.notifier.notify()
        return list(events)

    def get(self, seq: int) -> Optional[Dict[str, object]]:
        """The stored event ``seq``, or None."""
        found = self.query(after=seq - 1, limit=1) if seq > 0 else []
        return found[0] if found and found[0]["seq"] == seq else None

    def save_open_tracks(self, camera: str, would_leave: Sequence[Event]) -> None:
        """Record the tracks on screen (each as its face.left event now), replacing the last record."""
        try:
            with self._lock, self._conn:
                self._replace_open_tracks(camera, would_leave)
        except sqlite3.Error as exc:
            raise storage_error("could not record the tracks on screen", exc) from exc

    def _replace_open_tracks(self, camera: str, would_leave: Sequence[Event]) -> None:
        rows = [(camera, ev.track_id, json.dumps(ev.as_dict())) for ev in would_leave]
        self._conn.execute("DELETE FROM open_tracks WHERE camera = ?", (camera,))
        self._conn.executemany("INSERT INTO open_tracks(camera, track_id, body) VALUES (?, ?, ?)", rows)

    def close_open_tracks(self, camera: str) -> List[Event]:
        """Store face.left for the tracks a previous run left open (crash, power loss); returns them."""
        with self._lock:
            rows = self._conn.execute("SELECT body FROM open_tracks WHERE camera = ?", (camera,)).fetchall()
        if not rows:
            return []
        left = []
        for (body,) in rows:
            ev = Event.from_dict(json.loads(body))
            ev.data["closed_by"] = "restart"
            left.append(ev)
        self.append(left, open_tracks=OpenTracks(camera, []))
        return left

    def redact_identity(self, name: str, rows: int = CHUNK_ROWS) -> int:
        """Remove ``name`` from every stored event about them (privacy on deletion); returns the count.

        In chunks of ``rows`` events (edge.sqlite.in_chunks): over a long history, events go on being stored
        and read meanwhile."""

        def redact(limit: int) -> int:
            found = self._conn.execute(
                "SELECT seq, body FROM events WHERE identity = ? ORDER BY seq LIMIT ?", (name, limit)
            ).fetchall()
            self._conn.executemany(
                "UPDATE events SET identity = NULL, body = ? WHERE seq = ?",
                [(json.dumps(_redacted(json.loads(body), name)), seq) for seq, body in found],
            )
            return len(found)

        return in_chunks(self._lock, self._conn, redact, f"redact {name!r} from the events", rows)

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
        return _events_of(rows)

    def visits(self, label: str, limit: int = 20) -> List[Dict[str, object]]:
        """The ``face.left`` events (one per visit) of the person or visitor shown as ``label``, newest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, time, body FROM events WHERE json_extract(body, '$.data.label') = ? "
                "AND type = 'face.left' ORDER BY seq DESC LIMIT ?",
                (label, limit),
            ).fetchall()
        return _events_of(rows)

    def delete_older_than(self, days: float, rows: int = CHUNK_ROWS) -> int:
        """Retention: delete the events over ``days`` old, ``rows`` at a time (edge.sqlite.in_chunks)."""
        return delete_rows_older_than(self._conn, self._lock, "events", days, rows)

    async def wait_after(self, after: int, timeout: float) -> bool:
        """Wait until an event with ``seq > after`` exists or ``timeout`` passes; True if one exists."""
        return await self.notifier.wait_until(lambda: self.last_seq > after, timeout)


def _redacted(event: Dict[str, object], name: str) -> Dict[str, object]:
    """A stored event about ``name`` without the name: unnamed, and shown as the visitor its track was."""
    event["identity"] = {"name": None, "score": 0.0}
    data = event.get("data") or {}
    if data.get("label") == name:  # type: ignore[union-attr]
        data["label"] = visitor_label(int(event["track_id"]))  # type: ignore[index, call-overload]
    if data.get("previous") == name:  # type: ignore[union-attr]
        data["previous"] = None  # type: ignore[index]
    return event


def _events_of(rows: Sequence[Tuple[int, str, str]]) -> List[Dict[str, object]]:
    """Stored rows (seq, time, body) as the event dicts the API returns."""
    out = []
    for seq, time, body in rows:
        event = json.loads(body)
        event["seq"], event["time"] = seq, time
        out.append(event)
    return out
