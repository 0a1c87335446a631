"""Static checks of what cannot run here (no Docker engine, no GPU): lint, a real Compose parser, settings."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edge.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_dockerfiles_pass_hadolint():
    files = sorted(str(p) for p in (ROOT / "docker").glob("Dockerfile*"))
    assert len(files) == 2
    out = subprocess.run([str(BIN / "hadolint"), *files], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose is installed by make test")
def test_compose_file_is_valid_for_a_real_compose_implementation():
    for args in ([], ["--profile", "cpu"]):
        out = subprocess.run(
            ["docker-compose", "-f", str(ROOT / "compose.yaml"), *args, "config"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert out.returncode == 0, out.stderr
    services = yaml.safe_load(out.stdout)["services"]
    assert services["edge"]["runtime"] == "nvidia"
    assert "/tmp/argus_socket:/tmp/argus_socket:rw" in [
        f"{v['source']}:{v['target']}" if isinstance(v, dict) else v for v in services["edge"]["volumes"]
    ]


def test_every_variable_compose_sets_is_a_real_setting():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    env_file = dict(
        line.split("=", 1) for line in (ROOT / ".env").read_text().splitlines() if line and not line.startswith("#")
    )
    for name, service in compose["services"].items():
        env = {k: str(v) for k, v in service["environment"].items()}
        env = {k: ("csi://0" if "${" in v else v) for k, v in env.items()}
        env.update({k: v for k, v in env_file.items() if k.startswith("EDGE_") and k != "EDGE_PORT"})
        try:
            settings = load_settings(None, environ=env)
        except ConfigError as exc:  # an unknown EDGE_* name is rejected by the settings model
            pytest.fail(f"{name}: {exc}")
        assert settings.server.host == "0.0.0.0"
        container_port = int(service["ports"][0].rsplit(":", 1)[1])
        assert container_port == settings.server.port
        healthcheck = " ".join(service["healthcheck"]["test"])
        assert f":{settings.server.port}/health" in healthcheck
    # The Dockerfiles agree on the port and the data volume.
    for dockerfile in (ROOT / "docker").glob("Dockerfile*"):
        text = dockerfile.read_text()
        assert "EXPOSE 8080" in text and 'VOLUME ["/data"]' in text and "HEALTHCHECK" in text


def test_jetson_constraints_pin_everything():
    lines = [
        ln
        for ln in (ROOT / "docker" / "jetson-constraints.txt").read_text().splitlines()
        if ln and not ln.startswith("#")
    ]
    assert lines and all("==" in ln for ln in lines)
