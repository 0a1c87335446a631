"""The pages (one HTML file and one JS module per view, under edge/web), the live MJPEG stream, the latest
frame and the pages' login."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from edge.api.access import COOKIE
from edge.api.deps import get_service
from edge.api.errors import ApiError, error_responses
from edge.broadcast import BOUNDARY
from edge.config import OVERLAYS
from edge.service import EdgeService

WEB = Path(__file__).resolve().parent.parent / "web"

router = APIRouter()
OVERLAY_QUERY = Query(
    None,
    pattern=f"^({'|'.join(OVERLAYS)})$",
    description="What to draw (default: render.overlay). Never less private than render.overlay (403).",
)


def _overlay(service: EdgeService, requested: Optional[str]) -> str:
    try:
        return service.overlay_for(requested)
    except PermissionError as exc:
        raise ApiError(403, "overlay not allowed", str(exc)) from exc


PAGES = ("events", "people", "report", "health")


@router.get("/", response_class=HTMLResponse, summary="Live page: stream, faces on screen, latest events")
def index() -> HTMLResponse:
    return HTMLResponse((WEB / "index.html").read_text())


@router.get(
    "/ui/{page}",
    response_class=Response,
    summary=f"The other pages: {', '.join(PAGES)}",
    responses={200: {"content": {"text/html": {}}}, **error_responses(404)},
)
def page(page: str) -> Response:
    if page not in PAGES:
        raise ApiError(404, "unknown page", f"the pages are {', '.join(PAGES)}")
    return HTMLResponse((WEB / f"{page}.html").read_text())


@router.get(
    "/stream.mjpg",
    summary="Annotated live video (multipart/x-mixed-replace MJPEG)",
    response_class=StreamingResponse,
    responses=error_responses(400, 403),
)
def stream(overlay: Optional[str] = OVERLAY_QUERY, service: EdgeService = Depends(get_service)) -> StreamingResponse:
    mode = _overlay(service, overlay)
    return StreamingResponse(
        service.broadcasters[mode].stream(),
        media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers={"Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/snapshot.jpg",
    summary="The latest annotated frame",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(400, 403, 503)},
)
def snapshot(overlay: Optional[str] = OVERLAY_QUERY, service: EdgeService = Depends(get_service)) -> Response:
    jpeg = service.current_jpeg(_overlay(service, overlay))
    if jpeg is None:
        raise ApiError(503, "no current frame", service.source_problem() or "the source has not delivered a frame yet")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})


@router.post("/login", summary="Log the page in: sets the token cookie", responses=error_responses(400, 401))
def login(request: Request, token: str = Form(..., min_length=1, max_length=512)) -> JSONResponse:
    policy = request.app.state.policy
    if policy.token is None:
        return JSONResponse({"ok": True, "detail": "no token is configured"})
    if not policy.token_matches(token):
        raise ApiError(401, "unauthorized", "that is not the server's API token")
    response = JSONResponse({"ok": True})
    secure = request.url.scheme == "https"
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure, max_age=30 * 86400)
    return response


@router.post("/logout", summary="Forget the token cookie")
def logout() -> JSONResponse:
    response = JSONResponse({"ok": True})
    response.delete_cookie(COOKIE)
    return response
