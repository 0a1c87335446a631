"""VisitorMemory: what strangers looked like, so that one who comes back keeps their ``visitor-N``.

A visitor is a stranger's track that left: their mean embedding is kept (SQLite, beside the gallery) under the
id of the track that first brought them, and a later track whose mean embedding is at least ``threshold``
similar to it takes that id instead of a new one. Only embeddings are kept, never a face image; entries
older than ``storage.retention_days`` are deleted by the service's retention, one visitor at a time by
``DELETE /visitors/{id}``, and a visitor who is enrolled under a name is forgotten as a visitor.
Vectors are filed per embedder key (``network/alignment``): another network starts an empty memory.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Dict, List, Optional, Tuple

import numpy as np

from edge.identity.gallery import ranked_matches
from edge.sqlite import connect, delete_rows_older_than, prepare_schema, storage_error, utc_iso
from edge.types import visitor_label

SCHEMA = """
CREATE TABLE IF NOT EXISTS visitors (
    visitor_id INTEGER NOT NULL,
    embedder TEXT NOT NULL,
    vector BLOB NOT NULL,        -- float32 sum of the unit mean embeddings of its visits
    visits INTEGER NOT NULL,
    first_seen TEXT NOT NULL,
    time TEXT NOT NULL,          -- last seen (retention reads it)
    PRIMARY KEY (visitor_id, embedder)
);
CREATE TABLE IF NOT EXISTS visitor_negatives (
    visitor_id INTEGER NOT NULL,
    embedder TEXT NOT NULL,
    vector BLOB NOT NULL,        -- a face marked "not this visitor"
    time TEXT NOT NULL
);
"""


class VisitorMemory:
    """Strangers' mean embeddings by visitor id; ``recall`` finds a returning one, ``remember`` keeps one."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._conn = connect(path)
        prepare_schema(self._conn, SCHEMA, "visitor")
        self._cache: Optional[Tuple[str, List[int], np.ndarray, Dict[int, np.ndarray]]] = None

    def close(self) -> None:
        self._conn.close()

    def _templates(self, embedder: str) -> Tuple[List[int], np.ndarray, Dict[int, np.ndarray]]:
        """Ids, their unit templates, and each one's negatives (faces marked as not them); under the lock."""
        if self._cache is not None and self._cache[0] == embedder:
            return self._cache[1:]
        rows = self._conn.execute(
            "SELECT visitor_id, vector FROM visitors WHERE embedder = ? ORDER BY visitor_id", (embedder,)
        ).fetchall()
        ids = [int(r[0]) for r in rows]
        vectors = np.stack([np.frombuffer(r[1], np.float32) for r in rows]) if rows else np.zeros((0, 0), np.float32)
        if len(vectors):
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        negatives: Dict[int, List[np.ndarray]] = {}
        for vid, blob in self._conn.execute(
            "SELECT visitor_id, vector FROM visitor_negatives WHERE embedder = ?", (embedder,)
        ):
            negatives.setdefault(int(vid), []).append(np.frombuffer(blob, np.float32))
        stacked = {k: np.stack(v) for k, v in negatives.items()}
        self._cache = (embedder, ids, vectors, stacked)
        return ids, vectors, stacked

    def ranked(self, vector: np.ndarray, embedder: str) -> List[Tuple[int, float]]:
        """Every remembered visitor with the similarity of ``vector`` (unit length) to them, most similar first;
        visitors it is closer to a face marked as not them than to are left out."""
        with self._lock:
            ids, templates, negatives = self._templates(embedder)
        return ranked_matches(ids, templates, negatives, vector)

    def recall(self, vector: np.ndarray, embedder: str, threshold: float) -> Optional[Tuple[int, float]]:
        """The remembered visitor most similar to ``vector``, with its similarity, when that is at least
        ``threshold`` (see :meth:`ranked`); else None."""
        ranked = self.ranked(vector, embedder)
        return ranked[0] if ranked and ranked[0][1] >= threshold else None

    def remember(self, visitor_id: int, vector: np.ndarray, embedder: str, when: Optional[str] = None) -> None:
        """One more visit of ``visitor_id`` (a new visitor when unknown) with its mean embedding ``vector``."""
        when = when or utc_iso()
        blob = np.asarray(vector, np.float32)
        try:
            with self._lock, self._conn:
                row = self._conn.execute(
                    "SELECT vector FROM visitors WHERE visitor_id = ? AND embedder = ?", (visitor_id, embedder)
                ).fetchone()
                if row is None:
                    self._conn.execute(
                        "INSERT INTO visitors (visitor_id, embedder, vector, visits, first_seen, time) "
                        "VALUES (?, ?, ?, 1, ?, ?)",
                        (visitor_id, embedder, blob.tobytes(), when, when),
                    )
                else:
                    total = np.frombuffer(row[0], np.float32) + blob
                    self._conn.execute(
                        "UPDATE visitors SET vector = ?, visits = visits + 1, time = ? "
                        "WHERE visitor_id = ? AND embedder = ?",
                        (total.astype(np.float32).tobytes(), when, visitor_id, embedder),
                    )
                self._cache = None
        except sqlite3.Error as exc:
            raise storage_error("could not remember a visitor", exc) from exc

    def mark_not(self, visitor_id: int, vector: np.ndarray, embedder: str) -> None:
        """``vector`` is someone else: it no longer recalls ``visitor_id`` (nor does a face closer to it)."""
        try:
            with self._lock, self._conn:
                self._conn.execute(
                    "INSERT INTO visitor_negatives (visitor_id, embedder, vector, time) VALUES (?, ?, ?, ?)",
                    (visitor_id, embedder, np.asarray(vector, np.float32).tobytes(), utc_iso()),
                )
                self._cache = None
        except sqlite3.Error as exc:
            raise storage_error("could not store the correction", exc) from exc

    def merge(self, keep: int, other: int) -> bool:
        """``other`` is the same person as ``keep``: one visitor from now on (``keep``); False if either is
        unknown."""
        try:
            with self._lock, self._conn:
                rows = {
                    (vid, emb): (vec, visits, first)
                    for vid, emb, vec, visits, first in self._conn.execute(
                        "SELECT visitor_id, embedder, vector, visits, first_seen FROM visitors "
                        "WHERE visitor_id IN (?, ?)",
                        (keep, other),
                    )
                }
                if not any(k[0] == keep for k in rows) or not any(k[0] == other for k in rows):
                    return False
                for (vid, emb), (vec, visits, first) in rows.items():
                    if vid != other:
                        continue
                    mine = rows.get((keep, emb))
                    if mine is None:
                        self._conn.execute(
                            "UPDATE visitors SET visitor_id = ? WHERE visitor_id = ? AND embedder = ?",
                            (keep, other, emb),
                        )
                        continue
                    total = np.frombuffer(mine[0], np.float32) + np.frombuffer(vec, np.float32)
                    self._conn.execute(
                        "UPDATE visitors SET vector = ?, visits = visits + ?, first_seen = MIN(first_seen, ?) "
                        "WHERE visitor_id = ? AND embedder = ?",
                        (total.astype(np.float32).tobytes(), visits, first, keep, emb),
                    )
                    self._conn.execute("DELETE FROM visitors WHERE visitor_id = ? AND embedder = ?", (other, emb))
                self._conn.execute("UPDATE visitor_negatives SET visitor_id = ? WHERE visitor_id = ?", (keep, other))
                self._cache = None
                return True
        except sqlite3.Error as exc:
            raise storage_error("could not merge the visitors", exc) from exc

    def forget(self, visitor_id: int) -> bool:
        """Delete everything kept of ``visitor_id``; False when nothing was kept."""
        try:
            with self._lock, self._conn:
                n = self._conn.execute("DELETE FROM visitors WHERE visitor_id = ?", (visitor_id,)).rowcount
                self._conn.execute("DELETE FROM visitor_negatives WHERE visitor_id = ?", (visitor_id,))
                self._cache = None
                return n > 0
        except sqlite3.Error as exc:
            raise storage_error("could not delete the visitor", exc) from exc

    def get(self, visitor_id: int) -> Optional[Dict[str, object]]:
        """What is kept of one visitor (no vectors), or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT MAX(visits), MIN(first_seen), MAX(time) FROM visitors WHERE visitor_id = ?", (visitor_id,)
            ).fetchone()
        if row is None or row[0] is None:
            return None
        return {"visitor": visitor_label(visitor_id), "visits": int(row[0]), "first_seen": row[1], "last_seen": row[2]}

    def count(self) -> int:
        """How many visitors are remembered."""
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(DISTINCT visitor_id) FROM visitors").fetchone()[0])

    def delete_older_than(self, days: float) -> int:
        """Retention: forget visitors not seen for ``days``, and corrections older than that."""
        n = delete_rows_older_than(self._conn, self._lock, "visitors", days)
        delete_rows_older_than(self._conn, self._lock, "visitor_negatives", days)
        with self._lock:
            self._cache = None
        return n
