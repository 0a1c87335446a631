"""VideoAnalyzer: a face that following loses between detections is searched for at once."""

import numpy as np
import pytest

from bench.tracking import VIDEOS, read_frames
from edge.bootstrap import build_analyzer
from edge.video import VideoAnalyzer


@pytest.mark.parametrize("recheck", [True, False])
def test_a_face_lost_between_detections_is_searched_for_in_its_region(recheck, settings_factory, tmp_path):
    settings = settings_factory(
        tmp_path,
        EDGE_IDENTITY__ENABLED="false",
        EDGE_EMOTION__ENABLED="false",
        EDGE_TRACKER__RECHECK_LOST=str(recheck).lower(),
    )
    video = VideoAnalyzer(build_analyzer(settings), settings)
    searched = []
    detect_near = video.analyzer.detector.detect_near
    video.analyzer.detector.detect_near = lambda frame, boxes: searched.append(boxes) or detect_near(frame, boxes)
    frame = read_frames(VIDEOS[0].video)[0]
    faces, _, _ = video.step(frame, now=0.0)  # a detection: every face gets a track
    hidden = max(faces, key=lambda f: f.box[2] - f.box[0])
    x1, y1, x2, y2 = (int(v) for v in hidden.box)
    covered = frame.copy()
    covered[y1:y2, x1:x2] = 128  # the nearest face is hidden: following cannot find it
    faces, _, _ = video.step(covered, now=0.1)  # not a detection frame (every 3rd)
    if recheck:
        assert len(searched) == 1 and np.allclose(searched[0], [hidden.box])
    else:
        assert searched == []
    track = next(t for t in video.tracker.tracks if t.track_id == hidden.track_id)
    assert track.lost and track.missed == 0  # not found, but a search of one region is not a missed detection
    assert len(video.tracker.tracks) == len(faces)


def test_people_seen_again_after_a_cut_keep_their_tracks_and_the_others_leave_later(settings_factory, tmp_path):
    from edge.bootstrap import build_analyzer

    settings = settings_factory(tmp_path, EDGE_EMOTION__ENABLED="false", EDGE_TRACKER__REID_SECONDS="2")
    video = VideoAnalyzer(build_analyzer(settings), settings)
    walking, hamilton = read_frames(VIDEOS[0].video), read_frames(VIDEOS[1].video)
    for index in (1, 4, 7, 10):  # two detections: the walkers' tracks are announced and embedded
        faces, _, _ = video.step(walking[index - 1], now=index / 25)
    before = {f.track_id: np.array(f.box) for f in faces if f.box[2] - f.box[0] >= 60}
    assert len(before) == 3
    # A cut to another video and back: no face.left at the cuts; walkers come back with their own tracks.
    _, events, _ = video.step(hamilton[100], now=0.5)
    assert [e for e in events if e.type == "face.left" and e.track_id in before] == []
    faces, events, _ = video.step(walking[12], now=0.6)
    back = {f.track_id: np.array(f.box) for f in faces if f.track_id in before}
    # Two of the three: the man in front, blurred by his walk, scores 0.916 with his mean look (under 0.93).
    assert len(back) == 2
    for track_id, box in back.items():  # each on the face it had before the cut (they walk slowly)
        assert np.abs(box - before[track_id]).max() < 40
    assert not [e for e in events if e.type == "face.appeared" and e.track_id in before]
    # Announced tracks that did not come back (the man in front) get face.left when the wait (2 s) is over.
    away = {t.track_id for t in video.tracker.parked if t.announced}
    assert away
    left = []
    for step, index in enumerate(range(16, 60, 3)):
        left += [e.track_id for e in video.step(walking[index - 1], now=0.7 + 0.2 * step)[1] if e.type == "face.left"]
    assert away <= set(left) and not video.tracker.parked


def test_a_face_a_whole_frame_detection_missed_is_not_searched_for_again(settings_factory, tmp_path):
    settings = settings_factory(tmp_path, EDGE_IDENTITY__ENABLED="false", EDGE_EMOTION__ENABLED="false")
    video = VideoAnalyzer(build_analyzer(settings), settings)
    searched = []
    detect_near = video.analyzer.detector.detect_near
    video.analyzer.detector.detect_near = lambda frame, boxes: searched.append(boxes) or detect_near(frame, boxes)
    frame = read_frames(VIDEOS[0].video)[0]
    faces, _, _ = video.step(frame, now=0.0)
    hidden = max(faces, key=lambda f: f.box[2] - f.box[0])
    x1, y1, x2, y2 = (int(v) for v in hidden.box)
    covered = frame.copy()
    covered[y1:y2, x1:x2] = 128
    video.step(covered, now=0.1)  # lost: searched for
    video.step(covered, now=0.2)  # still lost: searched for again
    video.step(covered, now=0.3)  # a whole-frame detection misses it
    track = next(t for t in video.tracker.tracks if t.track_id == hidden.track_id)
    assert track.missed == 1 and len(searched) == 2
    video.step(covered, now=0.4)  # only a whole-frame detection can give it back: no search
    assert len(searched) == 2
