"""Face search, visitor memory and corrections through a real server on a loopback port and a real client."""

from __future__ import annotations

import time

import cv2
import httpx
import numpy as np
import pytest

from bench.server_process import ServerProcess
from tests.conftest import FACES

pytestmark = pytest.mark.slow
TOKEN = "search-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("search")
    srv = ServerProcess(tmp / "edge.db", env={"EDGE_SERVER__API_TOKEN": TOKEN, "EDGE_EMOTION__ENABLED": "false"})
    srv.start()
    yield srv
    srv.stop()


def thumbnail_size(url: str, seq: int) -> tuple:
    jpeg = httpx.get(f"{url}/events/{seq}/thumbnail.jpg", headers=AUTH).content
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return (0, 0) if image is None else image.shape[:2]


def remembered_visits(url: str, want: int, timeout: float = 120) -> list:
    """face.left events of strangers whose visitor is remembered (at least ``want`` different visitors), each with
    the search of its kept faces that found that visitor first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = httpx.get(url + "/events", params={"type": "face.left", "limit": 1000}, headers=AUTH).json()["events"]
        kept = {}
        for event in left:
            label = event["data"]["label"]
            known = label.startswith("visitor-") and label not in kept
            remembered = known and httpx.get(f"{url}/visitors/{label.split('-')[1]}", headers=AUTH).status_code == 200
            # and a visit whose kept faces find its own visitor first: a track's best faces by quality can all be
            # under identity.min_face_px, and with the 128-d descriptor one person can leave two visitors (the
            # mechanism is tested here; how often the embedder tells people apart, by bench visitors)
            found = httpx.post(f"{url}/events/{event['seq']}/search", headers=AUTH) if remembered else None
            top = found.json().get("matches", [])[:1] if found is not None and found.status_code == 200 else []
            # and whose thumbnail shows a face large enough to be found again in it (a crop under 100 px holds a
            # face near the detector's photo_min_face_px)
            if top and top[0]["label"] == label and min(thumbnail_size(url, event["seq"])) >= 100:
                kept[label] = (event, found.json())
        if len(kept) >= want:
            return list(kept.values())
        time.sleep(1)
    raise AssertionError(f"fewer than {want} remembered visitors within {timeout} s")


def test_an_event_face_finds_its_visitor_and_a_correction_stops_the_match(server):
    url = server.url
    (first, found), (second, _) = remembered_visits(url, 2)[:2]
    label, seq = first["data"]["label"], first["seq"]
    # (the search the helper chose it by: searched again, the looping demo can have moved the templates since)
    top = found["matches"][0]
    assert top["label"] == label and top["kind"] == "visitor" and top["similarity"] >= 0.9
    assert seq in [v["seq"] for v in top["visits"]]
    visit = next(v for v in top["visits"] if v["seq"] == seq)
    assert visit["thumbnail"] == f"/events/{seq}/thumbnail.jpg" and visit["duration_s"] >= 0
    # the thumbnail of that visit, searched as a photo, finds the same visitor
    jpeg = httpx.get(url + visit["thumbnail"], headers=AUTH).content
    # (a JPEG of one kept face, not the mean of the visit, against a template that moves with each later visit:
    # measured 0.92-0.99 to its own visitor, so asked for the ten nearest down to 0.8)
    photo = httpx.post(
        f"{url}/search",
        params={"min_similarity": 0.8, "limit": 10},
        files={"file": ("face.jpg", jpeg, "image/jpeg")},
        headers=AUTH,
    )
    assert photo.status_code == 200, photo.text
    by_photo = photo.json()
    # Among the matches (the top one can be a second visitor of the same person, one the 128-d descriptor did
    # not recall as them: docs/benchmarks.md, "Visitor memory on the looped demo")
    assert label in [m["label"] for m in by_photo["matches"]] and by_photo["chosen"] == "only face"
    # "not this person": the same faces no longer match that visitor
    marked = httpx.post(f"{url}/events/{seq}/not-this-person", headers=AUTH).json()
    assert marked["not"] == label and marked["faces_stored"] >= 1
    again = httpx.post(f"{url}/events/{seq}/search", headers=AUTH).json()
    assert label not in [m["label"] for m in again["matches"]]
    # merging two visitors into one; forgetting one
    keep, other = second["data"]["label"].split("-")[1], label.split("-")[1]
    visits_before = sum(httpx.get(f"{url}/visitors/{v}", headers=AUTH).json()["visits"] for v in (keep, other))
    merged = httpx.post(f"{url}/visitors/{keep}/merge", data={"other": other}, headers=AUTH).json()
    assert merged["merged"] == label and merged["visits"] >= visits_before
    assert httpx.get(f"{url}/visitors/{other}", headers=AUTH).status_code == 404
    assert httpx.delete(f"{url}/visitors/{keep}", headers=AUTH).json()["forgotten"] is True
    assert httpx.get(f"{url}/visitors/{keep}", headers=AUTH).status_code == 404


def test_a_photo_of_an_enrolled_person_finds_them(server):
    url = server.url
    photos = sorted((FACES / "people" / "barack_obama").iterdir())
    with open(photos[0], "rb") as f:
        r = httpx.post(f"{url}/identities/obama/faces", files={"files": (photos[0].name, f.read())}, headers=AUTH)
    assert r.status_code == 201, r.text
    with open(photos[1], "rb") as f:
        found = httpx.post(f"{url}/search", files={"file": (photos[1].name, f.read())}, headers=AUTH).json()
    assert found["matches"][0]["label"] == "obama" and found["matches"][0]["kind"] == "person"
    assert found["matches"][0]["visits"] == []  # he never walked past the camera


def test_search_refuses_what_enrollment_refuses_and_needs_the_token(server):
    url = server.url
    no_token = httpx.post(f"{url}/search", files={"file": ("x.jpg", b"\xff\xd8 not really", "image/jpeg")})
    assert no_token.status_code == 401
    garbage = httpx.post(f"{url}/search", files={"file": ("x.jpg", b"\xff\xd8 not really", "image/jpeg")}, headers=AUTH)
    assert garbage.status_code == 415 and "x.jpg" in garbage.json()["detail"]
    with open(FACES / "scenes" / "multiface.jpg", "rb") as f:
        several = httpx.post(f"{url}/search", files={"file": ("group.jpg", f.read())}, headers=AUTH)
    assert several.status_code == 422 and "face=largest" in several.json()["detail"]
    blank = cv2.imencode(".png", np.full((200, 200, 3), 90, np.uint8))[1].tobytes()
    none = httpx.post(f"{url}/search", files={"file": ("wall.png", blank)}, headers=AUTH)
    assert none.status_code == 422 and "no face found" in none.json()["detail"]
    assert httpx.post(f"{url}/events/999999/search", headers=AUTH).status_code == 404
    assert httpx.post(f"{url}/events/999999/not-this-person", headers=AUTH).status_code == 404
    assert httpx.get(f"{url}/visitors/424242", headers=AUTH).status_code == 404
    assert httpx.post(f"{url}/visitors/5/merge", data={"other": 5}, headers=AUTH).status_code in (400, 404)
    assert httpx.post(f"{url}/search", params={"min_similarity": 7}, headers=AUTH).status_code == 400
