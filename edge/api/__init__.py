"""The HTTP API (FastAPI): one router per area, the service injected through ``app.state``.

Every error is JSON, ``{"error": ..., "detail": ...}`` (:mod:`edge.api.errors`);
access (token, CSRF, upload size) is checked before a body is read
(:mod:`edge.api.access`); uploads are decoded and analysed off the event loop
(:mod:`edge.api.workers`). The app starts the service's threads when it starts
and stops them, ending every track with ``face.left``, when it shuts down
(SIGTERM included).
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from edge import __version__
from edge.api import events, health, identities, report, search, stream
from edge.api.access import AccessGuard, AccessPolicy
from edge.api.errors import error_responses, install_error_handlers
from edge.api.workers import ImageWorkers
from edge.service import EdgeService

MB = 1024 * 1024


def create_app(service: EdgeService) -> FastAPI:
    """The FastAPI app serving ``service``; its lifespan starts and stops the service."""
    server = service.settings.server
    workers = ImageWorkers(server.image_workers, server.image_queue)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        service.start()
        try:
            yield
        finally:  # runs on SIGTERM/SIGINT before uvicorn exits: tracks end, events are flushed
            workers.shutdown()
            service.stop()

    app = FastAPI(
        title="Edge face & emotion service",
        version=__version__,
        description="Live annotated MJPEG stream, per-track face events, enrollment and single-image analysis.",
        lifespan=lifespan,
        responses=error_responses(401, 403, 500),
    )
    policy = AccessPolicy(service.api_token, service.protect_reads)
    app.state.service, app.state.workers, app.state.policy = service, workers, policy
    install_error_handlers(app)
    for area in (stream, events, report, identities, search, health):
        app.include_router(area.router)
    # The pages' CSS, JS modules, vendored Chart.js and emoji: plain files, no build step.
    app.mount("/static", StaticFiles(directory=str(stream.WEB)), name="static")

    per_file = int(server.max_upload_mb * MB)

    def body_limit(path: str) -> int:
        files = server.max_files_per_request if path.endswith("/faces") else 1
        return per_file * files + MB  # the multipart framing and form fields on top

    app.add_middleware(AccessGuard, policy=policy, body_limit=body_limit)
    return app
