"""GET /report: per person, visits, time seen, first/last seen and emotion shares (JSON or CSV)."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from edge.api.deps import blank_to_none, get_service, parse_time
from edge.api.errors import ApiError, error_responses
from edge.models.labels import FER2013_CLASSES
from edge.report import presence_report, presence_timeline, report_csv
from edge.service import EdgeService
from edge.smoothing import UNCERTAIN

router = APIRouter()


@router.get(
    "/report",
    summary="Per person: visits, time seen, first/last seen, emotion shares (JSON or CSV)",
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}, **error_responses(400)},
)
def report(
    since: Optional[str] = Query(None, description="ISO-8601 time, inclusive (visits that ended since then)."),
    until: Optional[str] = Query(None, description="ISO-8601 time, exclusive."),
    camera: Optional[str] = None,
    format: str = Query("json", description="json or csv"),
    service: EdgeService = Depends(get_service),
) -> Response:
    if format not in ("json", "csv"):
        raise ApiError(400, "invalid 'format'", "use json or csv")
    since_s, until_s = parse_time(since, "since"), parse_time(until, "until")
    rows = presence_report(_left_events(service, since_s, until_s, blank_to_none(camera)))
    if format == "csv":
        classes = service.analyzer.emotion.classes if service.analyzer.emotion is not None else FER2013_CLASSES
        return PlainTextResponse(report_csv(rows, [*classes, UNCERTAIN]), media_type="text/csv")
    return JSONResponse({"people": rows, "since": since_s, "until": until_s, "camera": blank_to_none(camera)})


@router.get(
    "/report/timeline",
    summary="Presence and emotion per time bucket, per person and for strangers (the report page's charts)",
    responses=error_responses(400),
)
def timeline(
    since: Optional[str] = Query(None, description="ISO-8601 time, inclusive (visits that ended since then)."),
    until: Optional[str] = Query(None, description="ISO-8601 time, exclusive."),
    camera: Optional[str] = None,
    bucket_s: float = Query(3600.0, ge=60, le=7 * 86400, description="Bucket length in seconds (hour: 3600)."),
    service: EdgeService = Depends(get_service),
) -> dict:
    since_s, until_s = parse_time(since, "since"), parse_time(until, "until")
    left = _left_events(service, since_s, until_s, blank_to_none(camera))
    return {**presence_timeline(left, bucket_s), "since": since_s, "until": until_s}


def _left_events(service: EdgeService, since: Optional[str], until: Optional[str], camera: Optional[str]) -> list:
    """Every face.left event in the window (each summarises one visit), paged through."""
    left: list = []
    after = 0
    while True:
        page = service.events.query(after, 1000, camera, None, None, ["face.left"], since, until)
        left += page
        if len(page) < 1000:
            return left
        after = page[-1]["seq"]
