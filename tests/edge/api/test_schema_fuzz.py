"""Schemathesis against the running service: no server error, and every response matches the schema.

Bounded time (``FUZZ_SECONDS``, 60 in the suite; the closing numbers in the README come from 300).
Streaming endpoints are left out (they never end). ``positive_data_acceptance`` is left out on purpose:
OpenAPI cannot say "an image with exactly one face", so a schema-valid upload may rightly get 415/422.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.server_process import ServerProcess

pytestmark = pytest.mark.slow
TOKEN = "fuzz-token"


def test_fuzzing_finds_no_server_error_and_no_schema_mismatch(tmp_path):
    seconds = os.environ.get("FUZZ_SECONDS", "60")
    env = {"EDGE_SERVER__API_TOKEN": TOKEN, "EDGE_SERVER__PROTECT_READS": "true"}
    srv = ServerProcess(tmp_path / "edge.db", env=env).start()
    try:
        st = Path(sys.executable).parent / "schemathesis"
        out = subprocess.run(
            [
                str(st),
                "run",
                srv.url + "/openapi.json",
                "--checks",
                "all",
                "--exclude-checks",
                "positive_data_acceptance",
                "--exclude-path",
                "/stream.mjpg",
                "--exclude-path",
                "/events/stream",
                "--header",
                f"Authorization: Bearer {TOKEN}",
                "--max-time",
                seconds,
                "--request-timeout",
                "40",
                "--seed",
                "20261124",
                "--no-color",
                "--report-dir",
                str(tmp_path / "report"),
            ],
            capture_output=True,
            text=True,
            timeout=int(seconds) + 240,
        )
        assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
        assert "Tested:" in out.stdout
    finally:
        srv.stop()
    log = srv.log_path.read_text()
    assert "Traceback" not in log, log[-3000:]
