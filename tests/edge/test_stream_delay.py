"""StreamDelay: frames come out held back, with the faces of later analyses carried back onto them."""

import numpy as np

from edge.scene_cut import ShotCounter
from edge.stream_delay import StreamDelay
from edge.types import CapturedFrame, FaceResult
from tests.edge.test_box_follow import textured_scene


def one_shot(index: int, image: np.ndarray) -> CapturedFrame:
    return CapturedFrame(index, image, 0.0, shot=1)


def test_a_face_found_later_is_blurred_on_the_frames_before_it_was_found():
    delay = StreamDelay(hold=3)
    out = []
    for index in range(1, 8):  # the 'face' moves 5 px right per frame
        frame = textured_scene((100 + 5 * index, 100))
        if index == 5:  # the first analysis to find it: frame 5, once frames 1-4 are already taken
            box = [100 + 5 * 5, 100, 160 + 5 * 5, 160]
            delay.add_analysis(5, 1, [FaceResult(box, 1.0, track_id=7, label="visitor-7")])
        got = delay.push(one_shot(index, frame))
        if got is not None:
            out.append(got)
    assert [frame.index for frame, _ in out] == [1, 2, 3, 4]  # held back 3 frames, in order
    for frame, faces in out:
        index = frame.index
        if index >= 2:  # frames sent after the analysis arrived: the face is carried back onto them
            (face,) = faces
            assert np.abs(np.array(face.box) - [100 + 5 * index, 100, 160 + 5 * index, 160]).max() <= 1.0
            assert face.found and face.track_id == 7
    assert out[0][1] == []  # frame 1 left before anything was known


def test_each_frame_is_drawn_with_the_analysis_nearest_to_it():
    # Analyses of frames 1 and 5; the face moved 20 px between them, and a second face came in at 5.
    delay = StreamDelay(hold=5)
    out = {}
    for index in range(1, 11):
        got = delay.push(one_shot(index, textured_scene((100 + 5 * index, 100))))
        if index == 1:
            delay.add_analysis(1, 1, [FaceResult([105, 100, 165, 160], 1.0, track_id=1)])
        if index == 5:
            delay.add_analysis(
                5,
                1,
                [FaceResult([125, 100, 185, 160], 1.0, track_id=1), FaceResult([300, 300, 340, 340], 1.0, track_id=2)],
            )
        if got is not None:
            out[got[0].index] = got[1]
    drawn = {index: {f.track_id for f in faces if f.found} for index, faces in out.items()}
    # Frames 1-2 are nearer analysis 1 (the newcomer only blurred there), 3-5 nearer analysis 5.
    assert drawn == {1: {1}, 2: {1}, 3: {1, 2}, 4: {1, 2}, 5: {1, 2}}
    assert [f.track_id for f in out[2] if not f.found] == [1, 2]  # analysis 5's faces, blur-only
    for index in (2, 4):  # carried from the nearer analysis onto the face where it is on that frame
        (face,) = [f for f in out[index] if f.found and f.track_id == 1]
        assert np.abs(np.array(face.box) - [100 + 5 * index, 100, 160 + 5 * index, 160]).max() <= 1.0


def test_an_analysis_that_found_nobody_draws_nobody():
    delay = StreamDelay(hold=2)
    delay.add_analysis(1, 1, [FaceResult([100, 100, 160, 160], 1.0, track_id=1)])
    for index in range(1, 5):
        if index == 3:
            delay.add_analysis(3, 1, [])  # the face has left
        got = delay.push(one_shot(index, textured_scene((100, 100))))
    frame, faces = got
    index = frame.index
    assert index == 2 and [(f.track_id, f.found) for f in faces] == [(1, False)]  # still blurred, not drawn


def test_no_face_is_carried_across_a_scene_cut():
    # Frames 1-3 one shot, 4-6 another (other colours): the analysis of frame 3 must not draw on frame 4 or
    # later, where its box would sit on whoever is there (on the hamilton clip, the singer's box on a man
    # seated where his face had been).
    delay, shots = StreamDelay(hold=3), ShotCounter()  # shots as the camera's frame slot numbers them
    out = {}
    for index in range(1, 9):
        frame = textured_scene((100, 100))
        if index >= 4:
            frame = (255 - frame) // 2 + 100  # the next shot: another colour distribution
        captured = shots.stamp(index, frame)
        assert captured.shot == (4 if index >= 4 else 1)
        if index == 3:
            delay.add_analysis(3, captured.shot, [FaceResult([100, 100, 160, 160], 1.0, track_id=1)])
        got = delay.push(captured)
        if got is not None:
            out[got[0].index] = got[1]
    assert [f.track_id for f in out[2]] == [1] and [f.track_id for f in out[3]] == [1]
    assert out[4] == [] and out[5] == []


def test_without_blur_only_the_nearest_analysis_is_carried():
    delay = StreamDelay(hold=2)
    delay.add_analysis(1, 1, [FaceResult([100, 100, 160, 160], 1.0, track_id=1)])
    delay.add_analysis(2, 1, [FaceResult([300, 300, 340, 340], 1.0, track_id=2)])
    for index in range(1, 4):
        got = delay.push(one_shot(index, textured_scene((100, 100))), blur=False)
    frame, faces = got
    index = frame.index
    assert index == 1 and [(f.track_id, f.found) for f in faces] == [(1, True)]
    again = delay.faces_on(one_shot(1, textured_scene((100, 100))))
    assert [(f.track_id, f.found) for f in again] == [(1, True), (2, False)]


def test_with_an_analysis_of_every_frame_each_frame_is_drawn_with_its_own():
    # Detection on its own worker lets the analysis reach most frames: more analyses than frames held back
    # are then waiting, and each frame must still find the one made on it.
    delay = StreamDelay(hold=10)
    out = {}
    for index in range(1, 31):
        got = delay.push(one_shot(index, textured_scene((100 + 5 * index, 100))))
        delay.add_analysis(index, 1, [FaceResult([100 + 5 * index, 100, 160 + 5 * index, 160], 1.0, track_id=index)])
        if got is not None:
            out[got[0].index] = got[1]
    assert sorted(out) == list(range(1, 21))
    for index, faces in out.items():
        (drawn,) = [f for f in faces if f.found]
        assert drawn.track_id == index  # its own analysis, not a later one
    assert len(delay._analyses) <= 11  # what the held frames may still need, no more


def test_a_face_a_later_detection_found_is_drawn_from_the_frame_it_was_detected_on():
    # Analysis on every frame; the worker's detection of frame 3 comes with the analysis of frame 6: the face
    # it found (moving 5 px a frame) is drawn on frames 3-5 as well, whose own analyses did not have it yet.
    delay = StreamDelay(hold=6)
    out = {}
    for index in range(1, 13):
        got = delay.push(one_shot(index, textured_scene((100 + 5 * index, 100))))
        if got is not None:
            out[got[0].index] = got[1]
        if index < 6:
            delay.add_analysis(index, 1, [FaceResult([400, 50, 440, 90], 1.0, track_id=1)])
        elif index == 6:
            face = FaceResult([130, 100, 190, 160], 1.0, track_id=7)
            delay.add_analysis(6, 1, [FaceResult([400, 50, 440, 90], 1.0, track_id=1), face], detected_on=3)
    drawn = {index: sorted(f.track_id for f in faces if f.found) for index, faces in out.items()}
    assert drawn == {1: [1], 2: [1], 3: [1, 7], 4: [1, 7], 5: [1, 7], 6: [1, 7]}
    for index in (3, 4, 5):  # followed back onto the face where it was on each frame
        (face,) = [f for f in out[index] if f.track_id == 7 and f.found]
        assert np.abs(np.array(face.box) - [100 + 5 * index, 100, 160 + 5 * index, 160]).max() <= 1.0
