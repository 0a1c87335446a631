"""Per-track events (cursor paging, long-poll, Server-Sent Events) and the faces on screen now."""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Optional

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from edge.api.deps import MAX_SEQ, blank_to_none, get_service, parse_time
from edge.api.errors import ApiError, error_responses
from edge.events import EVENT_TYPES
from edge.service import EdgeService, UnknownCamera

router = APIRouter()


@router.get("/events", summary="Per-track events after a cursor; `wait` long-polls", responses=error_responses(400))
async def events(
    after: int = Query(0, ge=0, le=MAX_SEQ, description="Return events with seq above this (the `next` cursor)."),
    limit: int = Query(100, ge=1, le=1000),
    camera: Optional[str] = None,
    identity: Optional[str] = Query(None, description="Only events about this enrolled name."),
    emotion: Optional[str] = Query(None, description="Only events whose smoothed emotion is this label."),
    type: Optional[str] = Query(None, description=f"Comma-separated event types: {', '.join(EVENT_TYPES)}."),
    since: Optional[str] = Query(None, description="ISO-8601 time, inclusive."),
    until: Optional[str] = Query(None, description="ISO-8601 time, exclusive."),
    wait: float = Query(0, ge=0, description="Seconds to wait for a new event when none is there yet."),
    service: EdgeService = Depends(get_service),
) -> dict:
    camera, identity, emotion = blank_to_none(camera), blank_to_none(identity), blank_to_none(emotion)
    types = [t.strip() for t in type.split(",") if t.strip()] or None if type else None
    bad = [t for t in types or [] if t not in EVENT_TYPES]
    if bad:
        raise ApiError(400, "invalid 'type'", f"unknown event types {bad}; use {list(EVENT_TYPES)}")
    # The sign bit, not `wait < 0`: the networks' flush-to-zero mode (torch.set_flush_denormal, inherited by the
    # server's threads) makes a tiny negative number such as -1e-323 compare as 0, so `ge=0` lets it through
    if math.copysign(1.0, wait) < 0:
        raise ApiError(400, "invalid 'wait'", "seconds to wait cannot be negative")
    if wait > service.settings.server.long_poll_max_s:
        raise ApiError(400, "invalid 'wait'", f"at most {service.settings.server.long_poll_max_s} seconds")
    since_s, until_s = parse_time(since, "since"), parse_time(until, "until")

    def run():
        # In a worker thread: the event loop never waits on SQLite (a retention DELETE can hold its lock)
        return run_in_threadpool(service.events.query, after, limit, camera, identity, emotion, types, since_s, until_s)

    found = await run()
    if not found and wait > 0:
        # Wake on every new event; re-check the filters until the deadline.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        cursor = service.events.last_seq
        while not found and loop.time() < deadline:
            if await service.events.wait_after(cursor, deadline - loop.time()):
                cursor = service.events.last_seq
                found = await run()
    next_cursor = found[-1]["seq"] if found else after
    return {"events": found, "next": next_cursor, "last_seq": service.events.last_seq}


def _cursor_from_header(value: Optional[str]) -> Optional[int]:
    if value is None:
        return None
    if not re.fullmatch(r"[0-9]{1,19}", value) or int(value) > MAX_SEQ:  # ASCII digits only: '²'.isdigit() is True
        raise ApiError(400, "invalid 'Last-Event-ID'", f"{value!r} is not an event seq")
    return int(value)


@router.get(
    "/events/stream",
    summary="Server-Sent Events of the same events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **error_responses(400)},
)
async def event_stream(
    request: Request,
    after: Optional[int] = Query(None, ge=0, le=MAX_SEQ),
    service: EdgeService = Depends(get_service),
) -> StreamingResponse:
    if after is None:
        after = _cursor_from_header(request.headers.get("last-event-id"))
    if after is None:
        after = service.events.last_seq

    async def gen():
        cursor = after
        yield "retry: 2000\n\n"
        while True:
            if await request.is_disconnected():
                return
            await service.events.wait_after(cursor, 15.0)
            batch = await run_in_threadpool(service.events.query, after=cursor, limit=500)
            if not batch:
                yield ": keep-alive\n\n"
            for ev in batch:
                cursor = ev["seq"]
                yield f"id: {ev['seq']}\nevent: {ev['type']}\ndata: {json.dumps(ev)}\n\n"

    return StreamingResponse(gen(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.get(
    "/events/{seq}/thumbnail.jpg",
    summary="The best face of the event's track (kept while retention and storage.max_thumbnail_mb allow)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(400, 404)},
)
def thumbnail(seq: int = Path(..., ge=1, le=MAX_SEQ), service: EdgeService = Depends(get_service)) -> Response:
    jpeg = service.thumbnail(seq)
    if jpeg is None:
        raise ApiError(404, "no thumbnail", f"no face is kept for event {seq} (unknown event, or past retention)")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"})


@router.get(
    "/tracks", summary="Faces on screen now (of every camera, or of ?camera=)", responses=error_responses(400, 404)
)
def tracks(
    camera: Optional[str] = Query(None, max_length=64, description="Only this camera's faces."),
    service: EdgeService = Depends(get_service),
) -> dict:
    try:
        cameras = list(service.cameras.values()) if camera is None else [service.camera_named(camera)]
    except UnknownCamera as exc:
        raise ApiError(404, "unknown camera", str(exc)) from exc
    # "camera": the first camera's name (what one-camera clients read); each track says its own
    tracks = [{**face.as_dict(), "camera": c.name} for c in cameras for face in c.faces()]
    return {"camera": service.camera.name, "tracks": tracks}
