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


def test_a_lost_face_does_not_fly_off_or_turn_inside_out():
    """A face shrinking fast, then lost: coasting used to add its velocity to all four corners for
    max_missed x every_n_frames frames (boxes like [393, 56, -122, -706] in face.left events)."""
    tr = FaceTracker(["happy"], max_missed=8, min_hits=1, max_coast=6)
    size = (1920, 1080)
    for step, half in enumerate([120, 100, 80, 60]):
        tr.update(dets([960 - half, 100 - half // 2, 960 + half, 100 + 3 * half // 2]), float(step), size)
    observed = tr.tracks[0].observed_box.copy()
    gone = []
    for step in range(4, 60):  # never detected again; 2 coasted frames per detection frame
        tr.coast(size)
        tr.coast(size)
        _, ended = tr.update(dets(), float(step), size)
        gone += ended
        for t in tr.tracks + ended:
            x1, y1, x2, y2 = t.box
            assert 0 <= x1 < x2 <= 1920 and 0 <= y1 < y2 <= 1080, t.box
    assert not tr.tracks and len(gone) == 1
    np.testing.assert_allclose(gone[0].observed_box, observed)  # face.left reports where it was last seen


def test_a_face_hidden_for_a_while_continues_its_track_further_away_than_a_new_one_would():
    # A woman walks on behind a passer-by for 7 detections and comes out 1.5 box diagonals from where her
    # box stopped (bench/data/walking, frames 33-92): her track goes on. Seen on the previous detection,
    # a face that far away is someone else.
    box = [900, 680, 936, 730]  # diagonal 62 px
    far = [900 + 80, 680 + 40, 936 + 80, 730 + 40]  # centre 89 px away
    hidden = FaceTracker(["happy"], max_missed=8)
    hidden.update(dets(box), 0.0)
    for step in range(1, 8):
        hidden.update(dets(), float(step))
    seen, _ = hidden.update(dets(far), 8.0)
    assert [t.track_id for t in seen] == [1]
    fresh = FaceTracker(["happy"], max_missed=8)
    fresh.update(dets(box), 0.0)
    seen, _ = fresh.update(dets(far), 1.0)
    assert [t.track_id for t in seen] == [2]


def test_a_partial_update_continues_the_faces_it_was_given_and_misses_no_other():
    tracker = FaceTracker(["happy"], max_missed=1)
    tracker.update(dets([0, 0, 40, 40], [300, 0, 340, 40]), 0.0)
    for step in range(1, 4):  # only the region around the first face was searched, three times
        seen, ended = tracker.update(dets([4 * step, 0, 40 + 4 * step, 40]), float(step), partial=True)
        assert [t.box[0] for t in seen] == [4 * step] and ended == []
    assert [t.missed for t in tracker.tracks] == [0, 0]
    _, ended = tracker.update(dets([12, 0, 52, 40]), 4.0)  # a whole-frame detection without the second face
    _, ended = tracker.update(dets([12, 0, 52, 40]), 5.0)
    assert [t.box[0] for t in ended] == [300]


def test_a_searched_region_does_not_give_a_hidden_track_to_the_face_coming_out_in_front():
    tracker = FaceTracker(["happy"], max_missed=5)
    tracker.update(dets([100, 100, 150, 160], [400, 100, 450, 160]), 0.0)
    hidden = tracker.tracks[0]
    tracker.update(dets([400, 100, 450, 160]), 1.0)  # the first face goes behind someone: missed once
    # A region search finds a face where it was: it may be him or someone else coming out, so it neither takes
    # his track nor starts one (a second track for a man coming back, on the demo); the hidden one waits.
    seen, _ = tracker.update(dets([105, 100, 155, 160]), 2.0, partial=True)
    assert seen == [] and len(tracker.tracks) == 2
    assert hidden.missed == 1
    # A face the region search finds away from any hidden face starts its track at once.
    seen, _ = tracker.update(dets([700, 100, 750, 160]), 2.5, partial=True)
    assert len(seen) == 1 and seen[0].track_id == 3
    # The whole-frame detection decides: the face where he was continues his track.
    seen, _ = tracker.update(dets([105, 100, 155, 160], [400, 100, 450, 160], [700, 100, 750, 160]), 3.0)
    assert hidden in seen and hidden.missed == 0 and len(tracker.tracks) == 3


def test_a_face_coming_out_where_a_hidden_face_was_is_checked_by_its_look():
    # On the demo a man stepped out where a man hidden for detections had been, took his track, and the hidden
    # man came back as a new track: a hidden track only takes a face that looks like it (return_similarity).
    tracker = FaceTracker(["happy"], max_missed=8, return_similarity=0.9)
    tracker.update(dets([100, 100, 150, 160]), 0.0)
    hidden = tracker.tracks[0]
    hidden.add_appearance(np.array([1.0, 0.0]))
    for step in (1.0, 2.0):  # hidden for two detections
        tracker.update(dets(), step, embed=lambda indices: [None for _ in indices])
    stranger = np.array([0.8, 0.6])  # similarity 0.8
    seen, _ = tracker.update(dets([120, 100, 170, 160]), 3.0, embed=lambda indices: [stranger for _ in indices])
    assert [t.track_id for t in seen] == [2] and hidden.missed == 3
    him = np.array([0.96, 0.28])  # similarity 0.96
    seen, _ = tracker.update(
        dets([120, 100, 170, 160], [100, 100, 150, 160]), 4.0, embed=lambda indices: [him for _ in indices]
    )
    assert hidden in seen and hidden.missed == 0
    # Missed at one detection only (looking down for a moment), a face keeps its track whatever its look.
    tracker.update(dets([120, 100, 170, 160]), 5.0, embed=lambda indices: [stranger for _ in indices])
    seen, _ = tracker.update(
        dets([120, 100, 170, 160], [100, 100, 150, 160]), 6.0, embed=lambda indices: [stranger for _ in indices]
    )
    assert hidden in seen


def test_a_parked_track_is_taken_back_by_a_whole_frame_detection_only():
    tracker = FaceTracker(["happy"], reid_seconds=10, reid_similarity=0.9)
    tracker.update(dets([100, 100, 150, 160]), 0.0)
    singer = tracker.tracks[0]
    look = np.eye(4)[0]
    singer.add_appearance(look)
    tracker.park(1.0)  # a scene cut
    same_look = lambda indices: [look for _ in indices]  # noqa: E731
    # A region search finds a face that looks like him (the pianist's parked track once took a singer's
    # forehead that way): a new track, and he keeps waiting.
    seen, _ = tracker.update(dets([300, 100, 350, 160]), 2.0, partial=True, embed=same_look)
    assert seen[0].track_id != singer.track_id and tracker.parked == [singer]
    seen, _ = tracker.update(dets([300, 100, 350, 160], [500, 100, 550, 160]), 3.0, embed=same_look)
    assert singer.track_id in [t.track_id for t in seen] and tracker.parked == []
