"""The command line, run as a user runs it: a subprocess with real photos."""

import json
import os
import subprocess
import sys

from tests.conftest import FACES, ROOT


def edge(*args, db):
    return subprocess.run(
        [sys.executable, "-m", "edge", "--database", str(db), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def test_enroll_then_analyze_json_names_the_person(tmp_path):
    db = tmp_path / "edge.db"
    people = FACES / "people"
    out = edge("enroll", "Barack Obama", str(people / "barack_obama" / "obama.jpg"), db=db)
    assert out.returncode == 0, out.stderr
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 truncated")
    out = edge(
        "analyze",
        "--json",
        str(people / "barack_obama" / "obama2.jpg"),
        str(FACES / "scenes" / "multiface.jpg"),
        str(bad),
        db=db,
    )
    assert out.returncode == 1  # one input was bad; the others were still analysed
    results = json.loads(out.stdout)
    assert results[0]["faces"][0]["identity"]["name"] == "Barack Obama"
    assert len(results[1]["faces"]) == 6 and all(f["identity"]["name"] is None for f in results[1]["faces"])
    assert "not an image" in results[2]["error"] and "broken.jpg" in out.stderr


def test_enroll_refuses_a_group_photo_with_a_clear_message(tmp_path):
    out = edge("enroll", "crowd", str(FACES / "scenes" / "multiface.jpg"), db=tmp_path / "edge.db")
    assert out.returncode == 2 and "6 faces found" in out.stderr and "Traceback" not in out.stderr


def test_text_output_and_bad_config(tmp_path):
    out = edge("analyze", str(FACES / "scenes" / "astronaut.png"), db=tmp_path / "edge.db")
    assert out.returncode == 0 and "1 face(s)" in out.stdout and "emotion" in out.stdout
    cfg = tmp_path / "c.yaml"
    cfg.write_text("servr: {}\n")
    out = subprocess.run(
        [sys.executable, "-m", "edge", "--config", str(cfg), "analyze", "x.jpg"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 2 and "servr" in out.stderr


def test_build_engines_rebuild_deletes_cached_engines(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "emotion-0123-trt8.5-fp16.engine").write_bytes(b"built in another power mode")
    env = {**os.environ, "EDGE_STORAGE__CACHE_DIR": str(cache), "EDGE_BACKEND": "torch"}
    env["EDGE_STORAGE__DATABASE"] = str(tmp_path / "edge.db")
    out = subprocess.run(
        [sys.executable, "-m", "edge", "build-engines", "--rebuild"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    assert "deleted" in out.stdout and not list(cache.glob("*.engine"))


def test_enroll_picks_a_face_of_a_group_photo_on_request(tmp_path):
    out = edge("enroll", "crowd", str(FACES / "scenes" / "multiface.jpg"), "--face", "2", db=tmp_path / "edge.db")
    assert out.returncode == 0, out.stderr
    assert "(face 2)" in out.stdout and "enrolled 1 face(s)" in out.stdout
