"""Several cameras on one service: the configuration's checks, and a real server serving two cameras."""

from __future__ import annotations

import shutil
import time

import cv2
import httpx
import numpy as np
import pytest

from bench.server_process import ServerProcess
from edge.config import ConfigError, load_settings
from tests.conftest import DEMO


def cameras_env(*cameras: str) -> dict:
    return {"EDGE_CAMERAS": "[" + ", ".join(cameras) + "]"}


def test_each_camera_takes_its_own_keys_over_the_shared_ones():
    settings = load_settings(
        None,
        environ={
            "EDGE_DETECTOR__MAX_SIDE": "480",
            **cameras_env(
                "{name: door, source: {uri: a.mp4}, detector: {min_face_px: 30}}",
                "{name: hall, source: {uri: b.mp4}, render: {overlay: blur-all}}",
            ),
        },
    )
    door, hall = settings.per_camera()
    assert (door.camera, door.source.uri, door.detector.min_face_px, door.detector.max_side) == (
        "door",
        "a.mp4",
        30,
        480,
    )
    assert door.render.overlay == "boxes" and hall.render.overlay == "blur-all" and hall.detector.min_face_px == 40
    assert [s.camera for s in load_settings(None, environ={}).per_camera()] == ["demo"]  # one camera, as before


@pytest.mark.parametrize(
    "cameras, says",
    [
        (("{name: door, source: {uri: a}}", "{name: door, source: {uri: b}}"), "same name 'door'"),
        (("{name: a, source: {uri: x}}", "{name: b, source: {uri: x}}"), "same source 'x'"),
        (("{name: 'front door', source: {uri: x}}",), "cameras.0.name"),
        (("{name: a, source: {uri: x}, colour: red}",), "cameras.0.colour"),
        (("{name: a, source: {uri: x}, detector: {bogus: 1}}",), "cameras.0.detector.bogus"),
    ],
)
def test_a_wrong_camera_list_is_a_clear_error_at_start(cameras, says):
    with pytest.raises(ConfigError, match=says):
        load_settings(None, environ=cameras_env(*cameras))


@pytest.mark.slow
def test_two_cameras_stream_and_report_apart_and_a_dead_or_garbled_one_stops_neither(tmp_path):
    second = tmp_path / "second.mp4"
    shutil.copy(DEMO, second)
    junk = tmp_path / "junk.mp4"  # a camera that sends garbage: the start of a video, then nothing that decodes
    junk.write_bytes(DEMO.read_bytes()[:2048] + bytes(range(256)) * 64)
    env = cameras_env(
        f"{{name: door, source: {{uri: '{DEMO}'}}}}",
        f"{{name: hall, source: {{uri: '{second}'}}, render: {{overlay: blur-all}}}}",
        f"{{name: gone, source: {{uri: '{tmp_path / 'missing.mp4'}', reconnect_max_s: 1}}}}",
        f"{{name: junk, source: {{uri: '{junk}', reconnect_max_s: 1}}}}",
    )
    srv = ServerProcess(tmp_path / "edge.db", env={**env, "EDGE_EMOTION__ENABLED": "false"}).start()
    try:
        for name in ("door", "hall"):
            snap = httpx.get(f"{srv.url}/cameras/{name}/snapshot.jpg", timeout=10)
            assert snap.status_code == 200 and cv2.imdecode(np.frombuffer(snap.content, np.uint8), 1) is not None
        # a camera's privacy is its own: the blurred one refuses boxes, the other draws them
        assert httpx.get(f"{srv.url}/cameras/hall/snapshot.jpg", params={"overlay": "boxes"}).status_code == 403
        assert httpx.get(f"{srv.url}/cameras/door/snapshot.jpg", params={"overlay": "boxes"}).status_code == 200
        assert httpx.get(f"{srv.url}/cameras/nowhere/snapshot.jpg").status_code == 404
        assert httpx.get(f"{srv.url}/cameras/gone/snapshot.jpg").status_code == 503
        health = httpx.get(f"{srv.url}/health").json()
        by_name = {c["name"]: c for c in health["cameras"]}
        assert by_name["door"]["ready"] and by_name["hall"]["ready"]
        assert not by_name["gone"]["ready"] and not by_name["junk"]["ready"]
        assert health["ready"] and health["status"] == "degraded"
        assert "source:gone" in health["problems"] and "junk.mp4" in health["problems"]["source:junk"]
        # events of both cameras in one store, filtered by camera; track ids are unique across them
        deadline = time.monotonic() + 90
        while True:
            events = httpx.get(f"{srv.url}/events", params={"type": "face.appeared", "limit": 1000}).json()["events"]
            if {e["camera"] for e in events} >= {"door", "hall"}:
                break
            assert time.monotonic() < deadline, events
            time.sleep(1)
        ids = {(e["camera"], e["track_id"]) for e in events}
        assert len({track for _, track in ids}) == len(ids)
        door = httpx.get(f"{srv.url}/events", params={"camera": "door", "limit": 1000}).json()["events"]
        assert door and {e["camera"] for e in door} == {"door"}
        tracks = httpx.get(f"{srv.url}/tracks", params={"camera": "hall"}).json()["tracks"]
        assert all(t["camera"] == "hall" for t in tracks)
        assert httpx.get(f"{srv.url}/tracks", params={"camera": "nowhere"}).status_code == 404
        metrics = httpx.get(f"{srv.url}/metrics").text
        assert 'edge_output_frames_total{camera="door"}' in metrics and 'camera="hall"' in metrics
    finally:
        srv.stop()
