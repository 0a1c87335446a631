"""Face search and visitors: who a face is and when they were here; corrections; merging and forgetting visitors."""

from __future__ import annotations

from typing import List, Optional

import numpy as np
from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile

from edge.analyzer import ImageError
from edge.api.deps import MAX_SEQ, get_service, get_workers
from edge.api.errors import ApiError, error_responses
from edge.api.identities import decode_uploads, people_errors, read_upload
from edge.api.workers import ImageWorkers
from edge.face_search import visit_summary
from edge.identity.embedders import embedding_key, unit_mean
from edge.service import EdgeService
from edge.types import visitor_label

router = APIRouter()
VISITOR_ID = Path(..., ge=1, le=2**62, description="N of visitor-N")


def _matches(service: EdgeService, vectors: np.ndarray, min_similarity: Optional[float], limit: int) -> List[dict]:
    """The people and visitors most like the mean of ``vectors`` (as ``EdgeService.mark_not`` computes it)."""
    mean = unit_mean(vectors)
    floor = service.analyzer.identity_threshold if min_similarity is None else min_similarity
    hits = service.face_search.search(mean, embedding_key(service.analyzer.embedder), floor, limit)
    return [h.as_dict() for h in hits]


MIN_SIMILARITY = Query(
    None,
    ge=-1,
    le=1,
    description="Least cosine similarity of a match (default: the identity threshold; lower it to see look-alikes).",
)
LIMIT = Query(5, ge=1, le=50, description="Most people or visitors returned.")


@router.post(
    "/search",
    summary="The people or visitors a photo's face resembles, most similar first, with their visits",
    responses=error_responses(400, 413, 415, 422, 429),
)
async def search_photo(
    file: UploadFile = File(..., description="A photo with the face to look for."),
    face: str = Form(
        "auto",
        pattern=r"^(auto|largest|center|[1-9][0-9]{0,2})$",
        description="Which face in a photo with several, as for enrollment.",
    ),
    min_similarity: Optional[float] = MIN_SIMILARITY,
    limit: int = LIMIT,
    service: EdgeService = Depends(get_service),
    workers: ImageWorkers = Depends(get_workers),
) -> dict:
    server = service.settings.server
    data = await read_upload(file, int(server.max_upload_mb * 1024 * 1024))
    label = file.filename or "the photo"

    def work() -> dict:
        image = decode_uploads([data], [label], server.max_image_pixels)[0]
        try:
            vector, box, reason = service.analyzer.photo_vector(image, label, face)
        except ImageError as exc:
            raise ApiError(422, "cannot search", str(exc)) from None
        return {"box": box, "chosen": reason, "matches": _matches(service, vector[None], min_similarity, limit)}

    return await workers.run(work)


def _event_or_404(service: EdgeService, seq: int) -> dict:
    event = service.events.get(seq)
    if event is None:
        raise ApiError(404, "unknown event", f"no event with seq {seq} is stored")
    return event


@router.post(
    "/events/{seq}/search",
    summary="The people or visitors the face of an event's track resembles, with their visits",
    responses=error_responses(400, 404, 422),
)
async def search_event(
    seq: int = Path(..., ge=1, le=MAX_SEQ),
    min_similarity: Optional[float] = MIN_SIMILARITY,
    limit: int = LIMIT,
    service: EdgeService = Depends(get_service),
    workers: ImageWorkers = Depends(get_workers),
) -> dict:
    def work() -> dict:
        event = _event_or_404(service, seq)
        with people_errors("", "search"):
            vectors = service.track_vectors(int(event["track_id"]))
        return {"seq": seq, "matches": _matches(service, vectors, min_similarity, limit)}

    return await workers.run(work)


@router.post(
    "/events/{seq}/not-this-person",
    summary="The event's face is not who it was shown as: that face stops matching them",
    responses=error_responses(400, 404, 409, 422, 507),
)
async def not_this_person(
    seq: int = Path(..., ge=1, le=MAX_SEQ),
    service: EdgeService = Depends(get_service),
    workers: ImageWorkers = Depends(get_workers),
) -> dict:
    def work() -> dict:
        event = _event_or_404(service, seq)
        label = (event.get("data") or {}).get("label")
        if not label:
            raise ApiError(409, "nobody to correct", f"event {seq} shows no name or visitor label")
        with people_errors(label, "correct"):
            stored = service.mark_not(label, int(event["track_id"]))
        return {"seq": seq, "not": label, "faces_stored": stored}

    return await workers.run(work)


def _visitor_or_404(service: EdgeService, visitor_id: int) -> dict:
    kept = service.visitors.get(visitor_id) if service.visitors is not None else None
    if kept is None:
        why = "visitor memory is off (identity.visitor_memory)" if service.visitors is None else "nothing is kept"
        raise ApiError(404, "unknown visitor", f"{visitor_label(visitor_id)}: {why}")
    return kept


@router.get(
    "/visitors/{visitor_id}",
    summary="What is kept of a visitor, and their visits",
    responses=error_responses(400, 404),
)
def visitor(visitor_id: int = VISITOR_ID, service: EdgeService = Depends(get_service)) -> dict:
    kept = _visitor_or_404(service, visitor_id)
    return {**kept, "visits_stored": [visit_summary(e) for e in service.events.visits(visitor_label(visitor_id))]}


@router.delete(
    "/visitors/{visitor_id}",
    summary="Forget a visitor: their kept embedding and corrections (their events stay)",
    responses=error_responses(400, 404, 507),
)
def forget_visitor(visitor_id: int = VISITOR_ID, service: EdgeService = Depends(get_service)) -> dict:
    _visitor_or_404(service, visitor_id)
    with people_errors("", "forget"):
        service.visitors.forget(visitor_id)  # type: ignore[union-attr]
    return {"visitor": visitor_label(visitor_id), "forgotten": True}


@router.post(
    "/visitors/{visitor_id}/merge",
    summary="Another visitor is the same person: one visitor from now on (this one)",
    responses=error_responses(400, 404, 507),
)
def merge_visitors(
    visitor_id: int = VISITOR_ID,
    other: int = Form(..., ge=1, le=2**62, description="N of the other visitor-N, merged into this one."),
    service: EdgeService = Depends(get_service),
) -> dict:
    if other == visitor_id:
        raise ApiError(400, "same visitor", "give another visitor to merge")
    _visitor_or_404(service, visitor_id)
    _visitor_or_404(service, other)
    with people_errors("", "merge"):
        service.visitors.merge(visitor_id, other)  # type: ignore[union-attr]
    kept = service.visitors.get(visitor_id)  # type: ignore[union-attr]
    return {**kept, "merged": visitor_label(other)}
