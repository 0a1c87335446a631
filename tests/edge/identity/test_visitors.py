"""VisitorMemory: a stranger who comes back keeps their visitor label; what is kept can be corrected and goes."""

import sqlite3

import numpy as np
import pytest

from bench.tracking import VIDEOS, read_frames
from edge.bootstrap import build_analyzer
from edge.identity.visitors import VisitorMemory
from edge.types import visitor_id_of
from edge.video import VideoAnalyzer


def unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def test_a_remembered_visitor_is_recalled_above_the_threshold_only_and_survives_a_restart(tmp_path):
    db = str(tmp_path / "edge.db")
    memory = VisitorMemory(db)
    a, b = unit([1, 0, 0, 0]), unit([0, 1, 0, 0])
    memory.remember(7, a, "net/align")
    memory.remember(9, b, "net/align")
    assert memory.recall(unit([0.9, 0.1, 0, 0]), "net/align", threshold=0.9)[0] == 7
    assert memory.recall(unit([0.6, 0.6, 0, 0]), "net/align", threshold=0.9) is None  # like both, enough like none
    assert memory.recall(a, "other/align", threshold=0.5) is None  # vectors of another network do not compare
    memory.remember(7, unit([0.8, 0.2, 0, 0]), "net/align")  # a second visit moves the template
    memory.close()
    again = VisitorMemory(db)
    assert again.get(7)["visits"] == 2 and again.count() == 2
    assert visitor_id_of("visitor-7") == 7 and visitor_id_of("Ada") is None and visitor_id_of("visitor-x") is None


def test_not_this_visitor_merge_forget_and_retention(tmp_path):
    db = str(tmp_path / "edge.db")
    memory = VisitorMemory(db)
    a, look_alike = unit([1, 0.2, 0, 0]), unit([1, 0, 0.2, 0])
    memory.remember(1, a, "k")
    assert memory.recall(look_alike, "k", 0.9)[0] == 1
    memory.mark_not(1, look_alike, "k")  # "not this person": the same face no longer takes visitor-1
    assert memory.recall(look_alike, "k", 0.9) is None
    assert memory.recall(a, "k", 0.9)[0] == 1  # visitor-1's own face still does
    memory.remember(2, unit([0, 1, 0, 0]), "k")
    assert memory.merge(1, 2) and memory.get(2) is None and memory.get(1)["visits"] == 2
    assert not memory.merge(1, 99)
    assert memory.forget(1) and memory.count() == 0 and not memory.forget(1)
    memory.remember(3, a, "k", when="2020-01-01T00:00:00.000Z")
    memory.remember(4, a, "k")
    assert memory.delete_older_than(30) == 1 and memory.get(3) is None and memory.get(4) is not None
    with sqlite3.connect(db) as conn:  # only vectors are kept: no image column
        columns = {row[1] for row in conn.execute("PRAGMA table_info(visitors)")}
    assert columns == {"visitor_id", "embedder", "vector", "visits", "first_seen", "time"}


def test_the_people_of_the_demo_keep_their_visitor_labels_when_the_video_loops(settings_factory, tmp_path):
    settings = settings_factory(tmp_path, EDGE_EMOTION__ENABLED="false")
    analyzer = build_analyzer(settings)
    analyzer.visitors = VisitorMemory(settings.storage.database)
    video = VideoAnalyzer(analyzer, settings)
    frames = read_frames(VIDEOS[0].video)
    passes, now = [], 0.0
    for _ in range(2):
        left = []
        for frame in frames:
            now += 0.04
            left += [e for e in video.step(frame, now)[1] if e.type == "face.left"]
        left += video.finish()
        passes.append({e.track_id: e.data["label"] for e in left})
        now += 10
    first, second = passes
    remembered = {f"visitor-{i}" for i in range(1, 100) if analyzer.visitors.get(i)}
    assert len(remembered) >= 6  # the faces large enough to embed (>= identity.min_face_px)
    assert set(first.values()) >= remembered  # first pass: every visitor is new, under its own track id
    # second pass: new tracks, and every face that could be embedded comes back under its first-pass label
    assert not set(first) & set(second)
    assert remembered <= set(second.values())
    assert len(set(second.values()) - set(first.values())) <= 1
    assert VisitorMemory(settings.storage.database).count() == len(remembered)  # nothing new was added


@pytest.mark.parametrize("memory_on", [True, False])
def test_visitor_memory_is_switchable(memory_on, settings_factory, tmp_path):
    from edge.service import EdgeService

    settings = settings_factory(
        tmp_path,
        EDGE_IDENTITY__VISITOR_MEMORY=str(memory_on).lower(),
        EDGE_EMOTION__ENABLED="false",
        EDGE_SOURCE__URI=str(VIDEOS[0].video),
    )
    service = EdgeService(settings)
    try:
        assert (service.visitors is not None) is memory_on
        assert (service.analyzer.visitors is not None) is memory_on
    finally:
        service.stop()
