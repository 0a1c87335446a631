"""The Jetson image's build-time check (``python -m edge check-image``), run on this CPU machine."""

import subprocess
import sys

from edge.image_check import gstreamer_in_opencv

JETPACK_OPENCV = """
  Video I/O:
    FFMPEG:                      YES
    GStreamer:                   YES (1.16.3)
    v4l/v4l2:                    YES (linux/videodev2.h)
"""


def test_gstreamer_is_read_from_the_build_information():
    assert gstreamer_in_opencv(JETPACK_OPENCV)
    assert not gstreamer_in_opencv(JETPACK_OPENCV.replace("YES (1.16.3)", "NO"))
    assert not gstreamer_in_opencv("Video I/O:\n    FFMPEG: YES\n")


def test_this_machine_is_not_a_jetson_image_and_the_check_says_why():
    out = subprocess.run([sys.executable, "-m", "edge", "check-image"], capture_output=True, text=True)
    assert out.returncode == 1
    assert "has no GStreamer" in out.stderr  # PyPI's opencv-python-headless
    assert "shadows JetPack's OpenCV" in out.stderr
    assert "TensorRT" in out.stderr
