"""``python -m bench stream``: what MJPEG viewers cost the running service.

The real service (``python -m edge serve`` on the demo video, loopback port) is
measured for a while with one viewer, then with N viewers at once. Each viewer
is a plain socket that counts multipart boundaries, so the clients cost little
next to the server. Reported per phase: frames per second each viewer
received (mean and slowest), the service's own output and analysis rates
and capture-to-JPEG latency (from /metrics), and the server's CPU use.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List

import httpx

from bench.server_process import ServerProcess

MARK = b"--frame\r\n"


class MjpegCounter(threading.Thread):
    """One viewer: reads /stream.mjpg and counts the frames that arrive until stopped."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.frames = 0
        self.stop = threading.Event()

    def run(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: bench\r\n\r\n")
            tail = b""
            while not self.stop.is_set():
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                data = tail + chunk
                self.frames += data.count(MARK)
                tail = data[-(len(MARK) - 1) :]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def gauges(url: str) -> Dict[str, float]:
    """Counters and gauges of /metrics by name, and stage quantiles as ``<stage>_p50`` / ``<stage>_p95`` seconds."""
    text = httpx.get(url + "/metrics", timeout=10).text
    out: Dict[str, float] = {}
    # A camera's counters and gauges carry its name as a label: summed over the cameras
    for m in re.finditer(r'^edge_(\w+)(?:\{camera="[^"]*"\})? ([0-9.eE+-]+)$', text, re.M):
        out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(2))
    for m in re.finditer(r'^edge_stage_seconds\{stage="(\w+)",quantile="0\.(5|95)"\} ([0-9.eE+-]+)$', text, re.M):
        out[f"{m.group(1)}_p{'50' if m.group(2) == '5' else '95'}"] = float(m.group(3))
    return out


def measure(server: ServerProcess, viewers: int, seconds: float) -> Dict[str, float]:
    clients = [MjpegCounter(server.port) for _ in range(viewers)]
    for c in clients:
        c.start()
    time.sleep(2.0)  # let every viewer connect and the rates settle
    start = [c.frames for c in clients]
    cpu0, t0 = cpu_seconds(server.proc.pid), time.perf_counter()
    before = gauges(server.url)
    time.sleep(seconds)
    wall = time.perf_counter() - t0
    g = gauges(server.url)
    rates = [(c.frames - s) / wall for c, s in zip(clients, start)]
    row = {
        "viewers": viewers,
        "viewer_fps_mean": sum(rates) / len(rates) if rates else 0.0,
        "viewer_fps_min": min(rates) if rates else 0.0,
        "output_fps": (g.get("output_frames_total", 0.0) - before.get("output_frames_total", 0.0)) / wall,
        "analysis_fps": (g.get("analyzed_frames_total", 0.0) - before.get("analyzed_frames_total", 0.0)) / wall,
        "server_cpu_pct": 100 * (cpu_seconds(server.proc.pid) - cpu0) / wall,
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
