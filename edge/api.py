"""The HTTP API (FastAPI). Every error is JSON: ``{"error": ..., "detail": ...}``."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import List, Optional

from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from edge import __version__
from edge.analyzer import ImageError, decode_image
from edge.broadcast import BOUNDARY
from edge.events import EVENT_TYPES, utc_iso
from edge.identity.gallery import InvalidName, UnknownIdentity
from edge.models.labels import FER2013_CLASSES
from edge.report import presence_report, report_csv
from edge.service import EdgeService
from edge.sqlite import StorageError

WEB = Path(__file__).resolve().parent / "web"


class ApiError(Exception):
    """An error with its HTTP status, turned into the JSON error body."""

    def __init__(self, status: int, error: str, detail: str = "") -> None:
        super().__init__(error)
        self.status, self.error, self.detail = status, error, detail


def _parse_time(value: Optional[str], name: str) -> Optional[str]:
    """Validate an ISO-8601 time and return it in the stored form (UTC, 'Z')."""
    if value is None:
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(
            400, f"invalid '{name}'", f"{value!r} is not an ISO-8601 time such as 2026-01-31T12:00:00Z"
        ) from None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return utc_iso(ts)


async def _read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiError(413, "upload too large", f"{upload.filename} is over {max_bytes // (1024 * 1024)} MB")
    return data


def create_app(service: EdgeService) -> FastAPI:
    """The FastAPI app serving ``service`` (started and stopped by the caller)."""
    settings = service.settings
    max_upload = int(settings.server.max_upload_mb * 1024 * 1024)
    app = FastAPI(
        title="Edge face & emotion service",
        version=__version__,
        description="Live annotated MJPEG stream, per-track face events, enrollment and single-image analysis.",
    )

    def require_token(request: Request) -> None:
        """Refuse state-changing requests without the configured bearer token."""
        token = settings.server.api_token
        if token and request.headers.get("authorization", "") != f"Bearer {token}":
            raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <server.api_token>'")

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.error, "detail": exc.detail}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": "invalid request", "detail": detail}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail), "detail": ""}, status_code=exc.status_code)

    @app.get("/", response_class=HTMLResponse, summary="Live page: stream, faces on screen, latest events")
    def index() -> HTMLResponse:
        return HTMLResponse((WEB / "index.html").read_text())

    @app.get(
        "/stream.mjpg",
        summary="Annotated live video (multipart/x-mixed-replace MJPEG)",
        response_class=StreamingResponse,
    )
    def stream() -> StreamingResponse:
        return StreamingResponse(
            service.broadcaster.stream(),
            media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
            headers={"Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"},
        )

    @app.get("/snapshot.jpg", summary="The latest annotated frame", response_class=Response)
    def snapshot() -> Response:
        _, jpeg = service.broadcaster.latest()
        if jpeg is None:
            raise ApiError(503, "no frame yet", service.capture.error or "the source has not delivered a frame yet")
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})

    @app.get("/events", summary="Per-track events after a cursor; `wait` long-polls")
    async def events(
        after: int = Query(0, ge=0, description="Return events with seq greater than this (the `next` cursor)."),
        limit: int = Query(100, ge=1, le=1000),
        camera: Optional[str] = None,
        identity: Optional[str] = Query(None, description="Only events about this enrolled name."),
        emotion: Optional[str] = Query(None, description="Only events whose smoothed emotion is this label."),
        type: Optional[str] = Query(None, description=f"Comma-separated event types: {', '.join(EVENT_TYPES)}."),
        since: Optional[str] = Query(None, description="ISO-8601 time, inclusive."),
        until: Optional[str] = Query(None, description="ISO-8601 time, exclusive."),
        wait: float = Query(0, ge=0, description="Seconds to wait for a new event when none is there yet."),
    ) -> dict:
        types = [t.strip() for t in type.split(",") if t.strip()] if type else None
        bad = [t for t in types or [] if t not in EVENT_TYPES]
        if bad:
            raise ApiError(400, "invalid 'type'", f"unknown event types {bad}; use {list(EVENT_TYPES)}")
        if wait > settings.server.long_poll_max_s:
            raise ApiError(400, "invalid 'wait'", f"at most {settings.server.long_poll_max_s} seconds")
        since_s, until_s = _parse_time(since, "since"), _parse_time(until, "until")

        def run():
            return service.events.query(after, limit, camera, identity, emotion, types, since_s, until_s)

        found = run()
        if not found and wait > 0:
            # Wake on every new event; re-check the filters until the deadline.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait
            cursor = service.events.last_seq
            while not found and loop.time() < deadline:
                if await service.events.wait_after(cursor, deadline - loop.time()):
                    cursor = service.events.last_seq
                    found = run()
        next_cursor = found[-1]["seq"] if found else max(after, 0)
        return {"events": found, "next": next_cursor, "last_seq": service.events.last_seq}

    @app.get("/report", summary="Per person: visits, time seen, first/last seen, emotion shares (JSON or CSV)")
    def report(
        since: Optional[str] = Query(None, description="ISO-8601 time, inclusive (visits that ended since then)."),
        until: Optional[str] = Query(None, description="ISO-8601 time, exclusive."),
        camera: Optional[str] = None,
        format: str = Query("json", description="json or csv"),
    ) -> Response:
        if format not in ("json", "csv"):
            raise ApiError(400, "invalid 'format'", "use json or csv")
        since_s, until_s = _parse_time(since, "since"), _parse_time(until, "until")
        left, after = [], 0
        while True:  # page through every face.left event in the window
            page = service.events.query(after, 1000, camera, None, None, ["face.left"], since_s, until_s)
            left += page
            if len(page) < 1000:
                break
            after = page[-1]["seq"]
        rows = presence_report(left)
        if format == "csv":
            classes = service.analyzer.emotion.classes if service.analyzer.emotion is not None else FER2013_CLASSES
            return PlainTextResponse(report_csv(rows, classes), media_type="text/csv")
        return JSONResponse({"people": rows, "since": since_s, "until": until_s, "camera": camera})

    @app.get("/events/stream", summary="Server-Sent Events of the same events", response_class=StreamingResponse)
    async def event_stream(request: Request, after: Optional[int] = Query(None, ge=0)) -> StreamingResponse:
        last_id = request.headers.get("last-event-id")
        if after is None:
            after = int(last_id) if last_id and last_id.isdigit() else service.events.last_seq

        async def gen():
            cursor = after
            yield "retry: 2000\n\n"
            while True:
                if await request.is_disconnected():
                    return
                await service.events.wait_after(cursor, 15.0)
                batch = service.events.query(after=cursor, limit=500)
                if not batch:
                    yield ": keep-alive\n\n"
                for ev in batch:
                    cursor = ev["seq"]
                    yield f"id: {ev['seq']}\nevent: {ev['type']}\ndata: {json.dumps(ev)}\n\n"

        return StreamingResponse(gen(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get("/tracks", summary="Faces on screen now")
    def tracks() -> dict:
        return {"camera": settings.camera, "tracks": [f.as_dict() for f in service.faces()]}

    @app.post("/analyze", summary="Faces in one uploaded image, with identity and emotion")
    async def analyze(file: UploadFile = File(..., description="A JPEG, PNG, BMP, WebP or TIFF image.")) -> dict:
        data = await _read_upload(file, max_upload)
        try:
            frame = decode_image(data)
        except ImageError as exc:
            raise ApiError(415, "not an image", f"{file.filename}: {exc}") from None
        faces = service.analyze_image(frame)
        return {"width": frame.shape[1], "height": frame.shape[0], "faces": [f.as_dict() for f in faces]}

    @app.get("/identities", summary="Enrolled people")
    def identities() -> dict:
        return {"identities": service.gallery.names(), "embedder": _embedder_name(service)}

    @app.get("/identities/{name}", summary="One enrolled person")
    def identity(name: str) -> dict:
        for row in service.gallery.names():
            if row["name"] == name:
                return row
        raise ApiError(404, "unknown identity", f"nobody named {name!r} is enrolled")

    @app.post("/identities/{name}/faces", status_code=201, summary="Enroll a person from photos (one face each)")
    async def enroll(
        request: Request, name: str, files: List[UploadFile] = File(..., description="Photos of this person.")
    ) -> dict:
        require_token(request)
        images, labels = [], []
        for f in files:
            data = await _read_upload(f, max_upload)
            try:
                images.append(decode_image(data))
            except ImageError as exc:
                raise ApiError(415, "not an image", f"{f.filename}: {exc}") from None
            labels.append(f.filename or f"photo {len(labels) + 1}")
        try:
            added = service.enroll(name, images, labels)
        except InvalidName as exc:
            raise ApiError(400, "invalid name", str(exc)) from None
        except ImageError as exc:
            raise ApiError(422, "unusable photo", str(exc)) from None
        except StorageError as exc:
            raise ApiError(507, "storage error", str(exc)) from None
        return {"name": name.strip(), "added": added, "identities": service.gallery.names()}

    @app.delete("/identities/{name}", summary="Remove a person and their faces")
    def delete_identity(request: Request, name: str) -> dict:
        require_token(request)
        try:
            removed = service.gallery.delete(name)
        except UnknownIdentity:
            raise ApiError(404, "unknown identity", f"nobody named {name!r} is enrolled") from None
        return {"name": name, "faces_removed": removed}

    @app.get("/health", summary="Liveness and readiness, with what is wrong if anything")
    def health() -> dict:
        return service.health()

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(service.metrics.render(), media_type="text/plain; version=0.0.4")

    return app


def _embedder_name(service: EdgeService) -> Optional[str]:
    return service.analyzer.embedder.name if service.analyzer.embedder is not None else None
