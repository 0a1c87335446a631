"""What route handlers receive through FastAPI's dependency injection."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from fastapi import Request

from edge.api.errors import ApiError
from edge.api.workers import ImageWorkers
from edge.service import EdgeService
from edge.sqlite import utc_iso

# SQLite integers are signed 64-bit: larger cursors cannot name an event.
MAX_SEQ = 2**63 - 1


def get_service(request: Request) -> EdgeService:
    return request.app.state.service


def get_workers(request: Request) -> ImageWorkers:
    return request.app.state.workers


def blank_to_none(value: Optional[str]) -> Optional[str]:
    """A filter left empty (``?camera=``, as an HTML form sends it) means no filter."""
    return value if value else None


def parse_time(value: Optional[str], name: str) -> Optional[str]:
    """Validate an ISO-8601 time and return it in the stored form (UTC, 'Z')."""
    if not value:  # absent, or left empty in a form: no bound
        return None
    hint = f"{value!r} is not an ISO-8601 time between years 1 and 9999, such as 2026-01-31T12:00:00Z"
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=timezone.utc)
        return utc_iso(ts)
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ApiError(400, f"invalid '{name}'", hint) from None
