"""The service on a disk that fills up or turns read-only: nothing stored is lost, no seq is reused.

Real file systems: a small tmpfs mounted for the test (root, as in CI). Where mounting is not allowed,
the same failures are produced at the SQLite layer: a page-count cap gives SQLite's own "database or
disk is full", ``query_only`` its "attempt to write a readonly database".
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from bench.server_process import ServerProcess
from edge.events import EventStore
from edge.sqlite import StorageError
from edge.types import Event


@contextlib.contextmanager
def small_disk(path: Path, size: str):
    path.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)]).returncode
    ):
        pytest.skip("mounting a tmpfs needs root; the SQLite-layer tests below cover the same failures")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)])


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as fh:
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()
    return filler


def all_events(url: str) -> list:
    out, after = [], 0
    while True:
        page = httpx.get(url + "/events", params={"after": after, "limit": 1000}, timeout=10).json()
        out += page["events"]
        if len(page["events"]) < 1000:
            return out
        after = page["next"]


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout}s")


def health(url: str) -> dict:
    return httpx.get(url + "/health", timeout=10).json()


def event(track: int) -> Event:
    return Event("face.appeared", "cam", track, [1.0, 2.0, 3.0, 4.0])


def test_a_full_database_keeps_seq_honest(tmp_path):
    store = EventStore(str(tmp_path / "e.db"))
    store.append([event(1)])
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count={pages}")  # SQLite's own SQLITE_FULL from here on
    batch = [event(t) for t in range(2, 400)]
    with pytest.raises(StorageError) as failed:
        store.append(batch)
    assert failed.value.kind == "full" and "free space" in str(failed.value)
    assert store.last_seq == 1 and all(ev.seq is None for ev in batch)  # nothing claimed, nothing served
    store._conn.execute("PRAGMA max_page_count=1073741823")
    store.append(batch)
    assert [e["seq"] for e in store.query(0, 1000)] == list(range(1, 400))


def test_a_read_only_database_says_so(tmp_path):
    store = EventStore(str(tmp_path / "e.db"))
    store._conn.execute("PRAGMA query_only=1")
    with pytest.raises(StorageError) as failed:
        store.delete_older_than(1)
    assert failed.value.kind == "readonly" and "writable" in str(failed.value)


@pytest.mark.slow
def test_full_disk_then_kill_and_restart_loses_no_event(tmp_path):
    with small_disk(tmp_path / "disk", "6m") as disk:
        db = disk / "edge.db"
        env = {"EDGE_STORAGE__RESERVE_MB": "1"}
        first = ServerProcess(db, env=env, log=tmp_path / "first.log").start()
        try:
            wait_for(lambda: all_events(first.url), 60, "no event")
            filler = fill(disk)
            state = wait_for(
                lambda: "reserve was released" in health(first.url)["problems"].get("storage", ""), 60, "no release"
            )
            assert state
            stored_after_release = wait_for(
                lambda: [e for e in all_events(first.url) if e["seq"] > 0], 30, "no events after the release"
            )
            last_before = max(e["seq"] for e in stored_after_release)
            wait_for(
                lambda: httpx.get(first.url + "/events", params={"after": last_before}).json()["events"],
                60,
                "events stopped being stored after the reserve was released",
            )
            seen = {e["seq"]: e for e in all_events(first.url)}
        finally:
            first.proc.kill()  # a power cut while the disk is full
            first.stop()
        second = ServerProcess(db, env=env, log=tmp_path / "second.log").start()
        try:
            assert "storage" in health(second.url)["problems"] or health(second.url)["status"] == "ok"
            filler.unlink()  # the operator frees space
            later = wait_for(
                lambda: [e for e in all_events(second.url) if e["seq"] > max(seen)], 60, "no event after freeing space"
            )
            assert later
            final = all_events(second.url)
            seqs = [e["seq"] for e in final]
            assert seqs == sorted(set(seqs))  # no seq reused
            by_seq = {e["seq"]: e for e in final}
            assert all(by_seq.get(s) == e for s, e in seen.items())  # every event ever served is still there
        finally:
            second.stop()


@pytest.mark.slow
def test_a_read_only_volume_serves_video_and_history(tmp_path):
    with small_disk(tmp_path / "disk", "8m") as disk:
        db = disk / "edge.db"
        first = ServerProcess(db, log=tmp_path / "first.log").start()
        try:
            wait_for(lambda: all_events(first.url), 60, "no event")
        finally:
            first.stop()
        assert subprocess.run(["mount", "-o", "remount,ro", str(disk)]).returncode == 0
        second = ServerProcess(db, log=tmp_path / "second.log").start()  # no crash loop: it starts
        try:
            state = health(second.url)
            assert state["ready"] is True and state["status"] == "degraded"
            assert "read-only" in state["problems"]["storage"]
            before = all_events(second.url)
            assert before and before[0]["seq"] == 1
        finally:
            second.stop()
