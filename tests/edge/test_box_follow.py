"""BoxFollower and ShownBoxes on synthetic motion and on the demo video's fast walker."""

import cv2
import numpy as np

from edge.box_follow import BoxFollower, ShownBoxes
from edge.boxes import iou_matrix
from edge.tracking import FaceTracker
from edge.types import CapturedFrame
from tests.conftest import DEMO
from tests.edge.test_tracking import dets


def textured_scene(offset, size=(360, 640)):
    """A noise background with a textured square (the 'face', smooth like one) whose corner is at ``offset``."""
    rng = np.random.default_rng(0)
    frame = (rng.random(size + (3,)) * 60).astype(np.uint8)
    face = cv2.GaussianBlur((np.random.default_rng(1).random((60, 60, 3)) * 255).astype(np.uint8), (0, 0), 2)
    x, y = offset
    frame[y : y + 60, x : x + 60] = face
    return frame


def test_a_moving_patch_is_found_where_it_went():
    follower = BoxFollower()
    follower.add_frame(0, textured_scene((100, 100)))
    follower.add_frame(3, textured_scene((137, 88)))
    boxes, found = follower.follow(np.array([[100, 100, 160, 160]]), 0, 3)
    assert found.tolist() == [True]
    assert np.abs(boxes[0] - [137, 88, 197, 148]).max() <= 1.0


def test_a_face_that_is_not_found_stays_where_it_was():
    follower = BoxFollower()
    follower.add_frame(0, textured_scene((100, 100)))
    follower.add_frame(1, np.zeros((360, 640, 3), np.uint8))  # the scene went dark: nothing to match
    boxes, found = follower.follow(np.array([[100, 100, 160, 160]]), 0, 1)
    assert found.tolist() == [False] and boxes[0].tolist() == [100, 100, 160, 160]
    boxes, found = follower.follow(np.array([[100, 100, 160, 160]]), 0, 7)  # frame 7 was never seen
    assert found.tolist() == [False] and boxes[0].tolist() == [100, 100, 160, 160]


def demo_frames(indices):
    cap = cv2.VideoCapture(str(DEMO))
    frames, index = {}, 0
    while len(frames) < len(indices):
        ok, frame = cap.read()
        assert ok
        index += 1
        if index in indices:
            frames[index] = frame
    return frames


def test_the_fast_walker_is_followed_on_the_demo_video():
    # Frames 7 and 10 of the demo: the man in front walks about 115 px to the right; MTCNN at full
    # resolution puts his face at the boxes below (bench/data/walking/gt.txt, id 1).
    frames = demo_frames({7, 10})
    follower = BoxFollower()
    follower.add_frame(7, frames[7])
    follower.add_frame(10, frames[10])
    boxes, found = follower.follow(np.array([[486.3, 727.4, 581.5, 864.2]]), 7, 10)
    truth = np.array([[602.6, 746.1, 699.6, 877.8]])
    assert found.tolist() == [True]
    assert iou_matrix(boxes, truth)[0, 0] > 0.8


def test_shown_boxes_follow_the_latest_analysis_and_stay_in_the_frame():
    shown = ShownBoxes()
    shown.on_frame(CapturedFrame(0, textured_scene((100, 100)), 0.0))
    shown.update({5: np.array([100, 100, 160, 160]), 6: np.array([600, 300, 700, 400])}, 0, 1)
    boxes = shown.on_frame(CapturedFrame(1, textured_scene((110, 104)), 0.0))
    assert np.abs(boxes[5] - [110, 104, 170, 164]).max() <= 1.0
    x1, y1, x2, y2 = boxes[6]
    assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 360  # clipped, never outside the frame


def test_a_followed_track_is_not_moved_again_on_its_velocity():
    tracker = FaceTracker(["happy"], max_coast=10)
    tracker.update(dets([0, 0, 40, 40]), 0.0)
    tracker.update(dets([20, 0, 60, 40]), 1.0)  # velocity 10 px per frame to the right
    tracker.follow(np.array([[30, 0, 70, 40]]), np.array([True]))
    tracker.coast()
    assert tracker.tracks[0].box.tolist() == [30, 0, 70, 40]
    tracker.follow(np.array([[99, 0, 139, 40]]), np.array([False]))  # not found: velocity carries it
    tracker.coast()
    assert tracker.tracks[0].box.tolist() == [40, 0, 80, 40]


def slow_face_frame(x):
    """A 1080p noise frame with a smooth 45 px 'face' whose left edge is at ``x``."""
    frame = (np.random.default_rng(0).random((1080, 1920, 3)) * 60).astype(np.uint8)
    face = cv2.GaussianBlur(np.random.default_rng(1).random((45, 45)), (0, 0), 3)  # smooth, as faces are
    face = cv2.normalize(face, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    frame[500:545, x : x + 45] = face[:, :, None]
    return frame


def test_a_slow_face_on_a_big_frame_is_followed_to_a_fraction_of_a_pixel():
    # 1080p frames are followed at a third of their size: a face moving 1 source px per frame moves a third
    # of a pixel there, which whole-pixel matching rounds to 0.
    follower = BoxFollower()
    follower.add_frame(0, slow_face_frame(900))
    follower.add_frame(1, slow_face_frame(901))
    boxes, found = follower.follow(np.array([[900.0, 500.0, 945.0, 545.0]]), 0, 1)
    assert found.tolist() == [True] and abs(boxes[0][0] - 901) <= 0.6, boxes[0]


def test_shown_boxes_are_followed_from_the_analysed_frame_so_small_errors_do_not_add_up():
    shown = ShownBoxes()
    shown.on_frame(CapturedFrame(0, slow_face_frame(900), 0.0))
    shown.update({1: np.array([900.0, 500.0, 945.0, 545.0])}, 0, 1)
    for step in range(1, 13):
        boxes = shown.on_frame(CapturedFrame(step, slow_face_frame(900 + step), 0.0))
        assert abs(boxes[1][0] - (900 + step)) <= 1.0, (step, boxes[1])
