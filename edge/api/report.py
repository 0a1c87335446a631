"""GET /report: per person, visits, time seen, first/last seen and emotion shares (JSON or CSV)."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from edge.api.deps import blank_to_none, get_service, parse_time
from edge.api.errors import ApiError, error_responses
from edge.models.labels import FER2013_CLASSES
from edge.report import presence_report, report_csv
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
    camera = blank_to_none(camera)
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
        return PlainTextResponse(report_csv(rows, [*classes, UNCERTAIN]), media_type="text/csv")
    return JSONResponse({"people": rows, "since": since_s, "until": until_s, "camera": camera})
