"""Events over MQTT: the real service publishing to a real broker (amqtt), read by a real client."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bench.server_process import ServerProcess, free_port

pytestmark = pytest.mark.slow
AMQTT = shutil.which("amqtt", path=str(Path(sys.executable).parent))


@pytest.fixture()
def broker(tmp_path):
    if AMQTT is None:
        pytest.skip("the amqtt broker is a test dependency for Python >= 3.10")
    port = free_port()
    config = tmp_path / "broker.yaml"
    config.write_text(
        f"listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{port}\n"
        "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n"
    )
    proc = subprocess.Popen([AMQTT, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield port, wait_for_broker(port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def wait_for_broker(port: int, timeout: float = 20):
    """A subscribed paho client on ``edge/#``; its received messages collect in ``client.got``."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.got = []
    client.on_message = lambda c, u, m: client.got.append((m.topic, m.payload.decode(), m.retain))
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.connect("127.0.0.1", port)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    client.subscribe("edge/#", qos=1)
    client.loop_start()
    return client


def wait_until(predicate, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def test_events_are_published_after_they_are_stored(tmp_path, broker):
    port, client = broker
    env = {"EDGE_MQTT__ENABLED": "true", "EDGE_MQTT__HOST": "127.0.0.1", "EDGE_MQTT__PORT": str(port)}
    server = ServerProcess(tmp_path / "edge.db", env=env).start()
    try:
        assert wait_until(lambda: any(t == "edge/demo/events" for t, _, _ in client.got)), client.got
        assert any(t == "edge/demo/available" and p == "online" for t, p, _ in client.got)
        event = json.loads(next(p for t, p, _ in client.got if t == "edge/demo/events"))
        stored = httpx.get(server.url + "/events", params={"after": event["seq"] - 1, "limit": 1}).json()["events"]
        assert stored[0]["seq"] == event["seq"] and stored[0]["type"] == event["type"]
        assert httpx.get(server.url + "/health").json()["problems"].get("mqtt") is None
    finally:
        server.stop()
    assert wait_until(lambda: ("edge/demo/available", "offline", False) in client.got, 20), client.got[-5:]


def test_an_unreachable_broker_keeps_the_service_running_and_says_so(tmp_path):
    env = {"EDGE_MQTT__ENABLED": "true", "EDGE_MQTT__HOST": "127.0.0.1", "EDGE_MQTT__PORT": str(free_port())}
    server = ServerProcess(tmp_path / "edge.db", env=env).start()
    try:
        health = httpx.get(server.url + "/health").json()
        assert "not connected to 127.0.0.1" in health["problems"]["mqtt"]
        assert wait_until(lambda: httpx.get(server.url + "/events", params={"after": 0}).json()["events"])
    finally:
        server.stop()
