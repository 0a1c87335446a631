"""Opening SQLite files the same way everywhere (WAL, foreign keys, clear errors)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


class StorageError(RuntimeError):
    """The database cannot be opened or written (bad path, read-only, disk full, corrupt file)."""


def connect(path: str) -> sqlite3.Connection:
    """A connection usable from several threads (callers serialise with their own lock)."""
    if path != ":memory:":
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the folder for database {path}: {exc}") from exc
    try:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.DatabaseError as exc:
        raise StorageError(
            f"cannot open database {path}: {exc}. If the file is corrupt, move it aside; a new one is created."
        ) from exc
    return conn
