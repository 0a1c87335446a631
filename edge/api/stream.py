"""The pages (one HTML file and one JS module per view, under edge/web), the live MJPEG stream, the latest
frame and the pages' login."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi import Path as Path_
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from edge.api.access import COOKIE
from edge.api.deps import get_service
from edge.api.errors import ApiError, error_responses
from edge.broadcast import BOUNDARY
from edge.camera import CameraPipeline
from edge.config import CAMERA_NAME as CAMERA_NAME_PATTERN
from edge.config import OVERLAYS
from edge.service import EdgeService, UnknownCamera

WEB = Path(__file__).resolve().parent.parent / "web"

router = APIRouter()
OVERLAY_QUERY = Query(
    None,
    pattern=f"^({'|'.join(OVERLAYS)})$",
    description="What to draw (default: render.overlay). Never less private than render.overlay (403).",
)


CAMERA_NAME = Path_(..., pattern=CAMERA_NAME_PATTERN, description="The camera's name (GET /cameras lists them).")


def _camera(service: EdgeService, name: Optional[str]) -> CameraPipeline:
    try:
        return service.camera_named(name)
    except UnknownCamera as exc:
        raise ApiError(404, "unknown camera", str(exc)) from exc


def _overlay(camera: CameraPipeline, requested: Optional[str]) -> str:
    try:
        return camera.overlay_for(requested)
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


def _stream(camera: CameraPipeline, overlay: Optional[str]) -> StreamingResponse:
    mode = _overlay(camera, overlay)
    return StreamingResponse(
        camera.broadcasters[mode].stream(),
        media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers={"Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"},
    )


def _snapshot(camera: CameraPipeline, overlay: Optional[str]) -> Response:
    jpeg = camera.current_jpeg(_overlay(camera, overlay))
    if jpeg is None:
        raise ApiError(503, "no current frame", camera.source_problem() or "the source has not delivered a frame yet")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})


STREAM = {
    "summary": "Annotated live video (multipart/x-mixed-replace MJPEG)",
    "response_class": StreamingResponse,
    "responses": error_responses(400, 403),
}
SNAPSHOT = {
    "summary": "The latest annotated frame",
    "response_class": Response,
    "responses": {200: {"content": {"image/jpeg": {}}}, **error_responses(400, 403, 503)},
}


@router.get("/stream.mjpg", **STREAM)
def stream(overlay: Optional[str] = OVERLAY_QUERY, service: EdgeService = Depends(get_service)) -> StreamingResponse:
    """The first camera's stream."""
    return _stream(service.camera, overlay)


@router.get("/snapshot.jpg", **SNAPSHOT)
def snapshot(overlay: Optional[str] = OVERLAY_QUERY, service: EdgeService = Depends(get_service)) -> Response:
    """The first camera's latest frame."""
    return _snapshot(service.camera, overlay)


@router.get("/cameras/{name}/stream.mjpg", **{**STREAM, "responses": error_responses(400, 403, 404)})
def camera_stream(
    name: str = CAMERA_NAME, overlay: Optional[str] = OVERLAY_QUERY, service: EdgeService = Depends(get_service)
) -> StreamingResponse:
    return _stream(_camera(service, name), overlay)


@router.get(
    "/cameras/{name}/snapshot.jpg",
    **{**SNAPSHOT, "responses": {200: {"content": {"image/jpeg": {}}}, **error_responses(400, 403, 404, 503)}},
)
def camera_snapshot(
    name: str = CAMERA_NAME, overlay: Optional[str] = OVERLAY_QUERY, service: EdgeService = Depends(get_service)
) -> Response:
    return _snapshot(_camera(service, name), overlay)


@router.get("/cameras", summary="The cameras: name, overlay, whether each serves video, its source's state")
def cameras(service: EdgeService = Depends(get_service)) -> dict:
    return {"cameras": service.camera_states()}


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
