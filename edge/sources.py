"""Video sources and the capture thread with its one-slot latest-frame hand-off.

URIs: a file path, a camera index (``0``), a V4L2 device (``/dev/video0``),
an ``rtsp://``/``http(s)://`` URL, or ``csi://N`` for a Jetson CSI camera
(GStreamer ``nvarguscamerasrc``). A source that fails or ends is reopened
with exponential backoff; the service stays up and ``status`` says why.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from edge.scene_cut import ShotCounter
from edge.types import CapturedFrame

log = logging.getLogger(__name__)

ARGUS_SOCKET = "/tmp/argus_socket"  # the CSI camera daemon's socket, mounted into the container
STREAM_TIMEOUT_MS = 5000  # open and read timeouts for network streams


def to_bgr_appsink(size: str = "", extra: str = "") -> str:
    """The end of every Jetson pipeline: NVMM frames converted (and resized) on the VIC, then to BGR for OpenCV,
    the newest frame only."""
    return (
        f"nvvidconv ! video/x-raw, format=BGRx{size} ! videoconvert ! video/x-raw, format=BGR ! "
        f"appsink drop=true max-buffers=1{extra}"
    )


def csi_pipeline(sensor_id: int = 0, width: int = 1280, height: int = 720, fps: int = 30) -> str:
    """GStreamer pipeline for a Jetson CSI camera, ending in BGR frames for OpenCV."""
    return (
        f"nvarguscamerasrc sensor-id={sensor_id} ! "
        f"video/x-raw(memory:NVMM), width={width}, height={height}, framerate={fps}/1 ! {to_bgr_appsink()}"
    )


def decode_pipeline(
    kind: str, uri: str, codec: str = "auto", width: Optional[int] = None, height: Optional[int] = None
) -> str:
    """GStreamer pipeline that decodes an RTSP stream or a video file on the Jetson's hardware decoder
    (NVDEC through ``nvv4l2decoder``) and converts and resizes on the VIC (``nvvidconv``), ending in BGR
    frames for OpenCV: the Carmel CPU would otherwise spend most of a core on 1080p H.264.

    ``codec`` ``h264``/``h265`` names the depayloader and parser; ``auto`` lets ``decodebin`` choose
    (on L4T it ranks ``nvv4l2decoder`` first)."""
    if codec not in ("auto", "h264", "h265"):
        raise ValueError(f"unknown codec {codec!r}; use auto, h264 or h265")
    location = uri.replace('"', '\\"')
    if kind == "stream":
        head = f'rtspsrc location="{location}" latency=200 protocols=tcp'
        decode = "decodebin" if codec == "auto" else f"rtp{codec}depay ! {codec}parse ! nvv4l2decoder"
    elif kind == "file":
        head = f'filesrc location="{location}"'
        decode = "decodebin" if codec == "auto" else f"qtdemux ! {codec}parse ! nvv4l2decoder"
    else:
        raise ValueError(f"no hardware decode pipeline for {kind} sources")
    size = (f", width={width}" if width else "") + (f", height={height}" if height else "")
    return f"{head} ! {decode} ! {to_bgr_appsink(size, ' sync=false')}"  # sync=false: never wait on the clock


def hardware_decode_available() -> bool:
    """A Jetson whose OpenCV has GStreamer (JetPack's): there, files and RTSP decode on NVDEC."""
    from edge.image_check import gstreamer_in_opencv, on_jetson

    return on_jetson() and gstreamer_in_opencv(cv2.getBuildInformation())


@dataclass
class SourceSpec:
    """What kind of source a URI names and how OpenCV opens it."""

    kind: str  # file, camera, stream, csi
    target: object  # what cv2.VideoCapture opens: a path, an index, a URL or a GStreamer pipeline
    api: int = cv2.CAP_ANY
    path: Optional[str] = None  # the file or URL a pipeline reads, where target is a pipeline

    @classmethod
    def parse(
        cls,
        uri: str,
        width: Optional[int] = None,
        height: Optional[int] = None,
        decoder: str = "ffmpeg",
        codec: str = "auto",
    ) -> SourceSpec:
        """``decoder``: "ffmpeg" (OpenCV's own), "gstreamer" (the Jetson's hardware decoder, for files and
        RTSP) or "auto" (gstreamer where :func:`hardware_decode_available`)."""
        if decoder not in ("auto", "ffmpeg", "gstreamer"):
            raise ValueError(f"unknown decoder {decoder!r}; use auto, ffmpeg or gstreamer")
        spec = cls._parse(uri.strip(), width, height)
        hardware = decoder == "gstreamer" or (decoder == "auto" and hardware_decode_available())
        rtsp = spec.kind == "stream" and str(spec.target).split("://", 1)[0] in ("rtsp", "rtsps")
        if hardware and (rtsp or spec.kind == "file"):
            pipeline = decode_pipeline(spec.kind, str(spec.target), codec, width, height)
            return cls(spec.kind, pipeline, cv2.CAP_GSTREAMER, path=str(spec.target))
        return spec

    @classmethod
    def _parse(cls, uri: str, width: Optional[int], height: Optional[int]) -> SourceSpec:
        if uri.isdigit():
            return cls("camera", int(uri), cv2.CAP_V4L2 if hasattr(cv2, "CAP_V4L2") else cv2.CAP_ANY)
        if uri.startswith("/dev/video"):
            return cls("camera", uri, cv2.CAP_V4L2 if hasattr(cv2, "CAP_V4L2") else cv2.CAP_ANY)
        if uri.startswith("csi://"):
            sensor = int(uri[len("csi://") :] or 0)
            return cls("csi", csi_pipeline(sensor, width or 1280, height or 720), cv2.CAP_GSTREAMER)
        if uri.split("://", 1)[0] in ("rtsp", "rtsps", "http", "https", "rtmp", "udp"):
            return cls("stream", uri, cv2.CAP_FFMPEG)
        if uri.startswith("file://"):
            uri = uri[len("file://") :]
        return cls("file", uri, cv2.CAP_ANY)


class SourceError(RuntimeError):
    """A source could not be opened or read."""


class LatestFrame:
    """One-slot hand-off: writers replace the frame, readers wait for a newer one.

    Each frame is numbered and given its shot here, once, for every reader (``edge.types.CapturedFrame``)."""

    def __init__(self, scene_cut: float = 0.3) -> None:
        self._cond = threading.Condition()
        self._shots = ShotCounter(scene_cut)
        self._frame: Optional[CapturedFrame] = None

    def put(self, image: np.ndarray, timestamp: float) -> None:
        index = self._frame.index + 1 if self._frame is not None else 1  # one writer: the capture thread
        frame = self._shots.stamp(index, image, timestamp)  # outside the lock: readers do not wait on it
        with self._cond:
            self._frame = frame
            self._cond.notify_all()

    def get_newer(self, seen: int, timeout: float) -> Optional[CapturedFrame]:
        """The newest frame if its index is above ``seen``, waiting up to ``timeout``; else None."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._frame is not None and self._frame.index > seen, timeout):
                return None
            return self._frame


class CaptureThread(threading.Thread):
    """Reads a source as fast as it delivers (or at a file's own fps) into a :class:`LatestFrame`."""

    def __init__(
        self,
        uri: str,
        slot: LatestFrame,
        loop: bool = True,
        realtime: bool = True,
        width: Optional[int] = None,
        height: Optional[int] = None,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 10.0,
        decoder: str = "ffmpeg",
        codec: str = "auto",
    ) -> None:
        super().__init__(name="capture", daemon=True)
        self.uri = uri
        self.spec = SourceSpec.parse(uri, width, height, decoder, codec)
        self.slot = slot
        self.loop = loop
        self.realtime = realtime
        self.width, self.height = width, height
        self.backoff = (reconnect_min_s, reconnect_max_s)
        self._stop_event = threading.Event()
        self.error: Optional[str] = None
        self.frames = 0
        self._fps = 0.0
        self.opened_at: Optional[float] = None
        self.last_frame_at: Optional[float] = None  # time.monotonic() of the newest frame
        self.opening_since: Optional[float] = time.monotonic()  # set while an open is under way
        self.finished = False  # a non-looping file reached its end

    def stop(self) -> None:
        self._stop_event.set()

    @property
    def healthy(self) -> bool:
        return self.error is None and self.opened_at is not None

    def frame_age(self) -> Optional[float]:
        """Seconds since the newest frame, None before the first."""
        return None if self.last_frame_at is None else time.monotonic() - self.last_frame_at

    @property
    def fps(self) -> float:
        """Frames per second over the last window; 0 once frames stop coming (never a stale rate)."""
        age = self.frame_age()
        return 0.0 if age is None or age > 2.0 else self._fps

    @property
    def state(self) -> str:
        """'opening', 'streaming', 'failed' or 'finished', for /health."""
        if self.finished:
            return "finished"
        if self.error is not None:
            return "failed"
        if self.opening_since is not None:
            return "opening"
        return "streaming"

    def _open(self) -> cv2.VideoCapture:
        if self.spec.kind == "file" and not Path(self.spec.path or str(self.spec.target)).is_file():
            raise SourceError(f"video file {self.spec.path or self.spec.target} does not exist")
        if self.spec.kind == "csi" and Path(ARGUS_SOCKET).is_dir():
            raise SourceError(
                f"{ARGUS_SOCKET} is a directory, not nvargus-daemon's socket: Docker created it because the socket "
                "was missing when the container started. On the host: sudo rm -r /tmp/argus_socket && "
                "sudo systemctl restart nvargus-daemon && docker compose restart edge"
            )
        if (
            self.spec.kind == "stream"
            and self.spec.api == cv2.CAP_FFMPEG
            and hasattr(cv2, "CAP_PROP_OPEN_TIMEOUT_MSEC")
        ):
            # A server that accepts and never answers would otherwise hold the open for about 30 s.
            timeout = STREAM_TIMEOUT_MS
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout]
            cap = cv2.VideoCapture(self.spec.target, self.spec.api, params)
        else:
            cap = cv2.VideoCapture(self.spec.target, self.spec.api)
        if not cap.isOpened():
            hint = {
                "camera": "is a camera plugged in, and is the device passed to the container?",
                "csi": "is nvargus-daemon running and /tmp/argus_socket mounted?",
                "stream": "is the URL reachable from here?",
                "file": "is it a video format OpenCV can decode?",
            }[self.spec.kind]
            if self.spec.kind in ("file", "stream") and self.spec.api == cv2.CAP_GSTREAMER:
                hint = (
                    "the hardware decoder's pipeline did not start (needs JetPack's OpenCV with GStreamer and "
                    "nvv4l2decoder; set source.decoder=ffmpeg to decode on the CPU, or source.codec to the "
                    "stream's codec)"
                )
            raise SourceError(f"cannot open {self.spec.kind} source {self.uri}: {hint}")
        if self.spec.kind == "camera":
            if self.width:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            if self.height:
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep latency low: we want the newest frame
        return cap

    def run(self) -> None:
        delay = self.backoff[0]
        while not self._stop_event.is_set():
            self.opening_since = time.monotonic()
            try:
                cap = self._open()
            except SourceError as exc:
                self._fail(str(exc))
                if self._stop_event.wait(delay):
                    return
                delay = min(delay * 2, self.backoff[1])
                continue
            self.opened_at, self.opening_since = time.time(), None
            log.debug("source %s opened (%s)", self.uri, self.spec.kind)
            frames_before = self.frames
            try:
                ended = self._read_all(cap)
            finally:
                cap.release()
            if not ended:
                return  # stopped
            if self.frames == frames_before:
                # Opened but not one frame (a truncated file, a camera that hangs): a failure like any other,
                # retried with the same growing backoff, never in a tight loop.
                self._fail(f"source {self.uri} opened but delivered no frame; retrying in {delay:g} s")
                if self._stop_event.wait(delay):
                    return
                delay = min(delay * 2, self.backoff[1])
                continue
            delay = self.backoff[0]
            if self.spec.kind == "file" and not self.loop:
                self.finished = True
                return
            if self.spec.kind != "file":
                self._fail(f"source {self.uri} stopped delivering frames; reconnecting")

    def _fail(self, message: str) -> None:
        if message != self.error:
            log.warning("%s", message)
        self.error = message

    def _read_all(self, cap: cv2.VideoCapture) -> bool:
        """Read until the source ends (True) or we are stopped (False)."""
        period = 0.0
        if self.spec.kind == "file" and self.realtime:
            fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
            period = 1.0 / fps if 0 < fps < 240 else 0.04
        next_due = time.monotonic()
        window_start, window_frames = time.monotonic(), 0
        while not self._stop_event.is_set():
            ok, frame = cap.read()
            if not ok or frame is None:
                return True
            if period:
                next_due += period
                pause = next_due - time.monotonic()
                if pause > 0:
                    self._stop_event.wait(pause)
                else:
                    next_due = time.monotonic()  # fell behind: do not try to catch up in a burst
            self.slot.put(frame, time.time())
            self.frames += 1
            self.last_frame_at = time.monotonic()
            if self.error is not None:
                log.info("source %s delivers frames again", self.uri)
                self.error = None
            window_frames += 1
            elapsed = time.monotonic() - window_start
            if elapsed >= 2.0:
                self._fps, window_start, window_frames = window_frames / elapsed, time.monotonic(), 0
        return False
