"""The benchmarks are commands, not tests; these run them briefly so that they cannot rot."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def run_bench(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_bench_runs_on_a_few_frames(tmp_path, shared):
    out = tmp_path / "runs" / "bench.json"  # a folder that does not exist yet, as in a fresh clone
    proc = run_bench("pipeline", "--frames", "3", "--scenario", "faces1", "--out", str(out))
    row = json.loads(out.read_text())[0]
    assert row["scenario"] == "faces1" and row["loop"]["fps"] > 0 and row["ours"]["fps"] > 0
    assert 0 <= row["accuracy"]["face_recall"] <= 1
    assert "faces1" in proc.stdout and "x" in proc.stdout


def test_bench_stream_counts_frames_for_every_viewer(tmp_path, shared):
    out = tmp_path / "runs" / "stream.json"
    proc = run_bench("stream", "--viewers", "3", "--seconds", "3", "--out", str(out), timeout=300)
    one, many = json.loads(out.read_text())
    assert one["viewers"] == 1 and many["viewers"] == 3
    assert one["viewer_fps_min"] > 0 and many["viewer_fps_min"] > 0 and many["output_fps"] > 0
    assert 0 < one["capture_to_jpeg_ms_p50"] <= one["capture_to_jpeg_ms_p95"]
    assert "| 3 |" in proc.stdout


def test_bench_detection_scores_the_live_detector_on_the_videos_and_dlib_style_boxes(tmp_path, multiface):
    import cv2
    import numpy as np

    from edge.detection import FaceDetector

    # A folder laid out as dlib's examples/faces: photos and the XML of their boxes (squares, as dlib draws).
    cv2.imwrite(str(tmp_path / "group.jpg"), multiface)
    squares, sides = [], []
    for x1, y1, x2, y2 in FaceDetector(max_side=4096, min_face_px=20).detect(multiface).boxes:
        side = min(x2 - x1, y2 - y1)
        sides.append(int(side))
        squares.append(f"<box top='{int(y2 - side)}' left='{int(x1)}' width='{int(side)}' height='{int(side)}'/>")
    cv2.imwrite(str(tmp_path / "blank.jpg"), np.full((300, 400, 3), 127, np.uint8))
    xml = "<dataset><images><image file='{}'>{}</image></images></dataset>"
    (tmp_path / "training.xml").write_text(xml.format("group.jpg", "".join(squares)))
    (tmp_path / "testing.xml").write_text(xml.format("blank.jpg", ""))
    out = tmp_path / "runs" / "detection.json"
    proc = run_bench("detection", "--every", "15", "--dlib-faces", str(tmp_path), "--out", str(out))
    results = json.loads(out.read_text())
    assert set(results) == {"walking", "hamilton", "dlib photos"}
    for rows in results.values():
        live = next(r for name, r in rows.items() if name.startswith("live:"))
        assert live["faces"] > 0 and 0.9 <= live["recall"] <= 1 and live["precision"] >= 0.9
    assert results["dlib photos"][next(iter(results["dlib photos"]))]["faces"] == sum(s >= 40 for s in sides)
    assert "| walking (" in proc.stdout and "| dlib photos (" in proc.stdout


def test_bench_emotion_times_each_model_and_set_of_views_on_real_faces(tmp_path, shared):
    out = tmp_path / "runs" / "emotion.json"
    proc = run_bench(
        "emotion", "--tta", "none", "--tta", "zoom", "--faces", "4", "--calls", "3", "--out", str(out), timeout=300
    )
    rows = json.loads(out.read_text())
    # The shipped folder has an INT8 network of its weights: each set of views is timed in INT8 and in float.
    assert [(r["tta"], r["precision"]) for r in rows] == [
        ("none", "int8"),
        ("none", "fp32"),
        ("zoom", "int8"),
        ("zoom", "fp32"),
    ]
    none, zoom = rows[0], rows[2]
    assert (none["views"], zoom["views"]) == (1, 6) and none["faces"] == zoom["faces"] == 4
    assert none["gmac_per_call"] > 0 and zoom["gmac_per_call"] == pytest.approx(6 * none["gmac_per_call"], rel=0.02)
    assert 0 < none["ms_p50"] <= none["ms_p95"] and 0 < zoom["ms_p50"] <= zoom["ms_p95"]
    assert f"| {none['file']} | zoom (6) | 4 |" in proc.stdout and "| int8 |" in proc.stdout


def test_bench_stream_runs_several_cameras_and_reports_each(tmp_path, shared):
    out = tmp_path / "runs" / "cameras.json"
    proc = run_bench("stream", "--cameras", "2", "--height", "240", "--seconds", "3", "--out", str(out), timeout=400)
    result = json.loads(out.read_text())
    rows = result["per_camera"]
    assert [r["camera"] for r in rows] == ["cam0", "cam1"]
    assert rows[0]["video"].endswith("walking.mp4") and rows[1]["video"].endswith("short_hamilton_clip.mp4")
    for r in rows:  # each camera streamed to its own viewer and was analysed
        assert r["viewer_fps"] > 0 and r["output_fps"] > 0 and r["analysis_fps"] > 0
    assert result["peak_rss_mb"] > 100 and result["server_cpu_pct"] > 0
    assert "| cam1 |" in proc.stdout and "2 camera(s) at 240p" in proc.stdout


def test_bench_store_times_each_bulk_change_both_ways(tmp_path):
    out = tmp_path / "store.json"
    proc = run_bench("store", "--events", "3000", "--out", str(out))
    rows = json.loads(out.read_text())
    assert [(r["change"], r["chunk_rows"]) for r in rows] == [
        ("redact", "all"),
        ("redact", 500),
        ("retention", "all"),
        ("retention", 500),
    ]
    assert all(r["rows"] == 3000 and r["events_stored_meanwhile"] > 0 for r in rows)
    assert "| redact | 500 | 3000 |" in proc.stdout


def test_bench_emotion_camera_scores_photos_and_crops_clean_and_camera_like(tmp_path, shared):
    import shutil

    images = tmp_path / "images"
    images.mkdir()
    rows = []
    for person, label in (("barack_obama", "happiness"), ("joe_biden", "neutral")):
        photo = sorted((shared / "data" / "faces" / "people" / person).glob("*.jpg"))[0]
        shutil.copy(photo, images / f"{person}.jpg")
        rows.append(f"1,{person}.jpg,{label}")
    legend = tmp_path / "legend.csv"  # the muxspace layout, two photos
    legend.write_text("user.id,image,emotion\n" + "\n".join(rows) + "\n")
    out = tmp_path / "camera.json"
    args = ("emotion-camera", "--legend", str(legend), "--images", str(images), "--per-class", "2")
    proc = run_bench(*args, "--out", str(out), timeout=400)
    result = json.loads(out.read_text())
    photos, crops = result["sets"]["muxspace photos"], result["sets"]["FER2013 PublicTest"]
    assert photos["clean"]["faces"] == 2 and crops["clean"]["faces"] == crops["camera"]["faces"] == 14
    assert all(0 <= s[c]["named"] <= 1 for s in (photos, crops) for c in ("clean", "camera"))
    assert [d["min_quality"] for d in result["demo"]] == [0.0, 0.02] and all(d["visits"] > 0 for d in result["demo"])
    assert "FER2013 PublicTest" in proc.stdout and "camera-like" in proc.stdout
