"""Detection on its own worker: the analysis goes on, and detections land on the frame it has reached."""

import threading

import numpy as np
import pytest

from bench.tracking import VIDEOS, read_frames
from edge.bootstrap import build_analyzer
from edge.boxes import iou_matrix
from edge.detection_worker import DetectionWorker
from edge.video import VideoAnalyzer


@pytest.fixture
def worker():
    w = DetectionWorker()
    yield w
    w.close()


@pytest.fixture(scope="module")
def walking():
    return read_frames(VIDEOS[0].video)


def _video(settings_factory, tmp_path, worker):
    settings = settings_factory(tmp_path, EDGE_IDENTITY__ENABLED="false", EDGE_EMOTION__ENABLED="false")
    return VideoAnalyzer(build_analyzer(settings), settings, detection=worker)


def _centres(boxes) -> np.ndarray:
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    return (boxes[:, :2] + boxes[:, 2:]) / 2


def test_the_first_frame_is_detected_at_once(settings_factory, tmp_path, worker, walking):
    video = _video(settings_factory, tmp_path, worker)
    faces, _, times = video.step(walking[0], now=0.0)  # nothing is known yet: waiting for the worker shows nothing
    assert times.values["detect"] > 0 and video.detection_in_flight is None
    own = video.analyzer.detector.detect(walking[0]).boxes
    assert len(own) >= 3 and len(faces) == len(own)
    assert (iou_matrix(np.array([f.box for f in faces]), own).max(axis=1) >= 0.9).all()


def _up_to_the_first_asked(video, walking):
    """Steps the first frames until a detection is asked of the worker (at analysed frame ``every_n``)."""
    for index in range(video.every_n):
        video.step(walking[index], now=index / 25)
        assert video.detection_in_flight is None
    video.step(walking[video.every_n], now=video.every_n / 25)
    return video.detection_in_flight


def test_detections_are_carried_onto_the_frame_the_analysis_reached(settings_factory, tmp_path, worker, walking):
    video = _video(settings_factory, tmp_path, worker)
    asked = _up_to_the_first_asked(video, walking)
    assert asked is not None and asked.frame_index == video.every_n == 3
    found_then = asked.result.result(timeout=60)[0]
    faces, _, times = video.step(walking[6], now=0.24)  # the walkers moved on meanwhile (a detection's time)
    assert times.values["detect"] > 0 and video.detection_in_flight is None
    assert video.detected_on == 3  # the step whose frame was detected (the held-back stream draws them from it)
    big = [f for f in faces if f.box[2] - f.box[0] >= 40]
    assert len(big) >= 3
    # Every face frame 6's own detection finds has a box on it, closer than where it was on frame 3.
    own = video.analyzer.detector.detect(walking[6]).boxes
    own = own[own[:, 2] - own[:, 0] >= 40]
    ious = iou_matrix(own, np.array([f.box for f in faces]))
    assert len(own) >= 3 and (ious.max(axis=1) >= 0.6).all()
    carried = _centres([faces[j].box for j in ious.argmax(axis=1)])
    then = _centres(found_then.boxes)[iou_matrix(own, found_then.boxes).argmax(axis=1)]
    assert np.linalg.norm(carried - _centres(own), axis=1).mean() < np.linalg.norm(then - _centres(own), axis=1).mean()


def test_the_next_detection_is_asked_every_nth_analysed_frame(settings_factory, tmp_path, worker, walking):
    video = _video(settings_factory, tmp_path, worker)
    asked = []
    for index in range(10):
        video.step(walking[index], now=index / 25)
        pending = video.detection_in_flight
        if pending is not None and (not asked or asked[-1] != pending.frame_index):
            asked.append(pending.frame_index)
        if pending is not None:
            pending.result.result(timeout=60)  # the worker is quick here: one detection per N frames
    assert asked == [3, 6, 9]  # frame 0 was detected in its own step


def test_a_detection_of_the_shot_before_a_cut_is_dropped(settings_factory, tmp_path, worker, walking):
    hamilton = read_frames(VIDEOS[1].video)[100]
    video = _video(settings_factory, tmp_path, worker)
    _up_to_the_first_asked(video, walking).result.result(timeout=60)
    faces, _, _ = video.step(hamilton, now=0.16)  # a cut: the new shot is detected at once
    own = video.analyzer.detector.detect(hamilton).boxes
    assert faces and len(faces) == len(own)
    assert (iou_matrix(np.array([f.box for f in faces]), own).max(axis=1) >= 0.9).all()


def test_a_detector_failure_fails_one_step_and_detection_goes_on(settings_factory, tmp_path, worker, walking):
    video = _video(settings_factory, tmp_path, worker)
    detect = video.analyzer.detector.detect
    failures = [RuntimeError("MTCNN went wrong")]

    def failing_once(frame, **kwargs):
        if failures:
            raise failures.pop()
        return detect(frame, **kwargs)

    for index in range(video.every_n):  # the first frame is detected in its own step, the next on the worker
        video.step(walking[index], now=index / 25)
    video.analyzer.detector.detect = failing_once
    video.step(walking[3], now=0.12)
    with pytest.raises(RuntimeError, match="MTCNN went wrong"):
        video.detection_in_flight.result.result(timeout=60)
    with pytest.raises(RuntimeError, match="MTCNN went wrong"):
        video.step(walking[4], now=0.16)  # the step that takes the result reports it (the camera's health)
    faces = []
    for index in range(5, 15):
        pending = video.detection_in_flight
        if pending is not None:
            pending.result.result(timeout=60)
        faces, _, _ = video.step(walking[index], now=index / 25)
    assert len([f for f in faces if f.box[2] - f.box[0] >= 40]) >= 3


def test_closing_the_worker_drops_the_detections_still_waiting(worker):
    release, started = threading.Event(), threading.Event()

    def slow(frame):
        started.set()
        release.wait(10)
        return "slow"

    first = worker.submit(slow, np.zeros((4, 4, 3), np.uint8), 0)
    second = worker.submit(lambda frame: "never", np.zeros((4, 4, 3), np.uint8), 1)
    assert started.wait(10)
    worker.close()
    release.set()
    assert first.result.result(timeout=10)[0] == "slow"
    assert second.result.cancelled()
