import cv2
import numpy as np

from edge.tracking import FaceTracker
from edge.types import Detections
from tests.conftest import DEMO


def dets(*boxes):
    b = np.array(boxes, np.float32).reshape(-1, 4)
    return Detections(b, np.ones(len(b), np.float32), np.zeros((len(b), 5, 2), np.float32))


def test_moving_faces_keep_their_ids_and_leave():
    tr = FaceTracker(["happy"], max_missed=2, min_hits=2)
    for step in range(6):
        x = 10 + 15 * step  # fast enough that consecutive boxes barely overlap
        tr.update(dets([x, 10, x + 40, 50], [300, 300, 340, 340]), float(step))
    assert sorted(t.track_id for t in tr.tracks) == [1, 2]
    ended = []
    for step in range(6, 10):
        _, gone = tr.update(dets([300, 300, 340, 340]), float(step))
        ended += gone
    assert [t.track_id for t in ended] == [1]
    assert [t.track_id for t in tr.visible()] == [2]


def test_far_apart_faces_do_not_swap():
    tr = FaceTracker(["happy"])
    tr.update(dets([0, 0, 40, 40], [500, 0, 540, 40]), 0.0)
    seen, _ = tr.update(dets([505, 0, 545, 40], [5, 0, 45, 40]), 1.0)
    by_x = {int(t.box[0]): t.track_id for t in seen}
    assert by_x == {5: 1, 505: 2}


def test_demo_video_faces_get_stable_tracks(shared):
    from edge.detection import FaceDetector

    det = FaceDetector()
    tr = FaceTracker(["happy"])
    cap = cv2.VideoCapture(str(DEMO))
    for i in range(12):
        ok, frame = cap.read()
        assert ok
        if i % 2 == 0:  # detect every other frame, as the live pipeline may
            tr.update(det.detect(frame), float(i))
    # Five or six people are in view the whole time: far fewer tracks than detections.
    assert 4 <= len(tr.visible()) <= 7
    assert max(t.track_id for t in tr.tracks) <= 9


def test_new_faces_are_drawn_from_their_first_detection_but_confirmed_later():
    tr = FaceTracker(["happy"], max_missed=2, min_hits=2)
    tr.update(dets([10, 10, 50, 50]), 0.0)
    assert tr.visible() == []  # not confirmed: no events yet
    assert [t.track_id for t in tr.visible(tentative=True)] == [1]
    tr.update(dets([400, 400, 440, 440]), 1.0)  # the first face was a one-frame blip
    assert [t.track_id for t in tr.visible(tentative=True)] == [2]
    tr.update(dets([401, 400, 441, 440]), 2.0)
    assert [t.track_id for t in tr.visible()] == [2]
