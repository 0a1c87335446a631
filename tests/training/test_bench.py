"""The benchmark is a command, not a test; this runs it on a few frames so that it cannot rot."""

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_bench_runs_on_a_few_frames(tmp_path, shared):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "training", "bench", "--frames", "3", "--scenario", "faces1", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = json.loads(out.read_text())[0]
    assert row["scenario"] == "faces1" and row["loop"]["fps"] > 0 and row["ours"]["fps"] > 0
    assert 0 <= row["accuracy"]["face_recall"] <= 1
    assert "faces1" in proc.stdout and "x" in proc.stdout
