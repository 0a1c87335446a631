"""``python -m bench stream``: the running service, live: what MJPEG viewers cost it, and what N cameras get.

The real service (``python -m edge serve``, loopback port) is measured while
plain-socket viewers count multipart boundaries, so the clients cost little next
to the server.

- ``--viewers N`` (one camera, the demo video): one viewer, then N at once.
  Reported per phase: frames per second each viewer received (mean and
  slowest), the service's own output and analysis rates and capture-to-JPEG
  latency (from /metrics), and the server's CPU use.
- ``--cameras N``: the service with N cameras (the demo and the second annotated
  video in turn, each camera its own copy of the file; ``--height`` re-encodes
  them at that height first), one viewer on each camera's stream. Reported per
  camera: output and analysis rates; for the service: CPU and peak RSS. With
  ``--offline``, the offline analysis rate of the demo (``bench pipeline``'s
  "ours", in its own process) is measured in the same run, and each camera's
  live analysis rate is given as a ratio to it.
"""

from __future__ import annotations

import re
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import httpx
import yaml

from bench.server_process import ServerProcess
from edge.config import DEMO_VIDEO

SECOND_VIDEO = Path(__file__).resolve().parent / "data" / "hamilton" / "short_hamilton_clip.mp4"

MARK = b"--frame\r\n"


class MjpegCounter(threading.Thread):
    """One viewer: reads /stream.mjpg and counts the frames that arrive until stopped."""

    def __init__(self, port: int, path: str = "/stream.mjpg") -> None:
        super().__init__(daemon=True)
        self.port = port
        self.path = path
        self.frames = 0
        self.stop = threading.Event()

    def run(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(f"GET {self.path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            tail = b""
            while not self.stop.is_set():
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                data = tail + chunk
                self.frames += data.count(MARK)
                tail = data[-(len(MARK) - 1) :]


def metrics_text(url: str) -> str:
    return httpx.get(url + "/metrics", timeout=10).text


def counters_by_camera(text: str) -> Dict[str, Dict[str, float]]:
    """The counters and gauges of /metrics ``text``: {camera: {name: value}}, "" for those of no camera."""
    out: Dict[str, Dict[str, float]] = {}
    for m in re.finditer(r'^edge_(\w+)(?:\{camera="([^"]*)"\})? ([0-9.eE+-]+)$', text, re.M):
        out.setdefault(m.group(2) or "", {})[m.group(1)] = float(m.group(3))
    return out


def gauges(url: str) -> Dict[str, float]:
    """Counters and gauges of /metrics by name (summed over the cameras), and stage quantiles as
    ``<stage>_p50`` / ``<stage>_p95`` seconds."""
    text = metrics_text(url)
    out: Dict[str, float] = {}
    for values in counters_by_camera(text).values():
        for name, value in values.items():
            out[name] = out.get(name, 0.0) + value
    for m in re.finditer(r'^edge_stage_seconds\{stage="(\w+)",quantile="0\.(5|95)"\} ([0-9.eE+-]+)$', text, re.M):
        out[f"{m.group(1)}_p{'50' if m.group(2) == '5' else '95'}"] = float(m.group(3))
    return out


def measure(server: ServerProcess, viewers: int, seconds: float) -> Dict[str, float]:
    clients = [MjpegCounter(server.port) for _ in range(viewers)]
    for c in clients:
        c.start()
    time.sleep(2.0)  # let every viewer connect and the rates settle
    start = [c.frames for c in clients]
    cpu0, t0 = server.cpu_seconds(), time.perf_counter()
    before = gauges(server.url)
    time.sleep(seconds)
    wall = time.perf_counter() - t0
    g = gauges(server.url)
    rates = [(c.frames - s) / wall for c, s in zip(clients, start)]
    row = {
        "viewers": viewers,
        "viewer_fps_mean": sum(rates) / len(rates) if rates else 0.0,
        "viewer_fps_min": min(rates) if rates else 0.0,
        "output_fps": rate(g, before, "output_frames_total", wall),
        "analysis_fps": rate(g, before, "analyzed_frames_total", wall),
        "server_cpu_pct": 100 * (server.cpu_seconds() - cpu0) / wall,
        "capture_to_jpeg_ms_p50": 1000 * g.get("capture_to_jpeg_p50", 0.0),
        "capture_to_jpeg_ms_p95": 1000 * g.get("capture_to_jpeg_p95", 0.0),
    }
    for c in clients:
        c.stop.set()
    return row


def bench_stream(viewers: int = 20, seconds: float = 20.0) -> List[Dict[str, float]]:
    """One run of the service: 1 viewer, then ``viewers`` viewers; prints a Markdown table."""
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "edge.db").start()
        try:
            rows = [measure(server, 1, seconds), measure(server, viewers, seconds)]
        finally:
            server.stop()
    print(table(rows))
    return rows


def table(rows: List[Dict[str, float]]) -> str:
    lines = [
        "| viewers | fps per viewer (mean / slowest) | output fps | analysis fps | capture-to-JPEG p50 / p95 ms "
        "| server CPU % |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['viewers']} | {r['viewer_fps_mean']:.1f} / {r['viewer_fps_min']:.1f} | {r['output_fps']:.1f} | "
            f"{r['analysis_fps']:.1f} | {r['capture_to_jpeg_ms_p50']:.0f} / {r['capture_to_jpeg_ms_p95']:.0f} | "
            f"{r['server_cpu_pct']:.0f} |"
        )
    base, many = rows[0], rows[-1]
    if base["output_fps"] > 0:
        lines.append(
            f"\n{many['viewers']} viewers: output {100 * (1 - many['output_fps'] / base['output_fps']):+.1f}% "
            f"lower, analysis {100 * (1 - many['analysis_fps'] / max(base['analysis_fps'], 1e-9)):+.1f}% lower "
            "than with one viewer"
        )
    return "\n".join(lines)


def camera_videos(count: int, folder: Path, height: Optional[int] = None) -> List[Path]:
    """``count`` distinct video files (a camera's source is its own): the demo and the second annotated video in
    turn, copied, or re-encoded at ``height`` (width in proportion, even)."""
    import cv2

    videos = []
    for i in range(count):
        original = (DEMO_VIDEO, SECOND_VIDEO)[i % 2]
        path = folder / f"cam{i}-{original.name}"
        if height is None:
            path.write_bytes(original.read_bytes())
        else:
            reader = cv2.VideoCapture(str(original))
            fps = reader.get(cv2.CAP_PROP_FPS) or 25.0
            scale = height / reader.get(cv2.CAP_PROP_FRAME_HEIGHT)
            size = (int(round(reader.get(cv2.CAP_PROP_FRAME_WIDTH) * scale / 2)) * 2, height)
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
            ok, frame = reader.read()
            while ok:
                writer.write(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
                ok, frame = reader.read()
            writer.release()
        videos.append(path)
    return videos


def offline_fps(frames: int = 60) -> Dict[str, float]:
    """``bench pipeline``'s offline analysis of the demo (mode "ours", in its own process)."""
    from bench.pipeline import run_mode_apart
    from edge.config import DetectorConfig

    with tempfile.TemporaryDirectory() as tmp:
        out = run_mode_apart("ours", "demo1080p", frames, DetectorConfig().every_n_frames, tmp)
    return {"fps": out["frames"] / out["wall_s"], "cpu_pct": out["cpu_pct"], "peak_rss_mb": out["peak_rss_mb"]}


def bench_cameras(
    cameras: int, seconds: float = 20.0, height: Optional[int] = None, offline: bool = False
) -> Dict[str, object]:
    """The service with ``cameras`` cameras, one viewer each; prints a Markdown table."""
    result: Dict[str, object] = {"cameras": cameras, "height": height}
    if offline:
        result["offline"] = offline_fps()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        videos = camera_videos(cameras, folder, height)
        names = [f"cam{i}" for i in range(cameras)]
        config = {"cameras": [{"name": n, "source": {"uri": str(v)}} for n, v in zip(names, videos)]}
        (folder / "edge.yaml").write_text(yaml.safe_dump(config))
        server = ServerProcess(folder / "edge.db", env={"EDGE_CONFIG": str(folder / "edge.yaml")}).start(timeout=240)
        try:
            viewers = [MjpegCounter(server.port, f"/cameras/{n}/stream.mjpg") for n in names]
            for v in viewers:
                v.start()
            time.sleep(3.0)  # every viewer connected, the rates settled
            start = [v.frames for v in viewers]
            before = counters_by_camera(metrics_text(server.url))
            cpu0, t0 = server.cpu_seconds(), time.perf_counter()
            time.sleep(seconds)
            wall = time.perf_counter() - t0
            after = counters_by_camera(metrics_text(server.url))
            result["server_cpu_pct"] = 100 * (server.cpu_seconds() - cpu0) / wall
            result["peak_rss_mb"] = server.peak_rss_mb()
            rows = []
            for name, video, viewer, first in zip(names, videos, viewers, start):
                a, b = after.get(name, {}), before.get(name, {})
                rows.append(
                    {
                        "camera": name,
                        "video": video.name,
                        "viewer_fps": (viewer.frames - first) / wall,
                        "output_fps": rate(a, b, "output_frames_total", wall),
                        "analysis_fps": rate(a, b, "analyzed_frames_total", wall),
                        "dropped_fps": rate(a, b, "dropped_frames_total", wall),
                    }
                )
                viewer.stop.set()
            result["per_camera"] = rows
        finally:
            server.stop()
    print(cameras_table(result))
    return result


def rate(after: Dict[str, float], before: Dict[str, float], counter: str, seconds: float) -> float:
    """How fast ``counter`` grew between two readings ``seconds`` apart."""
    return (after.get(counter, 0.0) - before.get(counter, 0.0)) / seconds


def cameras_table(result: Dict[str, object]) -> str:
    offline = result.get("offline")
    lines = [
        "| camera | video | viewer fps | output fps | analysis fps | analysis / offline |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["per_camera"]:
        ratio = f"{r['analysis_fps'] / offline['fps']:.2f}x" if offline else "-"
        lines.append(
            f"| {r['camera']} | {r['video']} | {r['viewer_fps']:.1f} | {r['output_fps']:.1f} | "
            f"{r['analysis_fps']:.1f} | {ratio} |"
        )
    at = f" at {result['height']}p" if result["height"] else ""
    lines.append(
        f"\n{result['cameras']} camera(s){at}: server CPU {result['server_cpu_pct']:.0f}%, "
        f"peak RSS {result['peak_rss_mb']:.0f} MB"
    )
    if offline:
        lines.append(
            f"offline analysis of the demo (bench pipeline, ours): {offline['fps']:.1f} fps, "
            f"CPU {offline['cpu_pct']:.0f}%, peak RSS {offline['peak_rss_mb']:.0f} MB"
        )
    return "\n".join(lines)
