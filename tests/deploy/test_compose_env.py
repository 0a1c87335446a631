"""The container environment as Docker Compose builds it, loaded by the real settings model and served.

Compose merges ``env_file`` and ``environment`` and substitutes ``${VAR}`` from ``.env``; a real
Compose implementation (Debian's docker-compose, installed by ``make tools``) does that here, so
nothing is skipped or re-implemented: every variable the container would get is read by
:func:`edge.config.load_settings`, exactly as in the container.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List

import httpx
import pytest
import yaml

from bench.server_process import ServerProcess
from edge.access_token import resolve_access
from edge.cli import build_parser
from edge.config import ConfigError, load_settings
from tests.deploy.compose_v1 import v1_readable

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_FILES = ["compose.yaml", "docker"]


def compose_config(env_file: Path, tmp_path: Path) -> Dict[str, dict]:
    """``docker-compose config`` of our compose.yaml with ``env_file`` as the project's .env."""
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is missing: `make tools` installs Debian's (as root)")
    project = tmp_path / "project"
    project.mkdir()
    (project / "compose.yaml").write_text(v1_readable(ROOT / "compose.yaml"))
    shutil.copytree(ROOT / "docker", project / "docker")
    shutil.copy(env_file, project / ".env")
    out = subprocess.run(["docker-compose", "--profile", "cpu", "config"], cwd=project, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)["services"]


def container_env(service: dict) -> Dict[str, str]:
    env = service.get("environment") or {}
    return {k: "" if v is None else str(v) for k, v in env.items()}


def on_this_machine(env: Dict[str, str], tmp_path: Path) -> Dict[str, str]:
    """The container's environment with its /data volume moved into ``tmp_path`` (nothing else changes)."""
    return {k: str(tmp_path / "data" / v[len("/data/") :]) if v.startswith("/data/") else v for k, v in env.items()}


@pytest.mark.parametrize("env_file", [".env", ".env.example"])
def test_every_service_starts_from_its_compose_environment(env_file, tmp_path):
    services = compose_config(ROOT / env_file, tmp_path)
    assert set(services) == {"edge", "edge-cpu"}
    for name, service in services.items():
        env = container_env(service)
        try:
            settings = load_settings(None, environ=env)
        except ConfigError as exc:  # e.g. EDGE_PORT: a compose variable that the settings model rejects
            pytest.fail(f"{name} with {env_file}: the container would exit at start:\n{exc}")
        assert settings.server.host == "0.0.0.0"
        # Off loopback the service refuses to start without a token: the compose setup must provide one.
        token, protect_reads = resolve_access(load_settings(None, environ=on_this_machine(env, tmp_path)).server)
        assert token and protect_reads
        published = service["ports"][0]
        assert int(published["target"]) == settings.server.port
        assert f":{settings.server.port}/health" in " ".join(service["healthcheck"]["test"])


def test_the_check_catches_a_compose_variable_in_the_service_namespace(tmp_path):
    bad = tmp_path / "old.env"
    bad.write_text("EDGE_SOURCE__URI=csi://0\nEDGE_CAMERA=classroom-1\nEDGE_PORT=8080\n")
    env = container_env(compose_config(bad, tmp_path)["edge"])
    with pytest.raises(ConfigError, match="port: Extra inputs are not permitted"):
        load_settings(None, environ=env)


@pytest.mark.slow
@pytest.mark.parametrize("service_name", ["edge", "edge-cpu"])
def test_the_service_serves_with_the_container_environment(service_name, tmp_path):
    env = on_this_machine(container_env(compose_config(ROOT / ".env.example", tmp_path)[service_name]), tmp_path)
    # Only what cannot exist on this machine is replaced: the GPU, the camera and the /data volume (above).
    # Host and port come from the CLI (loopback, a free port), as `serve --host --port` would override.
    env.update({"EDGE_DEVICE": "cpu", "EDGE_SOURCE__URI": str(ROOT / "models" / "demo" / "walking.mp4")})
    server = ServerProcess(tmp_path / "edge.db", env=env, inherit_edge_env=False)
    try:
        server.start(timeout=180)
        health = httpx.get(server.url + "/health", timeout=5).json()
        assert health["ready"] is True
        assert health["source"]["connected"] is True
        token = (tmp_path / "data" / "api_token").read_text().strip()  # generated at the first start
        assert health["auth"]["token"] is True
        assert httpx.delete(server.url + "/identities/nobody").status_code == 401
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.delete(server.url + "/identities/nobody", headers=auth).status_code == 404
    finally:
        server.stop()


def _dockerfile_entrypoint(dockerfile: Path) -> List[str]:
    lines = [ln for ln in dockerfile.read_text().splitlines() if ln.startswith("ENTRYPOINT")]
    assert len(lines) == 1, f"{dockerfile} needs exactly one ENTRYPOINT"
    return yaml.safe_load(lines[0][len("ENTRYPOINT") :])


def _documented_commands() -> List[str]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "aws" / "retrain.sh"]
    text = "".join(page.read_text() for page in pages)
    found = re.findall(r"docker compose (?:--profile \w+ )?(?:run|exec) [^`\n&]*", text)
    found = [c.replace("[", "").replace("]", "").strip() for c in found]  # optional arguments, as shown
    assert len(found) >= 3, found
    return found


@pytest.mark.parametrize("command", _documented_commands())
def test_documented_docker_commands_reach_the_cli(command):
    """`run` appends to the image's ENTRYPOINT, `exec` runs the command as written: both must parse."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    words = shlex.split(command.replace("'$ENTRY_URL'", "URL"))
    verb = words[2] if words[2] in ("run", "exec") else words[4]
    rest = words[words.index(verb) + 1 :]
    options_with_value = {"-e", "--env", "-u", "--user", "-w", "--workdir", "--name", "-v", "--volume"}
    entrypoint = None
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option == "--entrypoint":
            entrypoint = shlex.split(rest.pop(0))
        elif option in options_with_value:
            rest.pop(0)
    service, args = rest[0], rest[1:]
    assert service in compose, f"{command}: no service {service!r}"
    if verb == "run":
        dockerfile = ROOT / compose[service]["build"]["dockerfile"]
        argv = (entrypoint if entrypoint is not None else _dockerfile_entrypoint(dockerfile)) + args
    else:
        argv = args
    assert argv[:3] in (["python3", "-m", "edge"], ["python", "-m", "edge"]), f"{command}: runs {argv}"
    try:
        build_parser().parse_args(argv[3:])
    except SystemExit:
        pytest.fail(f"{command}: the CLI rejects {argv[3:]}")
