"""Bulk changes of the event store while the service goes on using it.

A store of ``events`` events, all about one person: their name is redacted from every event (what
``DELETE /identities/{name}?redact_events=true`` does), then retention deletes them all. Each change runs
twice on copies of the same file: in one transaction (``rows=0``), and in chunks of ``edge.sqlite.CHUNK_ROWS``
rows (what the service does). Meanwhile a second thread does what the running service does to the store:
stores one event (the analysis) and reads the newest (a long-poll client) every 10 ms. The longest it waited
is how long the analysis's events and every client's answers stall.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List

from edge.events import EventStore
from edge.sqlite import CHUNK_ROWS
from edge.types import Event, Identity

PERSON = "Ada"


def _event(track_id: int, name: str) -> Event:
    return Event(
        "identity.changed", "door", track_id, [10.0, 10.0, 90.0, 90.0], Identity(name, 0.9), None, {"label": name}
    )


def build_store(path: Path, events: int) -> None:
    """``events`` events about PERSON, dated long ago (so that retention takes them all)."""
    store = EventStore(str(path))
    for start in range(0, events, 1000):
        store.append([_event(i, PERSON) for i in range(start, min(start + 1000, events))])
    store.close()
    conn = sqlite3.connect(str(path))
    with conn:
        conn.execute("UPDATE events SET time = '2000-01-01T00:00:00.000Z'")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the copies need the main file only
    conn.close()


def measure(path: Path, change: Callable[[EventStore], int]) -> Dict[str, float]:
    """Run ``change`` on the store at ``path`` while another thread stores and reads events."""
    store = EventStore(str(path))
    stop = threading.Event()
    waits: Dict[str, List[float]] = {"append": [], "query": []}

    def service() -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            store.append([_event(10**9, "Bob")])
            t1 = time.perf_counter()
            store.query(after=store.last_seq - 1, limit=10)
            t2 = time.perf_counter()
            waits["append"].append(t1 - t0)
            waits["query"].append(t2 - t1)
            stop.wait(0.01)

    worker = threading.Thread(target=service)
    worker.start()
    time.sleep(0.2)  # the worker's steady state first
    t0 = time.perf_counter()
    rows = change(store)
    seconds = time.perf_counter() - t0
    stop.set()
    worker.join()
    store.close()
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "events_stored_meanwhile": len(waits["append"]),
        "longest_append_ms": round(1000 * max(waits["append"]), 1),
        "longest_query_ms": round(1000 * max(waits["query"]), 1),
    }


def benchmark(events: int = 100_000) -> List[Dict[str, object]]:
    changes = {
        "redact": lambda rows: lambda store: store.redact_identity(PERSON, rows=rows),
        "retention": lambda rows: lambda store: store.delete_older_than(1, rows=rows),
    }
    results: List[Dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        original = Path(tmp) / "original.db"
        build_store(original, events)
        for name, make in changes.items():
            for rows in (0, CHUNK_ROWS):
                copy = Path(tmp) / f"{name}-{rows}.db"
                shutil.copy(original, copy)
                result = measure(copy, make(rows))
                results.append({"change": name, "chunk_rows": rows or "all", **result})
    for r in results:
        r["command"] = f"python -m bench store --events {events}"
    return results


def print_table(rows: List[Dict[str, object]]) -> None:
    print("| change | rows per transaction | rows | seconds | events stored meanwhile | longest store / read wait ms |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['change']} | {r['chunk_rows']} | {r['rows']} | {r['seconds']} | {r['events_stored_meanwhile']} | "
            f"{r['longest_append_ms']} / {r['longest_query_ms']} |"
        )
