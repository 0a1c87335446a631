"""How a source URI is opened: OpenCV's FFmpeg on CPU hosts, the hardware decoder on a Jetson (edge/sources.py)."""

from __future__ import annotations

import time

import cv2
import pytest

from edge.image_check import on_jetson
from edge.sources import CaptureThread, LatestFrame, SourceSpec, decode_pipeline
from tests.conftest import DEMO


def test_rtsp_and_files_decode_on_nvdec_and_resize_on_the_vic():
    h264 = decode_pipeline("stream", "rtsp://user:pw@cam/1", "h264", 1280, 720)
    assert h264.startswith('rtspsrc location="rtsp://user:pw@cam/1"')
    assert (
        "rtph264depay ! h264parse ! nvv4l2decoder ! nvvidconv ! video/x-raw, format=BGRx, width=1280, height=720"
        in h264
    )
    assert h264.endswith("appsink drop=true max-buffers=1 sync=false")  # the newest frame, never a backlog
    assert "rtph265depay ! h265parse ! nvv4l2decoder" in decode_pipeline("stream", "rtsp://cam/1", "h265")
    assert "qtdemux ! h264parse ! nvv4l2decoder" in decode_pipeline("file", "/v/a.mp4", "h264")
    assert 'filesrc location="/v/a.mp4" ! decodebin ! nvvidconv' in decode_pipeline("file", "/v/a.mp4")
    with pytest.raises(ValueError, match="unknown codec"):
        decode_pipeline("file", "/v/a.mp4", "vp9")


def test_the_decoder_setting_picks_the_opencv_backend():
    gst = SourceSpec.parse("rtsp://cam/1", decoder="gstreamer")
    assert gst.api == cv2.CAP_GSTREAMER and gst.path == "rtsp://cam/1" and "rtspsrc" in str(gst.target)
    assert SourceSpec.parse("rtsp://cam/1", decoder="ffmpeg").api == cv2.CAP_FFMPEG
    assert SourceSpec.parse("http://cam/mjpg", decoder="gstreamer").api == cv2.CAP_FFMPEG  # RTSP and files only
    assert SourceSpec.parse("0", decoder="gstreamer").kind == "camera"
    if not on_jetson():  # auto: FFmpeg wherever there is no hardware decoder
        assert SourceSpec.parse(str(DEMO), decoder="auto").target == str(DEMO)
    with pytest.raises(ValueError, match="unknown decoder"):
        SourceSpec.parse(str(DEMO), decoder="nvdec")


@pytest.mark.skipif(on_jetson(), reason="on a Jetson the pipeline opens")
def test_a_hardware_pipeline_that_cannot_start_says_what_to_set():
    capture = CaptureThread(str(DEMO), LatestFrame(), reconnect_min_s=5, decoder="gstreamer")
    capture.start()
    try:
        deadline = time.monotonic() + 10
        while capture.error is None:
            assert time.monotonic() < deadline, "no error reported"
            time.sleep(0.05)
        assert "hardware decoder" in capture.error and "source.decoder=ffmpeg" in capture.error
    finally:
        capture.stop()
        capture.join(5)


def test_the_frame_slot_numbers_each_frame_and_its_shot_once_for_every_reader():
    from tests.edge.test_box_follow import textured_scene

    slot = LatestFrame(scene_cut=0.3)
    scene = textured_scene((100, 100))
    other = (255 - scene) // 2 + 100  # another shot: another colour distribution
    got = []
    for k, image in enumerate([scene, scene, scene, other, other]):
        slot.put(image, float(k))
        got.append(slot.get_newer(k, timeout=1))
    assert [(f.index, f.shot, f.time) for f in got] == [(1, 1, 0.0), (2, 1, 1.0), (3, 1, 2.0), (4, 4, 3.0), (5, 4, 4.0)]
    assert slot.get_newer(4, timeout=1) is slot.get_newer(4, timeout=1)  # the analysis and the stream: one frame
    assert slot.get_newer(5, timeout=0.05) is None
