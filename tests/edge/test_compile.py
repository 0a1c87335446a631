"""The compiled-model cache: its lock against a running service, and stale files removed (edge/compile.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from edge.compile import CacheInUse, cached_onnx, hold_cache


def test_services_share_the_cache_and_build_engines_is_refused_beside_them(tmp_path):
    first, second = hold_cache(tmp_path), hold_cache(tmp_path)  # two services: both run
    with pytest.raises(CacheInUse, match="docker compose stop edge"):
        hold_cache(tmp_path, exclusive=True)
    first.close()
    second.close()
    hold_cache(tmp_path, exclusive=True).close()  # none left: the build may go on


def test_build_engines_refuses_while_another_process_serves_from_the_cache(tmp_path):
    cache = tmp_path / "cache"
    (cache).mkdir()
    engine = cache / "emotion-0123-trt8.5-fp16.engine"
    engine.write_bytes(b"the engine a running service has loaded")
    held = hold_cache(cache)  # as the service does, from this process: flock works across processes
    env = {**os.environ, "EDGE_STORAGE__CACHE_DIR": str(cache), "EDGE_STORAGE__DATABASE": str(tmp_path / "e.db")}
    try:
        out = subprocess.run(
            [sys.executable, "-m", "edge", "build-engines", "--rebuild"], capture_output=True, text=True, env=env
        )
    finally:
        held.close()
    assert out.returncode == 1 and "the service is running" in out.stderr and "docker compose up -d" in out.stderr
    assert engine.exists()  # --rebuild deleted nothing


def test_a_new_export_removes_the_forms_of_older_weights_and_half_written_files(tmp_path):
    keep = {"other-0000.onnx", "net-aaaaaaaaaaaaaaaa-trt8.5.2-fp16.engine"}
    stale = {"net-0123456789abcdef.onnx", "net-0123456789abcdef-trt8.5.2-fp16.engine", "net-aaaaaaaaaaaaaaaa.tmp.onnx"}
    in_progress = "net-aaaaaaaaaaaaaaaa.tmp4242.onnx"  # another process's export, written a moment ago
    for name in keep | stale | {in_progress}:
        (tmp_path / name).write_bytes(b"x")
    hour_ago = time.time() - 3600  # an interrupted export's leftover is old
    os.utime(tmp_path / "net-aaaaaaaaaaaaaaaa.tmp.onnx", (hour_ago, hour_ago))
    path = cached_onnx(tmp_path, "net", "a" * 64, lambda: torch.nn.Conv2d(1, 2, 3), (1, 8, 8))
    assert path.name == "net-aaaaaaaaaaaaaaaa.onnx" and path.stat().st_size > 100
    assert {p.name for p in tmp_path.iterdir()} == keep | {path.name, in_progress}
