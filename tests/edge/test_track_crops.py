"""TrackCropStore: the kept faces of tracks (event thumbnails) in a real SQLite file."""

import numpy as np

from edge.track_crops import TrackCropStore
from edge.types import FaceCrop


def crop(seed, size=96):
    rng = np.random.default_rng(seed)  # noise: PNG cannot shrink it, so sizes are predictable
    return FaceCrop(
        0.5, (rng.random((size, size, 3)) * 255).astype(np.uint8), np.array([10, 10, 80, 80]), np.zeros((5, 2))
    )


def test_crops_are_bounded_oldest_track_first_and_deleted_by_track(tmp_path):
    store = TrackCropStore(str(tmp_path / "edge.db"))
    for track_id in range(1, 6):
        store.save("cam", track_id, [crop(track_id), crop(100 + track_id)])
    one_track = sum(len(r[0]) for r in store._conn.execute("SELECT png FROM track_crops WHERE track_id = 1"))
    removed = store.enforce_limit(int(3.5 * one_track))
    assert removed == 4  # tracks 1 and 2, two crops each
    assert [t for t in range(1, 6) if store.load("cam", t)] == [3, 4, 5]
    assert len(store.load("cam", 3, limit=1)) == 1
    assert store.delete_tracks([("cam", 4), ("cam", 4), ("other", 5)]) == 2
    assert [t for t in range(1, 6) if store.load("cam", t)] == [3, 5]
    reopened = TrackCropStore(str(tmp_path / "edge.db"))
    assert np.array_equal(reopened.load("cam", 5)[0].crop, crop(5).crop)  # lossless: enrollment uses them
