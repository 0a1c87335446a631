"""Static checks of what cannot run here (no Docker engine, no GPU): lint, a real Compose parser, settings."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.compose_v1 import v1_readable

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


DOCKERFILES = sorted([*(ROOT / "docker").glob("Dockerfile*"), ROOT / "aws" / "Dockerfile"])


def test_dockerfiles_pass_hadolint():
    files = [str(p) for p in DOCKERFILES]
    assert len(files) == 3
    out = subprocess.run([str(BIN / "hadolint"), *files], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_compose_file_is_valid_for_a_real_compose_implementation(tmp_path):
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is missing: `make tools` installs Debian's (as root)")
    readable = tmp_path / "compose.yaml"
    readable.write_text(v1_readable(ROOT / "compose.yaml"))
    for args in ([], ["--profile", "cpu"]):
        out = subprocess.run(
            ["docker-compose", "-f", str(readable), "--project-directory", str(ROOT), *args, "config"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert out.returncode == 0, out.stderr
    services = yaml.safe_load(out.stdout)["services"]
    assert services["edge"]["runtime"] == "nvidia"
    volumes = [v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in services["edge"]["volumes"]]
    assert "/dev:/dev" not in " ".join(volumes)  # a /dev bind mount can stop L4T containers from starting
    assert any(v.endswith(":/tmp/argus_socket:rw") or v.endswith(":/tmp/argus_socket") for v in volumes)
    for service in services.values():
        assert service["logging"]["options"]["max-size"]  # unbounded json logs fill the eMMC
        assert service["init"] is True  # SIGTERM reaches Python (a stop during an engine build ends it)


def test_a_missing_argus_socket_is_a_start_error_not_a_new_directory():
    # The short syntax (and the long one by default, in Compose v2) creates a missing host path as a directory,
    # which then keeps nvargus-daemon from creating its socket there.
    edge = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["edge"]
    argus = [v for v in edge["volumes"] if isinstance(v, dict) and v.get("target") == "/tmp/argus_socket"]
    assert len(argus) == 1 and argus[0]["type"] == "bind"
    assert argus[0]["bind"]["create_host_path"] is False
    setup = (ROOT / "docker" / "jetson-setup.sh").read_text()
    assert "After=nvargus-daemon.service" in setup  # Docker starts after the daemon that makes the socket


def test_dockerfiles_agree_on_port_volume_and_healthcheck():
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


def _pip_installs(dockerfile: Path):
    text = dockerfile.read_text().replace("\\\n", " ")
    for command in re.findall(r"pip3? install ([^&\n]*)", text):
        yield command.split()


def test_every_image_install_is_pinned_and_runs_as_a_user():
    for dockerfile in DOCKERFILES:
        for words in _pip_installs(dockerfile):
            names = [w for w in words if not w.startswith("-") and not w.startswith('"$') and "/" not in w]
            names = [w for w in names if w != "."]
            pinned_by_file = any(w in ("-r", "-c") for w in words)
            assert pinned_by_file or all("==" in n for n in names), f"{dockerfile.name}: unpinned {words}"
        users = re.findall(r"^USER (\S+)", dockerfile.read_text(), re.MULTILINE)
        assert users and users[-1] not in ("root", "0"), f"{dockerfile.name} runs as root"


def test_the_build_context_leaves_data_and_runs_out():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    ignore = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    assert ignore[0] == "*"  # allow-list: data sets, runs, .venv never reach the daemon
    assert not any(p.startswith("!data") or p.startswith("!runs") for p in ignore)
