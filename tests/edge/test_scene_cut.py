import pytest

from bench.tracking import VIDEOS, read_frames
from edge.scene_cut import SceneCutDetector, ShotCounter

VIDEO = {v.name: v for v in VIDEOS}


@pytest.fixture(scope="module")
def hamilton():
    return read_frames(VIDEO["hamilton"].video)


def cuts(frames, step, threshold=0.3):
    detector = SceneCutDetector(threshold)
    return [i for i in range(0, len(frames), step) if detector.is_cut(frames[i])]


def test_the_cuts_of_an_edited_clip_are_found_at_every_analysis_rate(hamilton):
    # The clip's three cuts start frames 21, 83 and 212 (from 1; checked by eye, bench/data/hamilton).
    assert [i + 1 for i in cuts(hamilton, 1)] == [21, 83, 212]
    for step in (3, 9):  # the analysed frame after each cut, and nothing else
        assert [i + 1 for i in cuts(hamilton, step)] == [1 + step * ((c - 1 + step - 1) // step) for c in (21, 83, 212)]


def test_walkers_and_a_moving_camera_are_not_cuts():
    walking = read_frames(VIDEO["walking"].video)
    assert cuts(walking, 1) == cuts(walking, 3) == cuts(walking, 9) == []


def test_zero_turns_it_off(hamilton):
    assert cuts(hamilton, 1, threshold=0) == []


def test_a_cut_ends_every_track_and_the_new_shot_is_detected_at_once(hamilton, settings_factory, tmp_path):
    from edge.bootstrap import build_analyzer
    from edge.video import VideoAnalyzer

    settings = settings_factory(tmp_path, EDGE_IDENTITY__ENABLED="false", EDGE_EMOTION__ENABLED="false")
    video = VideoAnalyzer(build_analyzer(settings), settings)
    # Lin-Manuel Miranda sings (frames 190-211); at 212 the shot cuts to the audience, where a face sits
    # where his was. Frame 211 is analysed, then 212 (mid-period: no detection would be due).
    for index in range(190, 212, 3):
        video.step(hamilton[index - 1], now=index / 30)
    before = {t.track_id for t in video.tracker.tracks}
    assert len(before) == 1
    faces, events, _ = video.step(hamilton[212 - 1], now=212 / 30)
    left = [e for e in events if e.type == "face.left"]
    assert [e.track_id for e in left] == sorted(before)
    after = {f.track_id for f in faces}
    assert len(after) == 4 and not after & before  # the four audience faces, all new tracks


def test_the_stream_drops_boxes_at_a_cut_and_ignores_analyses_from_before_it(hamilton):
    import numpy as np

    from edge.box_follow import ShownBoxes

    shown = ShownBoxes()
    shots = ShotCounter()
    frames = {index: shots.stamp(index, hamilton[index - 1]) for index in range(205, 215)}
    singer = np.array([280.0, 27.0, 373.0, 160.0])  # Lin-Manuel Miranda's face, frames 205-211
    shown.update({1: singer}, 205, frames[205].shot)
    for index in range(205, 212):
        assert list(shown.on_frame(frames[index])) == [1]
    assert shown.on_frame(frames[212]) == {}  # the cut: his box is not on the audience
    shown.update({1: singer}, 209, frames[209].shot)  # an analysis of a frame before the cut arrives late
    assert shown.on_frame(frames[213]) == {}
    shown.update({7: np.array([320.0, 34.0, 392.0, 142.0])}, 212, frames[212].shot)  # the new shot's first
    assert list(shown.on_frame(frames[214])) == [7]


def test_an_analysis_of_the_next_shot_waits_for_the_stream_to_reach_the_cut(hamilton):
    import numpy as np

    from edge.box_follow import ShownBoxes

    shown = ShownBoxes()
    shots = ShotCounter()
    frames = {index: shots.stamp(index, hamilton[index - 1]) for index in range(209, 214)}
    shown.on_frame(frames[209])
    # The analysis took frame 213 while the stream still draws 210 and 211 (the shot before): nothing of the
    # audience is drawn on the singer, and it is there from the cut on.
    shown.update({7: np.array([320.0, 34.0, 392.0, 142.0])}, 213, frames[213].shot)
    assert shown.on_frame(frames[210]) == {} and shown.on_frame(frames[211]) == {}
    assert list(shown.on_frame(frames[212])) == [7]


def test_the_analysis_takes_its_cuts_from_the_shots_the_camera_numbered(hamilton, settings_factory, tmp_path):
    from edge.bootstrap import build_analyzer
    from edge.video import VideoAnalyzer

    settings = settings_factory(tmp_path, EDGE_IDENTITY__ENABLED="false", EDGE_EMOTION__ENABLED="false")
    video = VideoAnalyzer(build_analyzer(settings), settings)
    for index in range(190, 206, 3):  # the singer, in shot 190 as the camera's frame slot numbered it
        video.step(hamilton[index - 1], index / 30, shot=190)
    before = {t.track_id for t in video.tracker.tracks}
    # The next frame looks the same, but the slot saw a cut before it (the stream draws it as a new shot):
    # the analysis cuts there too, so both agree on which faces belong to which shot.
    _, events, _ = video.step(hamilton[208 - 1], 208 / 30, shot=207)
    assert len(before) == 1 and sorted(e.track_id for e in events if e.type == "face.left") == sorted(before)
    _, events, _ = video.step(hamilton[211 - 1], 211 / 30, shot=207)
    assert not [e for e in events if e.type == "face.left"]  # same shot: no cut, whatever the colours say
