"""edge/ runs on the Jetson image (Python 3.8): fail on newer syntax or stdlib use."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VERMIN = str(Path(sys.executable).parent / "vermin")


def test_edge_needs_at_most_python_3_8():
    out = subprocess.run(
        [
            VERMIN,
            "--no-tips",
            "--violations",
            "-t=3.8-",
            "--eval-annotations",
            "--backport",
            "typing",
            "--backport",
            "dataclasses",
            str(ROOT / "edge"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_check_catches_newer_syntax(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(x):\n    match x:\n        case 1:\n            return x | {}\n")
    out = subprocess.run(
        [VERMIN, "--no-tips", "--violations", "-t=3.8-", str(bad)],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
