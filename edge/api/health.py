"""GET /health (503 when not ready or the source is down, for Docker's healthcheck) and /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, PlainTextResponse

from edge.api.deps import get_service
from edge.service import EdgeService

router = APIRouter()


@router.get(
    "/health",
    summary="Liveness and readiness, with what is wrong if anything (HTTP 503 when not serving live video)",
    responses={503: {"description": "Not ready, or the source is down: the body says why."}},
)
def health(service: EdgeService = Depends(get_service)) -> JSONResponse:
    body = service.health()
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
def metrics(service: EdgeService = Depends(get_service)) -> PlainTextResponse:
    service.refresh_gauges()
    return PlainTextResponse(service.metrics.render(), media_type="text/plain; version=0.0.4")
