"""The Live page of a service with several cameras: a camera switcher and a grid of every camera."""

from __future__ import annotations

import shutil

import pytest

from bench.server_process import ServerProcess
from tests.conftest import DEMO
from tests.edge.web.conftest import shot


@pytest.fixture(scope="module")
def two_cameras(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cameras")
    second = tmp / "hall.mp4"
    shutil.copy(DEMO, second)
    cameras = f"[{{name: door, source: {{uri: '{DEMO}'}}}}, {{name: hall, source: {{uri: '{second}'}}}}]"
    env = {"EDGE_CAMERAS": cameras, "EDGE_EMOTION__ENABLED": "false"}
    srv = ServerProcess(tmp / "edge.db", env=env).start()
    yield srv
    srv.stop()


def test_the_live_page_switches_cameras_and_shows_them_all_in_a_grid(two_cameras, page):
    page.goto(two_cameras.url + "/?camera=hall")
    page.wait_for_selector("#camera-choice:not([hidden])", timeout=30_000)
    options = page.eval_on_selector_all("#camera option", "os => os.map(o => o.value)")
    assert options == ["door", "hall", "*"]
    assert page.get_attribute("#stream", "src") == "/cameras/hall/stream.mjpg"  # the camera the link names
    page.wait_for_function("document.getElementById('stream').naturalWidth > 0", timeout=60_000)
    # The faces on screen are the chosen camera's, each named with its camera.
    page.wait_for_function(
        "(ls => ls.length > 0 && ls.every(l => l.textContent.includes(' hall · ')))"
        "([...document.querySelectorAll('#tracks li[data-track]')])",
        timeout=60_000,
    )
    page.select_option("#camera", "door")
    assert page.get_attribute("#stream", "src") == "/cameras/door/stream.mjpg"
    assert page.get_attribute("#snapshot", "href") == "/cameras/door/snapshot.jpg"
    page.select_option("#overlay", "blur-all")
    assert page.get_attribute("#stream", "src") == "/cameras/door/stream.mjpg?overlay=blur-all"
    # All cameras: one stream per camera in the grid, every one of them drawing, and the single stream closed.
    page.select_option("#camera", "*")
    assert page.is_hidden("#stream") and page.get_attribute("#stream", "src") is None
    srcs = page.eval_on_selector_all("#camera-grid img", "imgs => imgs.map(i => i.getAttribute('src'))")
    assert srcs == ["/cameras/door/stream.mjpg?overlay=blur-all", "/cameras/hall/stream.mjpg?overlay=blur-all"]
    page.wait_for_function(
        "[...document.querySelectorAll('#camera-grid img')].every(i => i.naturalWidth > 0)", timeout=60_000
    )
    shot(page, "live-cameras")
