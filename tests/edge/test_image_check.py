"""The Jetson image's build-time check (``python -m edge check-image``), run on this CPU machine."""

import subprocess
import sys

from edge.image_check import cuda_build_version, gstreamer_in_opencv

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


def test_torch_cuda_builds_are_told_by_their_version_string():
    assert cuda_build_version("2.0.0a0+ec3941ad.nv23.02")  # l4t-pytorch r35.2.1
    assert cuda_build_version("2.1.0+cu121")
    assert not cuda_build_version("2.0.0")  # PyPI's aarch64 wheel: CPU
    assert not cuda_build_version("2.14.1+cpu")


def test_the_build_time_check_does_not_import_tensorrt_or_look_for_a_gpu():
    code = (
        "import sys; from edge.image_check import image_problems; image_problems(runtime=False); "
        "print('tensorrt' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]  # only package metadata: nothing the runtime mounts
    build = subprocess.run([sys.executable, "-m", "edge", "check-image", "--build"], capture_output=True, text=True)
    assert build.returncode == 1 and "TensorRT's Python package" in build.stderr


def test_no_jetson_image_build_step_needs_the_nvidia_runtime():
    # docker build has no NVIDIA runtime on L4T: the host's TensorRT/CUDA libraries are not mounted, no GPU.
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docker" / "Dockerfile.jetson").read_text().replace("\\\n", " ")
    runs = [line[4:] for line in text.splitlines() if line.startswith("RUN ")]
    assert any("check-image --build" in run for run in runs)  # the build still checks what it can
    needs_runtime = [
        r"check-image(?! --build)",
        r"import tensorrt",
        r"torch\.cuda",
        "build-engines",
        "nvidia-smi",
        "trtexec",
        "tegrastats",
        r"edge serve",
    ]
    import re

    for run in runs:
        for pattern in needs_runtime:
            assert not re.search(pattern, run), f"RUN {run!r} needs the NVIDIA runtime ({pattern})"
