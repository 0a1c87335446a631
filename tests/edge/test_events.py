import asyncio
import sqlite3
import threading
import time

import pytest

from edge.events import EventStore, OpenTracks
from edge.sqlite import StorageError, utc_iso
from edge.types import Emotion, Event, Identity


def ev(kind="face.appeared", track=1, name=None, label="happy", camera="demo"):
    return Event(
        kind, camera, track, [1, 2, 3, 4], Identity(name, 0.9 if name else 0.0), Emotion(label, 0.8, {label: 0.8})
    )


def test_seq_cursor_filters_and_restart(tmp_path):
    db = str(tmp_path / "e.db")
    store = EventStore(db)
    store.append([ev(), ev("emotion.changed", 1, label="sad"), ev(track=2, name="ana"), ev("face.left", 2, "ana")])
    assert [e["seq"] for e in store.query()] == [1, 2, 3, 4]
    assert [e["seq"] for e in store.query(after=2)] == [3, 4]
    assert [e["seq"] for e in store.query(limit=1)] == [1]
    assert [e["seq"] for e in store.query(identity="ana")] == [3, 4]
    assert [e["seq"] for e in store.query(emotion="sad")] == [2]
    assert [e["seq"] for e in store.query(types=["face.left", "emotion.changed"])] == [2, 4]
    assert store.query(camera="other") == []
    first = store.query()[0]
    assert first["time"].endswith("Z") and first["identity"] == {"name": None, "score": 0.0}
    assert store.query(since="2999-01-01T00:00:00.000Z") == []
    store.close()

    # A new process on the same file: events are still there and seq keeps increasing.
    again = EventStore(db)
    assert again.last_seq == 4 and again.max_track_id() == 2
    again.append([ev(track=3)])
    assert [e["seq"] for e in again.query(after=4)] == [5]
    mode = sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_seq_never_goes_back_after_retention(tmp_path):
    store = EventStore(str(tmp_path / "e.db"))
    store.append([ev(), ev()])
    store._conn.execute("UPDATE events SET time = '2000-01-01T00:00:00.000Z'")
    store._conn.commit()
    assert store.delete_older_than(1) == 2
    store.append([ev()])
    assert store.query()[0]["seq"] == 3


def test_wait_after_wakes_when_an_event_arrives(tmp_path):
    store = EventStore(str(tmp_path / "e.db"))

    async def scenario():
        threading.Timer(0.3, lambda: store.append([ev()])).start()
        t0 = time.monotonic()
        got = await store.wait_after(0, timeout=5)
        return got, time.monotonic() - t0

    got, waited = asyncio.run(scenario())
    assert got and 0.2 < waited < 3
    assert asyncio.run(store.wait_after(1, timeout=0.2)) is False


def test_unwritable_database_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="cannot"):
        EventStore(str(blocker / "sub" / "e.db"))


def test_redacting_a_person_removes_their_name_from_stored_events(tmp_path):
    store = EventStore(str(tmp_path / "e.db"))
    named = ev(track=7, name="ana")
    named.data = {"label": "ana"}
    store.append([named, ev("face.left", 7, "ana"), ev(track=8, name="bo")])
    assert store.redact_identity("ana") == 2
    assert store.query(identity="ana") == []
    events = store.query()
    assert [e["identity"]["name"] for e in events] == [None, None, "bo"]
    assert events[0]["data"]["label"] == "visitor-7"
    assert "ana" not in str(events)


def test_redaction_and_retention_in_chunks_change_what_one_transaction_does(tmp_path):
    stores = {rows: EventStore(str(tmp_path / f"{rows}.db")) for rows in (0, 3)}
    now = utc_iso()
    for store in stores.values():
        store.append([ev(track=t, name="ana" if t % 4 else "bo") for t in range(11)])  # 8 of ana's, 3 of bo's
        # One time for both stores' rows (each store stamps its own append): old for 7 of them, now for the rest.
        store._conn.execute(
            "UPDATE events SET time = CASE WHEN track_id < 7 THEN '2000-01-01T00:00:00.000Z' ELSE ? END", (now,)
        )
        store._conn.commit()
    assert [s.redact_identity("ana", rows=rows) for rows, s in stores.items()] == [8, 8]
    assert stores[0].query() == stores[3].query()
    assert [s.delete_older_than(1, rows=rows) for rows, s in stores.items()] == [7, 7]
    assert stores[0].query() == stores[3].query() and len(stores[3].query()) == 4


def test_a_long_redaction_lets_the_analysis_store_its_events_meanwhile(tmp_path):
    store = EventStore(str(tmp_path / "e.db"))
    for start in range(0, 20_000, 1000):
        store.append([ev(track=t, name="ana") for t in range(start, start + 1000)])
    reader = sqlite3.connect(str(tmp_path / "e.db"))

    def named() -> int:
        return reader.execute("SELECT COUNT(*) FROM events WHERE identity = 'ana'").fetchone()[0]

    redaction = threading.Thread(target=store.redact_identity, args=("ana",), kwargs={"rows": 100})
    redaction.start()
    while named() == 20_000:  # the first chunk is committed
        time.sleep(0.001)
    store.append([ev(track=99_999, name="bo")])  # in one transaction, this waits until every event is redacted
    left = named()
    redaction.join()
    assert 0 < left < 20_000 and named() == 0, left


def test_open_tracks_become_face_left_at_the_next_start(tmp_path):
    db = str(tmp_path / "e.db")
    store = EventStore(db)
    store.append([ev(track=3)])
    store.save_open_tracks("demo", [ev("face.left", 3, label="sad")])
    store.close()  # a crash: no face.left was stored
    again = EventStore(db)
    closed = again.close_open_tracks("demo")
    assert [(e.type, e.track_id, e.data["closed_by"]) for e in closed] == [("face.left", 3, "restart")]
    assert [e["type"] for e in again.query()] == ["face.appeared", "face.left"]
    assert again.close_open_tracks("demo") == []  # closed once


def test_events_and_the_open_tracks_record_are_stored_together_or_not_at_all(tmp_path):
    """A kill between storing face.appeared and recording its track left the track open forever."""
    db = str(tmp_path / "e.db")
    store = EventStore(db)
    store.append([ev(track=3)], open_tracks=OpenTracks("demo", [ev("face.left", 3)]))
    with sqlite3.connect(db) as other:  # a write that fails halfway through the batch
        other.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.track_id = 99 BEGIN SELECT RAISE(ABORT, 'no'); END"
        )
    with pytest.raises(StorageError):
        store.append([ev(track=4), ev(track=99)], open_tracks=OpenTracks("demo", [ev("face.left", 4)]))
    store.close()  # a crash right after
    again = EventStore(db)
    closed = again.close_open_tracks("demo")
    assert [e.track_id for e in closed] == [3]  # the record rolled back with the events
    assert [(e["type"], e["track_id"]) for e in again.query()] == [("face.appeared", 3), ("face.left", 3)]
