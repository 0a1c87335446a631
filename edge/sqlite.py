"""Opening SQLite files the same way everywhere (WAL, foreign keys, clear errors)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Optional

# Rows a bulk change (retention, redaction) changes per transaction: the store's lock is held for tens of ms at a
# time, so that storing events and answering queries go on in between (`python -m bench store`).
CHUNK_ROWS = 500


class StorageError(RuntimeError):
    """The database cannot be opened or written (bad path, read-only, disk full, corrupt file).

    ``kind`` is "full", "readonly" or "other", so callers can react (release the reserve, say what to do).
    """

    def __init__(self, message: str, kind: str = "other") -> None:
        super().__init__(message)
        self.kind = kind


def storage_error(what: str, exc: BaseException) -> StorageError:
    """A :class:`StorageError` that says what failed, why, and what to do about it."""
    text = str(exc).lower()
    if "full" in text or "no space" in text:
        return StorageError(f"{what}: the disk is full ({exc}); free space on the data volume", "full")
    if "readonly" in text or "read-only" in text:
        return StorageError(f"{what}: the database is read-only ({exc}); make the data volume writable", "readonly")
    return StorageError(f"{what}: {exc}")


class StorageReserve:
    """Space set aside beside the database, released when the disk fills.

    A full disk would otherwise stop events from being stored at once; with the
    reserve released, SQLite has room to go on while the operator frees space
    (``/health`` says so). Re-created at the next start when there is room.
    """

    def __init__(self, database: str, megabytes: float) -> None:
        self.path = Path(f"{database}.reserve")
        self.size = int(megabytes * 1024 * 1024)
        self.released = False

    def ensure(self) -> bool:
        """Create the reserve file if it is missing; False when there is no room for it."""
        if self.size <= 0 or self.path.exists() and self.path.stat().st_size >= self.size:
            return True
        try:
            with self.path.open("wb") as fh:
                block = b"\0" * (1 << 20)
                for start in range(0, self.size, len(block)):
                    fh.write(block[: min(len(block), self.size - start)])
                fh.flush()
                os.fsync(fh.fileno())
            return True
        except OSError:
            with contextlib.suppress(OSError):
                self.path.unlink()
            return False

    def release(self) -> bool:
        """Give the space back to the disk; True if there was any to give."""
        if not self.path.exists():
            return False
        self.path.unlink()
        self.released = True
        return True


def connect(path: str) -> sqlite3.Connection:
    """A connection usable from several threads (callers serialise with their own lock)."""
    if path != ":memory:":
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the folder for database {path}: {exc}") from exc
    fresh = path != ":memory:" and not Path(path).exists()
    try:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=10)
        conn.execute("PRAGMA schema_version").fetchone()  # opens the file now, so a failure shows here
        if fresh:
            # Events name people and where they were: owner-only. SQLite gives its -wal and -shm files
            # the database file's mode.
            os.chmod(path, 0o600)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.OperationalError as exc:
        if not fresh and path != ":memory:" and Path(path).is_file():
            read_only = _open_read_only(path)
            if read_only is not None:
                return read_only
        raise storage_error(f"cannot open database {path}", exc) from exc
    except sqlite3.DatabaseError as exc:
        raise StorageError(
            f"cannot open database {path}: {exc}. If the file is corrupt, move it aside; a new one is created."
        ) from exc
    return conn


def _open_read_only(path: str) -> Optional[sqlite3.Connection]:
    """The database on a read-only volume: readable (history is served), every write fails as read-only."""
    try:
        uri = f"{Path(path).resolve().as_uri()}?mode=ro&immutable=1"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        conn.execute("PRAGMA query_only=1")
        conn.execute("PRAGMA schema_version").fetchone()
        return conn
    except sqlite3.Error:
        return None


def prepare_schema(conn: sqlite3.Connection, schema: str, what: str) -> None:
    """Create ``schema``'s tables; a read-only database that already has tables is served as it is."""
    try:
        with conn:
            conn.executescript(schema)
    except sqlite3.Error as exc:
        error = storage_error(f"cannot prepare the {what} tables", exc)
        has_tables = conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
        if error.kind != "readonly" or not has_tables:
            raise error from exc


def utc_iso(ts: Optional[datetime] = None) -> str:
    """The stored form of a time: UTC ISO-8601 with milliseconds and 'Z' (sorts as text)."""
    ts = ts or datetime.now(timezone.utc)
    return ts.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def in_chunks(lock, conn: sqlite3.Connection, change: Callable[[int], int], what: str, rows: int = CHUNK_ROWS) -> int:
    """Apply a bulk change as transactions of at most ``rows`` rows each, under ``lock`` one at a time.

    ``change(rows)`` changes up to ``rows`` rows and says how many; it is called until it changes fewer. Each
    chunk commits on its own: a failure (disk full) keeps the chunks done and is raised as a StorageError
    saying ``what`` failed. ``rows=0``: the whole change in one transaction (how `python -m bench store`
    compares)."""
    done = 0
    while True:
        try:
            with lock, conn:
                n = change(rows or -1)  # SQLite: LIMIT -1 is no limit
        except sqlite3.Error as exc:
            raise storage_error(f"could not {what}", exc) from exc
        done += n
        if not rows or n < rows:
            return done
        # Let a thread waiting for the lock take it: released and taken again at once, Python's lock would go to
        # this thread again and again (measured: 1.5 s waits for the other, as long as in one transaction).
        time.sleep(0)


def delete_rows_older_than(conn: sqlite3.Connection, lock, table: str, days: float, rows: int = CHUNK_ROWS) -> int:
    """Retention: delete the rows of ``table`` whose ``time`` (see :func:`utc_iso`) is over ``days`` old, in
    chunks (:func:`in_chunks`)."""
    cutoff = utc_iso(datetime.now(timezone.utc) - timedelta(days=days))
    sql = f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE time < ? LIMIT ?)"
    return in_chunks(lock, conn, lambda n: conn.execute(sql, (cutoff, n)).rowcount, f"apply retention to {table}", rows)
