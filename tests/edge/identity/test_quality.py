"""Face quality on a real face: blur, a turned head and a small face all rank lower."""

import cv2

from edge.detection import FaceDetector
from edge.identity.quality import face_quality, frontal_score, sharpness_score, size_score
from tests.conftest import FACES


def test_quality_ranks_sharp_frontal_large_faces_first():
    img = cv2.imread(str(FACES / "scenes" / "astronaut.png"))
    dets = FaceDetector().detect(img)
    box, landmarks = dets.boxes[0], dets.landmarks[0]
    x1, y1, x2, y2 = box.astype(int)
    gray = cv2.cvtColor(img[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY)
    sharp = face_quality(gray, box, landmarks)
    assert 0 < sharp <= 1
    assert sharpness_score(cv2.GaussianBlur(gray, (0, 0), 4)) < 0.5 * sharpness_score(gray)
    turned = landmarks.copy()
    turned[2, 0] = landmarks[1, 0]  # the nose under the right eye: a head turned well to the side
    assert frontal_score(turned) < 0.2 < frontal_score(landmarks)
    assert size_score(box * 0.3) < size_score(box)
    assert face_quality(cv2.GaussianBlur(gray, (0, 0), 4), box, landmarks) < sharp
