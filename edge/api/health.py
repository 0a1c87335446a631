"""GET /health (503 when not ready or the source is down, for Docker's healthcheck; 200 while models load) and
/metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, PlainTextResponse

from edge.api.deps import get_service
from edge.service import EdgeService

router = APIRouter()


@router.get(
    "/health",
    summary="Liveness and readiness, with what is wrong if anything (HTTP 503 when not serving live video, 200 "
    "with status 'starting' while the models load)",
    responses={503: {"description": "Not ready, or the source is down: the body says why."}},
)
def health(service: EdgeService = Depends(get_service)) -> JSONResponse:
    body = service.health()
    # While networks load (TensorRT engines on a first start) the service is alive and says how far it has
    # got: 200, so that Docker's healthcheck does not mark a building container unhealthy.
    serving = body["ready"] or body["status"] == "starting"
    return JSONResponse(body, status_code=200 if serving else 503)


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
def metrics(service: EdgeService = Depends(get_service)) -> PlainTextResponse:
    service.refresh_gauges()
    return PlainTextResponse(service.metrics.render(), media_type="text/plain; version=0.0.4")
