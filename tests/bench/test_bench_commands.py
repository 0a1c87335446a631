"""The benchmarks are commands, not tests; these run them briefly so that they cannot rot."""

import json
import subprocess
import sys

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
