"""Hostile and malformed requests against the real server: JSON 4xx, bounded memory, a stream that keeps going."""

from __future__ import annotations

import socket
import struct
import threading
import time
import zlib
from pathlib import Path

import httpx
import pytest

from bench.server_process import ServerProcess
from tests.conftest import FACES

pytestmark = pytest.mark.slow


def png_bomb(path: Path, side: int) -> Path:
    """A grey PNG of side x side pixels that is about 1 MB on disk (written without holding the pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    squeeze = zlib.compressobj(9)
    row = b"\0" * (side + 1)  # filter byte + pixels
    idat = bytearray()
    for _ in range(side):
        idat += squeeze.compress(row)
    idat += squeeze.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", bytes(idat)) + chunk(b"IEND", b""))
    return path


def count_frames(url: str, seconds: float) -> int:
    boundaries = 0
    deadline = time.monotonic() + seconds
    with httpx.stream("GET", url + "/stream.mjpg", timeout=30) as resp:
        for chunk in resp.iter_bytes():
            boundaries += chunk.count(b"--frame\r\n")
            if time.monotonic() > deadline:
                break
    return boundaries


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    srv = ServerProcess(tmp / "edge.db", env={"EDGE_SERVER__IMAGE_QUEUE": "4"}).start()
    yield srv
    srv.stop()


@pytest.mark.parametrize(
    "path, params, headers",
    [
        ("/events", {"after": str(2**63)}, {}),
        ("/events", {"since": "0001-01-01T00:00:00+01:00"}, {}),
        ("/events", {"until": "9999-12-31T23:59:59-01:00"}, {}),
        ("/report", {"since": "0001-01-01T00:00:00+01:00"}, {}),
        ("/events/stream", {"after": "99999999999999999999"}, {}),
        ("/events/stream", {}, {"Last-Event-ID": "\xb2"}),
        ("/events", {"type": "face.exploded"}, {}),
    ],
)
def test_malformed_queries_get_a_json_400(server, path, params, headers):
    resp = httpx.get(server.url + path, params=params, headers={k: v.encode("latin-1") for k, v in headers.items()})
    assert resp.status_code == 400, resp.text
    assert set(resp.json()) == {"error", "detail"}


def test_method_not_allowed_lists_every_method_of_the_path(server):
    resp = httpx.request("PUT", server.url + "/identities/ada")
    assert resp.status_code == 405
    assert set(resp.headers["allow"].split(", ")) == {"GET", "DELETE", "PATCH"}
    assert resp.json()["error"]


def test_the_schema_lists_each_error_status(server):
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    assert {"413", "415", "422", "429", "507"} <= set(paths["/identities/{name}/faces"]["post"]["responses"])
    assert {"400", "401", "403"} <= set(paths["/events"]["get"]["responses"])
    assert "503" in paths["/snapshot.jpg"]["get"]["responses"]
    assert "507" in paths["/identities/{name}"]["delete"]["responses"]


def test_image_bombs_are_refused_from_their_header_while_the_stream_goes_on(server, tmp_path):
    bomb = png_bomb(tmp_path / "bomb.png", 30000).read_bytes()
    assert len(bomb) < 1.5e6  # 900 megapixels in about a megabyte
    baseline = count_frames(server.url, 3)
    answers = []

    def post():
        files = [("files", (f"b{i}.png", bomb, "image/png")) for i in range(4)]
        answers.append(httpx.post(server.url + "/identities/bomb/faces", files=files, timeout=60))
        answers.append(httpx.post(server.url + "/analyze", files={"file": ("b.png", bomb, "image/png")}, timeout=60))

    posters = [threading.Thread(target=post) for _ in range(4)]
    for t in posters:
        t.start()
    during = count_frames(server.url, 3)
    for t in posters:
        t.join()
    assert {r.status_code for r in answers} <= {413, 429} and 413 in {r.status_code for r in answers}
    assert "megapixels" in next(r for r in answers if r.status_code == 413).json()["detail"]
    rss = server.peak_rss_mb()
    print(f"stream frames in 3 s: {baseline} before, {during} during 8 bomb uploads; peak RSS {rss:.0f} MB")
    assert rss < 2048
    # Decoding never happens on the event loop: the stream keeps most of its rate (a freeze would be ~0).
    assert during >= 0.6 * baseline, (baseline, during)


def test_an_upload_over_the_limit_is_refused_before_or_while_it_arrives(server):
    # Declares 629 MB and sends none of it: the answer comes from the headers alone.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /analyze HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 659554304\r\n\r\n"
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 413")

    def chunks():  # no Content-Length: counted while it arrives, cut off past the limit
        for _ in range(40):
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.jpg"\r\n\r\n' + b"x" * 1_000_000

    streamed = httpx.post(
        server.url + "/analyze", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert streamed.status_code == 413 and streamed.json()["error"] == "upload too large"
    assert httpx.get(server.url + "/health").status_code == 200


def test_a_full_pool_answers_429_with_retry_after(tmp_path):
    srv = ServerProcess(
        tmp_path / "edge.db", env={"EDGE_SERVER__IMAGE_QUEUE": "1", "EDGE_SERVER__IMAGE_WORKERS": "1"}
    ).start()
    try:
        photo = (FACES / "scenes" / "multiface.jpg").read_bytes()
        answers = []

        def post():
            answers.append(httpx.post(srv.url + "/analyze", files={"file": ("m.jpg", photo)}, timeout=120))

        threads = [threading.Thread(target=post) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(r.status_code for r in answers)
        assert 200 in codes and 429 in codes, codes
        busy = next(r for r in answers if r.status_code == 429)
        assert int(busy.headers["retry-after"]) > 0 and busy.json()["error"] == "too many uploads"
    finally:
        srv.stop()
