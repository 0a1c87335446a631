"""Who may do what: token off loopback, protected reads, the page's cookie login, CSRF, owner-only files."""

from __future__ import annotations

import stat
import subprocess
import sys

import httpx
import pytest

from bench.server_process import ServerProcess
from edge.access_token import is_loopback, resolve_access
from edge.api.access import AccessPolicy, cross_site, presented_token
from edge.config import ConfigError, ServerConfig
from tests.conftest import FACES, ROOT

TOKEN = "s3cret-token-for-tests"


def test_serving_off_loopback_needs_a_token_or_an_explicit_choice(tmp_path):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.20")
    with pytest.raises(ConfigError, match="refusing to serve on 0.0.0.0 without an API token"):
        resolve_access(ServerConfig(host="0.0.0.0"))
    assert resolve_access(ServerConfig(host="0.0.0.0", allow_anonymous=True)) == (None, False)
    assert resolve_access(ServerConfig(host="0.0.0.0", api_token="t")) == ("t", True)  # reads protected off loopback
    assert resolve_access(ServerConfig(host="127.0.0.1", api_token="t")) == ("t", False)
    token_file = tmp_path / "data" / "api_token"
    token, _ = resolve_access(ServerConfig(host="0.0.0.0", api_token_file=str(token_file)))
    assert token and token_file.read_text().strip() == token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert resolve_access(ServerConfig(host="0.0.0.0", api_token_file=str(token_file)))[0] == token  # kept


def test_the_cli_refuses_to_listen_on_the_network_without_a_token(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "edge", "--database", str(tmp_path / "e.db"), "serve", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 2 and "without an API token" in out.stderr


def test_policy_credentials_and_cross_site_detection():
    policy = AccessPolicy(TOKEN, protect_reads=True)
    assert policy.token_matches(TOKEN) and not policy.token_matches(TOKEN[:-1]) and not policy.token_matches(None)
    assert presented_token({"authorization": f"Bearer {TOKEN}"}) == TOKEN
    assert presented_token({"cookie": f"a=b; edge_token={TOKEN}"}) == TOKEN
    assert presented_token({"cookie": "\x00garbage=;;"}) is None
    assert cross_site({"origin": "http://evil.example", "host": "jetson:8080"})
    assert cross_site({"origin": "null", "host": "jetson:8080"})
    assert not cross_site({"origin": "http://jetson:8080", "host": "jetson:8080"})
    assert not cross_site({"host": "jetson:8080"})  # curl, scripts
    assert policy.needs_token("GET", "/events") and not policy.needs_token("GET", "/health")
    assert not AccessPolicy(TOKEN, protect_reads=False).needs_token("GET", "/events")


@pytest.mark.slow
def test_a_protected_service_as_a_browser_and_a_script_see_it(tmp_path):
    srv = ServerProcess(
        tmp_path / "edge.db", env={"EDGE_SERVER__API_TOKEN": TOKEN, "EDGE_SERVER__PROTECT_READS": "true"}
    ).start()
    try:
        url = srv.url
        assert httpx.get(url + "/health").status_code == 200  # open for health checks
        assert httpx.get(url + "/").status_code == 200  # the page shell, which shows the login form
        for path in ("/events", "/tracks", "/report", "/identities", "/snapshot.jpg", "/metrics"):
            resp = httpx.get(url + path)
            assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer", path
        assert httpx.post(url + "/analyze", files={"file": ("a.jpg", b"x")}).status_code == 401
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(url + "/events", headers=bearer).status_code == 200
        assert httpx.get(url + "/events", headers={"Authorization": "Bearer wrong"}).status_code == 401

        # The page: one login, then the cookie carries the token (HttpOnly, SameSite=Strict).
        browser = httpx.Client(base_url=url, headers={"Origin": url})
        assert browser.post("/login", data={"token": "wrong"}).status_code == 401
        login = browser.post("/login", data={"token": TOKEN})
        assert login.status_code == 200
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert browser.get("/events").status_code == 200
        photo = (FACES / "aligned" / sorted(p.name for p in (FACES / "aligned").iterdir())[0] / "1.png").read_bytes()
        assert browser.post("/analyze", files={"file": ("p.png", photo)}).status_code == 200

        # CSRF: the same cookie on a request from another site's page is refused, before the body is read.
        evil = httpx.Client(base_url=url, headers={"Origin": "http://evil.example"}, cookies=browser.cookies)
        refused = evil.post("/identities/Mallory/faces", files=[("files", ("p.png", photo))])
        assert refused.status_code == 403 and refused.json()["error"] == "cross-site request refused"
        assert httpx.get(url + "/identities", headers=bearer).json()["identities"] == []
    finally:
        srv.stop()
    mode = stat.S_IMODE((tmp_path / "edge.db").stat().st_mode)
    assert mode == 0o600, oct(mode)  # events name people: owner-only


def test_the_token_command_prints_the_token_the_service_uses(tmp_path):
    token_file = tmp_path / "api_token"
    env = {"EDGE_SERVER__API_TOKEN_FILE": str(token_file), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "edge", "token"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == token_file.read_text().strip()
    assert resolve_access(ServerConfig(host="0.0.0.0", api_token_file=str(token_file)))[0] == out.stdout.strip()
