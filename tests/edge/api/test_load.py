"""30 MJPEG viewers and 20 long-polls at once on the real server: every client is served, none errors."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from bench.server_process import ServerProcess

pytestmark = pytest.mark.slow
SECONDS = 4.0


async def view(client: httpx.AsyncClient) -> int:
    frames, deadline = 0, time.monotonic() + SECONDS
    async with client.stream("GET", "/stream.mjpg") as resp:
        assert resp.status_code == 200
        async for chunk in resp.aiter_bytes():
            frames += chunk.count(b"--frame\r\n")
            if time.monotonic() > deadline:
                return frames
    return frames


async def long_poll(client: httpx.AsyncClient, after: int) -> int:
    resp = await client.get("/events", params={"after": after, "wait": SECONDS})
    assert resp.status_code == 200 and "next" in resp.json()
    return resp.status_code


async def crowd(url: str) -> tuple:
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        last = (await client.get("/events", params={"limit": 1})).json()["last_seq"]
        viewers = [view(client) for _ in range(30)]
        polls = [long_poll(client, last) for _ in range(20)]
        results = await asyncio.gather(*viewers, *polls)
    return results[:30], results[30:]


def test_thirty_viewers_and_twenty_long_polls(tmp_path):
    srv = ServerProcess(tmp_path / "edge.db").start()
    try:
        frames, polls = asyncio.run(crowd(srv.url))
        assert polls == [200] * 20
        # The demo is 25 fps; every viewer gets the shared JPEG, none starves (a quarter of the rate at least on
        # a 2-core machine that also runs the analysis and the 30 clients).
        assert min(frames) >= 0.25 * 25 * SECONDS, frames
        assert httpx.get(srv.url + "/health").status_code == 200
    finally:
        srv.stop()
