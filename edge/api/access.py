"""Who may do what, checked before a request body is read.

:class:`AccessGuard` is plain ASGI middleware, so that an unauthenticated or
cross-site upload is refused from its headers alone, and an upload over the
limit is cut off while it arrives instead of being spooled to disk first.

- Token: ``Authorization: Bearer <token>`` or the ``edge_token`` cookie set by
  ``POST /login`` (the page's login form); compared in constant time.
- Writes always need the token (when one is set); reads need it when
  ``protect_reads`` is on. ``/health``, the page shell and the login are open.
- Cross-site writes are refused (CSRF): a browser sends ``Origin`` with every
  POST/DELETE, and a cookie-carrying form post from another site has a
  foreign one. Clients without ``Origin`` (curl, scripts) are not browsers.
"""

from __future__ import annotations

import contextlib
import hmac
import json
from http.cookies import SimpleCookie
from typing import Callable, Dict, Optional
from urllib.parse import urlsplit

COOKIE = "edge_token"
READ_METHODS = ("GET", "HEAD", "OPTIONS")
# Open without a token even when reads are protected: health checks, the page shells and their static
# files (they show the login form; the data they fetch is guarded), the login itself and the API description.
OPEN_PATHS = ("/health", "/", "/login", "/logout", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/favicon.ico")


class AccessPolicy:
    """The token and what it guards."""

    def __init__(self, token: Optional[str], protect_reads: bool) -> None:
        self.token = token
        self.protect_reads = protect_reads and token is not None

    def token_matches(self, candidate: Optional[str]) -> bool:
        return (
            self.token is not None
            and candidate is not None
            and hmac.compare_digest(candidate.encode(), self.token.encode())
        )

    def needs_token(self, method: str, path: str) -> bool:
        if self.token is None or path in OPEN_PATHS or path.startswith(("/static/", "/ui/")):
            return False
        return method not in READ_METHODS or self.protect_reads


def _headers(scope) -> Dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def presented_token(headers: Dict[str, str]) -> Optional[str]:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    if "cookie" in headers:
        cookie = SimpleCookie()
        try:
            cookie.load(headers["cookie"])
        except Exception:  # a malformed Cookie header is no credential
            return None
        if COOKIE in cookie:
            return cookie[COOKIE].value
    return None


def cross_site(headers: Dict[str, str]) -> bool:
    """A browser request from another origin than this server's."""
    origin = headers.get("origin")
    if origin is not None:
        return origin == "null" or urlsplit(origin).netloc.lower() != headers.get("host", "").lower()
    return headers.get("sec-fetch-site") == "cross-site"


async def _send_json(send, status: int, error: str, detail: str, extra: Optional[Dict[str, str]] = None) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    """Raised into the app when an upload passes its limit while it arrives."""


class AccessGuard:
    """ASGI middleware: CSRF, token and request-size checks before the app sees the request."""

    def __init__(self, app, policy: AccessPolicy, body_limit: Callable[[str], int]) -> None:
        self.app = app
        self.policy = policy
        self.body_limit = body_limit  # path -> most bytes its request body may have

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        method, path = scope["method"], scope["path"]
        if method not in READ_METHODS and cross_site(headers):
            await _send_json(send, 403, "cross-site request refused", "changes must come from this server's own page")
            return
        if self.policy.needs_token(method, path) and not self.policy.token_matches(presented_token(headers)):
            await _send_json(
                send,
                401,
                "unauthorized",
                "send 'Authorization: Bearer <token>' or log in on the page (the token is server.api_token)",
                {"www-authenticate": "Bearer"},
            )
            return
        if method in READ_METHODS:
            await self.app(scope, receive, send)
            return
        limit = self.body_limit(path)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _send_json(send, 413, "upload too large", f"the request is over {limit // (1024 * 1024)} MB")
            return
        await self._limited(scope, receive, send, limit)

    async def _limited(self, scope, receive, send, limit: int) -> None:
        received = 0
        too_large = False
        started = False

        async def counting_receive():
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message):
            nonlocal started
            if too_large:
                return  # the app's own answer to the cut-off body is replaced by the 413 below
            started = True
            await send(message)

        with contextlib.suppress(BodyTooLarge):
            await self.app(scope, counting_receive, guarded_send)
        if too_large and not started:
            await _send_json(send, 413, "upload too large", f"the request is over {limit // (1024 * 1024)} MB")
