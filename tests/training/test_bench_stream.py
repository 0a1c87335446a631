"""bench-stream is a command; this runs it briefly against the real service so that it cannot rot."""

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_bench_stream_counts_frames_for_every_viewer(tmp_path, shared):
    out = tmp_path / "stream.json"
    proc = subprocess.run(
        [sys.executable, "-m", "training", "bench-stream", "--viewers", "3", "--seconds", "3", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    one, many = json.loads(out.read_text())
    assert one["viewers"] == 1 and many["viewers"] == 3
    assert one["viewer_fps_min"] > 0 and many["viewer_fps_min"] > 0 and many["output_fps"] > 0
    assert "| 3 |" in proc.stdout
