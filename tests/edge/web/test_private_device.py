"""A device set to blur strangers and to guard everything with a token, used through the browser and HTTP."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from bench.server_process import ServerProcess
from tests.edge.overlay_checks import sharpness, snapshot

pytestmark = pytest.mark.slow
TOKEN = "correct horse battery staple"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {
        "EDGE_RENDER__OVERLAY": "blur-strangers",
        "EDGE_SERVER__API_TOKEN": TOKEN,
        "EDGE_SERVER__PROTECT_READS": "true",
    }
    srv = ServerProcess(tmp_path_factory.mktemp("private") / "edge.db", env=env).start()
    yield srv
    srv.stop()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_viewers_cannot_ask_for_less_blurring_than_the_device_is_set_to(server):
    for path in ("/snapshot.jpg", "/stream.mjpg"):
        r = httpx.get(f"{server.url}{path}", params={"overlay": "boxes"}, headers=AUTH, timeout=10)
        assert r.status_code == 403 and "blur-strangers" in r.json()["detail"]
    assert httpx.get(f"{server.url}/snapshot.jpg", params={"overlay": "blur-all"}, headers=AUTH).status_code == 200


def test_strangers_are_blurred_in_snapshots_and_on_the_stream(server):
    scale = 1280 / 1920
    sharp_faces, sharp_rest = [], []
    for _ in range(10):
        tracks = httpx.get(f"{server.url}/tracks", headers=AUTH, timeout=10).json()["tracks"]
        boxes = [t["box"] for t in tracks if t["box"][2] - t["box"][0] >= 50]
        if not boxes:
            continue
        image = snapshot(server.url, headers=AUTH)
        sharp_faces += sharpness(image, boxes, scale)
        # The same boxes moved one box-width aside (clothes, background): what unblurred detail looks like.
        beside = [[x1 - (x2 - x1), y1, x1, y2] for x1, y1, x2, y2 in boxes if x1 - (x2 - x1) > 0]
        sharp_rest += sharpness(image, beside, scale)
    assert sharp_faces and sharp_rest
    assert np.median(sharp_faces) < 0.25 * np.median(sharp_rest), (np.median(sharp_faces), np.median(sharp_rest))


def test_the_pages_ask_for_the_token_once_then_work(server, page):
    page.goto(server.url + "/ui/events")
    page.wait_for_selector("#login input[name=token]", timeout=30_000)
    page.fill("#login input[name=token]", "wrong")
    page.click("#login button")
    page.wait_for_selector("#login .message:has-text('wrong token')")
    page.fill("#login input[name=token]", TOKEN)
    page.click("#login button")
    page.wait_for_load_state("load")
    page.wait_for_function("document.getElementById('count').textContent.includes('events')", timeout=30_000)
    assert page.query_selector("#login") is None
