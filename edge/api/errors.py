"""JSON errors for every failure: ``{"error": ..., "detail": ...}`` with the right status, and their schema."""

from __future__ import annotations

import logging
from typing import Dict, Iterable, Iterator, List, Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

ERROR_MEANINGS = {
    400: "Malformed request: a parameter or body that does not validate.",
    401: "The API token is missing or wrong.",
    403: "Refused: a cross-site request to change something, or an overlay less private than render.overlay.",
    404: "Not found.",
    405: "Method not allowed (the Allow header lists the methods).",
    409: "Conflict: the name is already taken.",
    413: "An upload over server.max_upload_mb, or an image over server.max_image_pixels.",
    415: "The upload is not an image.",
    422: "The photo cannot be used (no face, or several without a choice).",
    429: "Too many uploads being analysed; retry after Retry-After seconds.",
    500: "Internal error (a bug: the log has the traceback).",
    503: "Not ready: no current frame, or the source is down.",
    507: "The disk is full or read-only: nothing was changed.",
}


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str
    detail: str = ""


class ApiError(Exception):
    """An error with its HTTP status, turned into the JSON error body."""

    def __init__(self, status: int, error: str, detail: str = "", headers: Optional[Dict[str, str]] = None) -> None:
        super().__init__(error)
        self.status, self.error, self.detail, self.headers = status, error, detail, headers


def error_responses(*codes: int) -> Dict[int, dict]:
    """OpenAPI ``responses`` for these error statuses, so the schema lists what the route can answer."""
    return {code: {"model": ErrorBody, "description": ERROR_MEANINGS[code]} for code in codes}


def error_json(status: int, error: str, detail: str = "", headers: Optional[Dict[str, str]] = None) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def _leaf_routes(routes: Iterable) -> Iterator:
    for route in routes:
        inner = getattr(route, "original_router", None)  # newer FastAPI keeps included routers whole
        yield from _leaf_routes(inner.routes) if inner is not None else (route,)


def allowed_methods(request: Request) -> List[str]:
    """Every method some route of the app accepts on this request's path."""
    methods = set()
    for route in _leaf_routes(request.app.router.routes):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(request.url.path) and getattr(route, "methods", None):
            methods |= set(route.methods)
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_json(exc.status, exc.error, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return error_json(400, "invalid request", detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # Starlette names only the first route of the path; list them all
            headers["Allow"] = ", ".join(allowed_methods(request))
        return error_json(exc.status_code, str(exc.detail), "", headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return error_json(500, "internal error", f"{type(exc).__name__}; the service log has the details")
