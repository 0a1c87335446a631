"""PrivacyDelay: frames come out held back, with the faces of later analyses carried back onto them."""

import numpy as np

from edge.privacy_delay import PrivacyDelay
from edge.types import FaceResult
from tests.edge.test_box_follow import textured_scene


def test_a_face_found_later_is_blurred_on_the_frames_before_it_was_found():
    delay = PrivacyDelay(hold=3)
    out = []
    for index in range(1, 8):  # the 'face' moves 5 px right per frame
        frame = textured_scene((100 + 5 * index, 100))
        if index == 5:  # the first analysis to find it: frame 5, once frames 1-4 are already taken
            box = [100 + 5 * 5, 100, 160 + 5 * 5, 160]
            delay.add_analysis(5, [FaceResult(box, 1.0, track_id=7, label="visitor-7")])
        got = delay.push(index, frame)
        if got is not None:
            out.append(got)
    assert [index for index, _, _ in out] == [1, 2, 3, 4]  # held back 3 frames, in order
    for index, _, faces in out:
        if index >= 2:  # frames sent after the analysis arrived: the face is carried back onto them
            (face,) = faces
            assert np.abs(np.array(face.box) - [100 + 5 * index, 100, 160 + 5 * index, 160]).max() <= 1.0
            assert face.found and face.track_id == 7
    assert out[0][2] == []  # frame 1 left before anything was known


def test_faces_of_earlier_analyses_are_blurred_but_not_drawn():
    delay = PrivacyDelay(hold=1)
    delay.push(1, textured_scene((100, 100)))
    delay.add_analysis(1, [FaceResult([100, 100, 160, 160], 1.0, track_id=1, label="visitor-1")])
    delay.add_analysis(2, [])  # the latest analysis no longer has the face
    index, _, faces = delay.push(2, textured_scene((100, 100)))
    assert index == 1 and [(f.track_id, f.found) for f in faces] == [(1, False)]
