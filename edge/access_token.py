"""The API token: where it comes from, and whether the service may run without one.

On any address other than loopback the service refuses to start without a
token unless ``server.allow_anonymous`` says so explicitly. The Docker images
set ``server.api_token_file``: the first start writes a random token there
(mode 0600, in the data volume) and says where to read it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from pathlib import Path
from typing import Optional, Tuple

from edge.config import ConfigError, ServerConfig

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` keeps the service on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_or_create_token(path: Path) -> str:
    """The token stored in ``path``; a new random one, written owner-only, when the file is missing."""
    try:
        token = path.read_text().strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot read the API token file {path}: {exc}") from exc
    token = secrets.token_urlsafe(24)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token + "\n")
    except OSError as exc:
        raise ConfigError(f"cannot write a new API token to {path}: {exc}") from exc
    log.warning(
        "generated an API token in %s (in Docker: `docker compose exec edge python3 -m edge token`); clients send "
        "'Authorization: Bearer <token>' and the page asks for it once",
        path,
    )
    return token


def resolve_access(server: ServerConfig) -> Tuple[Optional[str], bool]:
    """(token or None, whether reads need it too), or ConfigError when serving off loopback unprotected."""
    token = server.api_token or None
    if token is None and server.api_token_file:
        token = load_or_create_token(Path(server.api_token_file))
    loopback = is_loopback(server.host)
    if token is None and not loopback and not server.allow_anonymous:
        raise ConfigError(
            f"refusing to serve on {server.host} without an API token: anyone on the network could enroll and "
            "delete people. Set server.api_token (EDGE_SERVER__API_TOKEN) or server.api_token_file, or "
            "server.allow_anonymous: true if the network is yours alone."
        )
    protect_reads = server.protect_reads if server.protect_reads is not None else not loopback
    return token, bool(protect_reads and token)
