"""VideoAnalyzer: a face that following loses between detections is searched for at once."""

import numpy as np
import pytest

from bench.tracking import VIDEOS, read_frames
from edge.service import build_analyzer
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
