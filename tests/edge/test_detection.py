import numpy as np

from edge.detection import FaceDetector


def test_finds_every_face_of_the_group_photo(multiface):
    dets = FaceDetector().detect(multiface)
    assert len(dets) == 6
    h, w = multiface.shape[:2]
    assert (dets.boxes[:, 2] <= w).all() and (dets.boxes[:, 3] <= h).all()
    # Eyes sit above the mouth corners in every face.
    assert (dets.landmarks[:, :2, 1].mean(1) < dets.landmarks[:, 3:, 1].mean(1)).all()


def test_blank_frame_has_no_faces():
    dets = FaceDetector().detect(np.full((480, 640, 3), 127, np.uint8))
    assert len(dets) == 0 and dets.boxes.shape == (0, 4)


def test_downscaled_detection_matches_full_resolution(multiface):
    full = FaceDetector(max_side=4000, min_face_px=20).detect(multiface)
    small = FaceDetector(max_side=640, min_face_px=20).detect(multiface)
    assert len(full) == len(small)
    # Same faces, boxes within a few pixels after mapping back to source pixels.
    order_f, order_s = np.argsort(full.boxes[:, 0]), np.argsort(small.boxes[:, 0])
    assert np.abs(full.boxes[order_f] - small.boxes[order_s]).max() < 12


def test_still_photos_get_a_finer_search_than_live_frames(multiface):
    import cv2

    small_faces = cv2.resize(multiface, None, fx=0.35, fy=0.35)  # faces of ~28 px in a 2200 px wide photo
    canvas = cv2.copyMakeBorder(small_faces, 600, 600, 900, 900, cv2.BORDER_CONSTANT, value=(40, 40, 40))
    det = FaceDetector(max_side=640, min_face_px=40)
    assert len(det.detect(canvas)) < 6  # live settings: the frame is downscaled 3x, tiny faces are skipped
    assert len(det.detect(canvas, max_side=1600, min_face_px=20)) == 6
