"""Our MTCNN cascade against facenet-pytorch's own, on the same weights: same faces, boxes and landmarks close."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.tracking import VIDEOS, read_frames
from edge.boxes import iou_matrix
from edge.mtcnn import MtcnnCascade, nms, square


@pytest.fixture(scope="module")
def images(multiface):
    rgb = [cv2.cvtColor(multiface, cv2.COLOR_BGR2RGB)]
    for video in VIDEOS:  # live frames as the service sees them: downscaled to 640 px
        for frame in read_frames(video.video)[::25]:
            small = cv2.resize(frame, (640, round(640 * frame.shape[0] / frame.shape[1])), interpolation=cv2.INTER_AREA)
            rgb.append(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
    return rgb


def test_finds_the_faces_facenet_pytorch_finds_with_close_boxes_and_landmarks(images):
    from facenet_pytorch import MTCNN

    theirs = MTCNN(keep_all=True, thresholds=[0.6, 0.7, 0.7], min_face_size=13, post_process=False)
    ours = MtcnnCascade([0.6, 0.7, 0.7])
    their_faces = matched = our_faces = 0
    for rgb in images:
        boxes, scores, points = theirs.detect(rgb, landmarks=True)
        sure = np.zeros(0, bool) if boxes is None else np.asarray(scores, float) >= 0.9
        boxes = np.zeros((0, 4)) if boxes is None else np.asarray(boxes, float)[sure]
        points = np.zeros((0, 5, 2)) if points is None else np.asarray(points, float)[sure]
        our_boxes, our_scores, our_points = ours.detect(rgb, 13)
        our_boxes, our_points = our_boxes[our_scores >= 0.9], our_points[our_scores >= 0.9]
        their_faces, our_faces = their_faces + len(boxes), our_faces + len(our_boxes)
        iou = iou_matrix(boxes, our_boxes)
        for row in range(len(boxes)):
            if iou.shape[1] and iou[row].max() >= 0.5:
                col = iou[row].argmax()
                matched += 1
                width = boxes[row, 2] - boxes[row, 0]
                # Resampling differs (OpenCV on uint8 vs torch on float), so a few pixels apart, not equal.
                assert iou[row, col] >= 0.6
                assert np.abs(points[row] - our_points[col]).max() <= 0.25 * width
    assert their_faces >= 20
    assert matched >= 0.95 * their_faces and our_faces <= 1.05 * their_faces


def test_faces_larger_than_the_picture_are_found_as_close_up_photos_show_them():
    # Close-up photos (tests/edge/data/closeups: enrollment-like pictures whose face box reaches past the
    # picture): with zero padding outside the picture O-Net scored these 0.87-0.90 and missed them.
    ours = MtcnnCascade()
    photos = sorted((Path(__file__).parent / "data" / "closeups").glob("*.jpg"))
    assert len(photos) == 7
    for photo in photos:
        rgb = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
        boxes, scores, _ = ours.detect(rgb, 40)
        assert len(boxes) == 1 and scores[0] >= 0.9, photo.name
        assert boxes[0, 2] - boxes[0, 0] > 0.7 * rgb.shape[1]  # the face fills the picture


def test_helpers_square_boxes_and_suppress_overlaps():
    assert square(np.array([[0.0, 0.0, 10.0, 20.0, 0.9]]))[0, :4].tolist() == [-5.0, 0.0, 15.0, 20.0]
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 4, 4], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [0, 2, 3]  # IoU: the small box inside stays
    assert nms(boxes, scores, 0.7, by_smaller=True).tolist() == [0, 3]  # over the smaller: it goes


def test_our_networks_are_facenet_pytorchs_with_its_weights():
    import torch
    from facenet_pytorch.models import mtcnn as facenet

    from edge.models import mtcnn_nets

    x = {12: torch.rand(2, 3, 40, 30), 24: torch.rand(3, 3, 24, 24), 48: torch.rand(3, 3, 48, 48)}
    with torch.no_grad():
        for name, size in (("PNet", 12), ("RNet", 24), ("ONet", 48)):
            ours, theirs = getattr(mtcnn_nets, name)().load_wheel_weights(), getattr(facenet, name)()
            a, b = ours.eval()(x[size]), theirs.eval()(x[size])
            for mine, reference in zip(a, b):
                torch.testing.assert_close(mine, reference, rtol=0, atol=0)
