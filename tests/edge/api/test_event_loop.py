"""The event loop never waits on SQLite: while the event store is held (a retention DELETE, a redaction), a
long-poll of /events waits in a worker thread and everything else goes on answering."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import uvicorn

from bench.tracking import VIDEOS
from edge.api import create_app
from edge.service import EdgeService


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_held_event_store_does_not_stop_the_server(settings_factory, tmp_path):
    settings = settings_factory(
        tmp_path,
        EDGE_SOURCE__URI=str(VIDEOS[0].video),
        EDGE_EMOTION__ENABLED="false",
        EDGE_IDENTITY__ENABLED="false",
    )
    service = EdgeService(settings, load_models="background")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning"))
    runner = threading.Thread(target=server.run, daemon=True)
    runner.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not server.started:
            time.sleep(0.05)
        answers = {}
        with service.events._lock:  # what a long DELETE or redaction holds
            poll = threading.Thread(target=lambda: answers.update(events=httpx.get(f"{url}/events", timeout=30)))
            poll.start()
            time.sleep(0.5)  # the query is waiting for the lock now
            started = time.monotonic()
            health = httpx.get(f"{url}/health", timeout=10)
            answered_in = time.monotonic() - started
            assert poll.is_alive()  # still waiting for SQLite ...
        assert health.status_code in (200, 503) and answered_in < 2.0  # ... while the loop answered
        poll.join(timeout=30)
        assert answers["events"].status_code == 200
    finally:
        server.should_exit = True
        runner.join(timeout=10)
        service.stop()
