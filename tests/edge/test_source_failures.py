"""Sources that fail in the ways cameras and files do, against the real server: bounded retries, health
that tells the truth (HTTP 503, fps 0, no stale frame, no faces that left)."""

from __future__ import annotations

import shutil
import socket
import threading
import time

import httpx
import pytest

from bench.server_process import ServerProcess
from tests.conftest import DEMO

pytestmark = pytest.mark.slow


def test_a_truncated_video_is_retried_with_backoff_not_in_a_tight_loop(tmp_path):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(DEMO.read_bytes()[:2048])
    srv = ServerProcess(tmp_path / "edge.db", env={"EDGE_SOURCE__URI": str(cut)}).start(ready=False)
    try:
        time.sleep(2)
        cpu0, log0 = srv.cpu_seconds(), srv.log_path.stat().st_size
        time.sleep(6)
        cpu, logged = srv.cpu_seconds() - cpu0, srv.log_path.stat().st_size - log0
        resp = httpx.get(srv.url + "/health")
        assert resp.status_code == 503
        body = resp.json()
        assert body["ready"] is False and body["source"]["fps"] == 0 and body["source"]["state"] == "failed"
        assert "cut.mp4" in body["problems"]["source"]
        assert cpu < 1.5, f"{cpu:.1f} s of CPU in 6 s: a reopen loop"  # was a full core
        assert logged < 4000, f"{logged} bytes of log in 6 s"  # was 518 KiB/s
    finally:
        srv.stop()


def test_a_hanging_stream_open_is_reported_and_times_out(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []
    threading.Thread(target=lambda: [accepted.append(listener.accept()) for _ in range(8)], daemon=True).start()
    url = f"rtsp://viewer:secret@127.0.0.1:{listener.getsockname()[1]}/stream"
    srv = ServerProcess(tmp_path / "edge.db", env={"EDGE_SOURCE__URI": url}).start(ready=False)
    try:
        first = httpx.get(srv.url + "/health")
        assert first.status_code == 503
        assert first.json()["source"]["state"] in ("opening", "failed")
        assert "secret" not in first.text  # the camera's password never leaves in /health
        deadline = time.monotonic() + 20
        while httpx.get(srv.url + "/health").json()["source"]["state"] != "failed":
            assert time.monotonic() < deadline, "the open never timed out"
            time.sleep(0.5)
        assert "cannot open stream source" in httpx.get(srv.url + "/health").json()["problems"]["source"]
    finally:
        srv.stop()
        listener.close()


def test_a_source_that_goes_away_ends_its_tracks_and_stops_looking_alive(tmp_path):
    video = tmp_path / "walking.mp4"
    shutil.copy(DEMO, video)
    env = {"EDGE_SOURCE__URI": str(video), "EDGE_SERVER__STALE_AFTER_S": "2"}
    srv = ServerProcess(tmp_path / "edge.db", env=env).start()
    try:
        deadline = time.monotonic() + 60
        while not httpx.get(srv.url + "/events", params={"type": "face.appeared"}).json()["events"]:
            assert time.monotonic() < deadline
            time.sleep(0.5)
        video.unlink()  # the current pass ends, and the file cannot be opened again
        deadline = time.monotonic() + 30
        while httpx.get(srv.url + "/health").status_code != 503:
            assert time.monotonic() < deadline, "health stayed 200 without a source"
            time.sleep(0.5)
        time.sleep(2.5)
        body = httpx.get(srv.url + "/health").json()
        assert body["source"]["fps"] == 0 and not body["source"]["connected"]
        assert httpx.get(srv.url + "/snapshot.jpg").status_code == 503  # no old frame served as current
        assert httpx.get(srv.url + "/tracks").json()["tracks"] == []
        metrics = httpx.get(srv.url + "/metrics").text
        rates = {
            ln.split()[0]: float(ln.split()[1]) for ln in metrics.splitlines() if ln.startswith("edge_") and "fps" in ln
        }
        assert rates and all(v == 0 for v in rates.values()), rates
        events = httpx.get(srv.url + "/events", params={"limit": 1000}).json()["events"]
        appeared = {e["track_id"] for e in events if e["type"] == "face.appeared"}
        left = {e["track_id"] for e in events if e["type"] == "face.left"}
        assert appeared <= left
    finally:
        srv.stop()
