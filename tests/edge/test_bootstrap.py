"""Loading the networks: progress that /health shows, and what a failure switches off (edge/bootstrap.py)."""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest
import torch

from bench.server_process import ServerProcess
from edge.api.health import health as health_route
from edge.bootstrap import LoadProgress, build_analyzer
from edge.identity.embedders import VggFace2Embedder
from edge.service import EdgeService


def test_progress_says_which_network_of_how_many():
    progress = LoadProgress(["emotion", "identity"], builds_engines=True)
    assert progress.describe().startswith("building TensorRT engines (1 of 2")
    progress.begin("emotion")
    assert "(1 of 2: emotion; first start only" in progress.describe()
    progress.end()
    progress.begin("identity")
    assert "(2 of 2: identity" in progress.describe()
    progress.finish()
    assert progress.describe() == "models loaded" and progress.finished.is_set()
    assert LoadProgress(["emotion"], builds_engines=False).describe() == "loading models (1 of 1)"


def test_a_service_loading_in_the_background_answers_at_once_and_says_so(tmp_path, settings_factory):
    settings = settings_factory(tmp_path, EDGE_STORAGE__CACHE_DIR=str(tmp_path / "cache"))
    service = EdgeService(settings, load_models="background")
    try:
        before = service.health()  # nothing loads until start()
        assert before["status"] == "starting" and before["ready"] is False
        assert before["problems"] == {"models": "loading models (1 of 2)"}  # no source problem while waiting
        assert before["models"]["emotion"] is None and before["source"]["state"] == "waiting for the models"
        assert service.analyze_image(np.zeros((120, 160, 3), np.uint8)) == []  # detection runs meanwhile
        assert health_route(service).status_code == 200  # alive: Docker's healthcheck passes while engines build
        service.start()
        assert service.loading.finished.wait(120)
        deadline = time.monotonic() + 60
        while not service.health()["ready"]:
            assert time.monotonic() < deadline, service.health()
            time.sleep(0.2)
        after = service.health()
        assert after["status"] == "ok", after["problems"]
        assert after["models"]["emotion"].endswith(".pt") and after["models"]["identity"] == "face_descriptor_128"
    finally:
        service.stop()


def test_the_server_listens_before_the_models_load(tmp_path):
    # A real server: it listens before the networks load (Docker's healthcheck must not fail a container
    # that builds engines), then serves video.
    srv = ServerProcess(tmp_path / "edge.db", env={"EDGE_STORAGE__CACHE_DIR": str(tmp_path / "cache")})
    srv.start(timeout=120)
    try:
        health = httpx.get(srv.url + "/health", timeout=5)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        log = srv.log_path.read_text()
        assert log.index("serving http://") < log.index("loading models (1 of 2: emotion)")  # the server first
    finally:
        srv.stop()


def test_an_embedder_that_fails_to_build_falls_back_to_the_offline_one(tmp_path, settings_factory, monkeypatch):
    # A TensorRT parse/build failure or CUDA out-of-memory on the VGGFace2 engine cannot happen on this CPU; its
    # exception is raised where the engine would be built.
    def engine_fails(*args, **kwargs):
        raise RuntimeError("TensorRT failed to build an engine from vggface2-281cebca.onnx")

    monkeypatch.setattr(VggFace2Embedder, "from_manifest", classmethod(lambda cls, *a, **k: engine_fails()))
    settings = settings_factory(tmp_path, EDGE_IDENTITY__EMBEDDER="vggface2")
    analyzer = build_analyzer(settings)
    assert analyzer.embedder is not None and analyzer.embedder.name == "face_descriptor_128"
    assert analyzer.gallery is not None
    problem = analyzer.problems["identity"]
    assert "TensorRT failed to build" in problem and "offline 128-d descriptor instead" in problem


def test_a_refused_identity_head_leaves_the_gallery_working(tmp_path, settings_factory):
    head = tmp_path / "head.pt"
    weights = {"weight": torch.zeros(2, 512), "bias": torch.zeros(2), "classes": ["ada", "bo"]}
    torch.save({**weights, "embedder": "vggface2/square", "threshold": 0.5}, head)
    analyzer = build_analyzer(settings_factory(tmp_path, EDGE_IDENTITY__HEAD=str(head)))
    assert analyzer.head is None and analyzer.embedder is not None and analyzer.gallery is not None
    assert "vggface2/square" in analyzer.problems["identity_head"]
    assert "the gallery names faces meanwhile" in analyzer.problems["identity_head"]
    assert "identity" not in analyzer.problems


def test_an_unknown_embedder_is_refused_at_start_and_an_unconverted_one_switches_identity_off(
    tmp_path, settings_factory
):
    from edge.config import ConfigError

    with pytest.raises(ConfigError, match="identity.embedder: Input should be 'auto', 'vggface2', 'faceapi'"):
        settings_factory(tmp_path, EDGE_IDENTITY__EMBEDDER="arcface")
    analyzer = build_analyzer(settings_factory(tmp_path, EDGE_IDENTITY__EMBEDDER="faceres"))
    assert analyzer.embedder is None and "convert-human-identity --network faceres" in analyzer.problems["identity"]


def test_load_models_is_now_or_background(tmp_path, settings_factory):
    with pytest.raises(ValueError, match="'now' or 'background'"):
        EdgeService(settings_factory(tmp_path), load_models="later")
