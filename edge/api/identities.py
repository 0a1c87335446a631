"""People: enrollment (photos, or a visitor's track), list with their faces, rename, remove; single-image analysis."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence

import numpy as np
from fastapi import APIRouter, Body, Depends, File, Form, Path, Query, UploadFile
from fastapi.responses import Response

from edge.analyzer import ImageError, ImageTooLarge, decode_image
from edge.api.deps import MAX_SEQ, get_service, get_workers
from edge.api.errors import ApiError, error_responses
from edge.api.workers import ImageWorkers
from edge.identity.gallery import InvalidName, NameTaken, UnknownIdentity
from edge.render import face_jpeg
from edge.service import EdgeService, UnknownTrack
from edge.sqlite import StorageError

router = APIRouter()
UPLOAD_ERRORS = error_responses(400, 413, 415, 429)


async def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiError(413, "upload too large", f"{upload.filename} is over {max_bytes / (1024 * 1024):g} MB")
    return data


def decode_uploads(blobs: Sequence[bytes], labels: Sequence[str], max_pixels: int) -> List[np.ndarray]:
    """Decode every upload (in a worker thread), refusing image bombs from their header."""
    images = []
    for data, label in zip(blobs, labels):
        try:
            images.append(decode_image(data, max_pixels))
        except ImageTooLarge as exc:
            raise ApiError(413, "image too large", f"{label}: {exc}") from None
        except ImageError as exc:
            raise ApiError(415, "not an image", f"{label}: {exc}") from None
    return images


@router.post("/analyze", summary="Faces in one uploaded image, with identity and emotion", responses=UPLOAD_ERRORS)
async def analyze(
    file: UploadFile = File(..., description="A JPEG, PNG, BMP, WebP or TIFF image."),
    service: EdgeService = Depends(get_service),
    workers: ImageWorkers = Depends(get_workers),
) -> dict:
    server = service.settings.server
    data = await read_upload(file, int(server.max_upload_mb * 1024 * 1024))

    def work():
        frame = decode_uploads([data], [file.filename or "the upload"], server.max_image_pixels)[0]
        return frame.shape, service.analyze_image(frame)

    shape, faces = await workers.run(work)
    return {"width": shape[1], "height": shape[0], "faces": [f.as_dict() for f in faces]}


@router.get("/identities", summary="Enrolled people")
def identities(service: EdgeService = Depends(get_service)) -> dict:
    embedder = service.analyzer.embedder
    return {"identities": service.gallery.names(), "embedder": embedder.name if embedder is not None else None}


def _unknown(name: str) -> ApiError:
    return ApiError(404, "unknown identity", f"nobody named {name!r} is enrolled")


@contextmanager
def people_errors(name: str, action: str = "enroll") -> Iterator[None]:
    """What enrolling, renaming or removing ``name`` (or searching, correcting: ``action``) can raise, as the
    API's JSON errors."""
    try:
        yield
    except UnknownIdentity:
        raise _unknown(name) from None
    except UnknownTrack as exc:
        raise ApiError(404, "no faces kept", str(exc)) from None
    except InvalidName as exc:
        raise ApiError(400, "invalid name", str(exc)) from None
    except NameTaken as exc:
        raise ApiError(409, "name taken", str(exc)) from None
    except ImageError as exc:
        raise ApiError(422, f"cannot {action}", str(exc)) from None
    except StorageError as exc:
        raise ApiError(507, "storage error", str(exc)) from None


@router.get(
    "/identities/{name}", summary="One enrolled person, with the ids of their faces", responses=error_responses(404)
)
def identity(name: str, service: EdgeService = Depends(get_service)) -> dict:
    for row in service.gallery.names():
        if row["name"] == name:
            return {**row, "face_ids": service.gallery.face_ids(name)}
    raise _unknown(name)


@router.get(
    "/identities/{name}/faces/{face_id}.jpg",
    summary="An enrolled face (the crop it was enrolled from)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(400, 404)},
)
def identity_face(
    name: str, face_id: int = Path(..., ge=1, le=MAX_SEQ), service: EdgeService = Depends(get_service)
) -> Response:
    crop = service.gallery.face_crop(name, face_id)
    if crop is None:
        raise ApiError(404, "unknown face", f"{name!r} has no enrolled face {face_id}")
    return Response(face_jpeg(crop), media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.patch(
    "/identities/{name}",
    summary="Rename a person (their faces follow; stored events keep the name they had)",
    responses=error_responses(400, 404, 409, 507),
)
def rename_identity(
    name: str,
    new_name: str = Body(..., embed=True, alias="name", min_length=1, max_length=64),
    service: EdgeService = Depends(get_service),
) -> dict:
    with people_errors(name):
        service.gallery.rename(name, new_name)
    return {"name": new_name.strip(), "previous": name, "identities": service.gallery.names()}


@router.post(
    "/identities/{name}/faces",
    status_code=201,
    summary="Enroll a person from photos (one face each)",
    responses=error_responses(400, 413, 415, 422, 429, 507),
)
async def enroll(
    name: str,
    files: List[UploadFile] = File(..., description="Photos of this person."),
    face: str = Form(
        "auto",
        pattern=r"^(auto|largest|center|[1-9][0-9]{0,2})$",
        description="Which face in photos with several: auto (the only or clearly dominant one), largest, "
        "center, or its number in /analyze's list (1-based).",
    ),
    service: EdgeService = Depends(get_service),
    workers: ImageWorkers = Depends(get_workers),
) -> dict:
    server = service.settings.server
    if len(files) > server.max_files_per_request:
        raise ApiError(400, "too many photos", f"at most {server.max_files_per_request} per request")
    max_bytes = int(server.max_upload_mb * 1024 * 1024)
    blobs = [await read_upload(f, max_bytes) for f in files]
    labels = [f.filename or f"photo {i + 1}" for i, f in enumerate(files)]

    def work() -> list:
        images = decode_uploads(blobs, labels, server.max_image_pixels)
        with people_errors(name):
            return service.enroll(name, images, labels, face)

    enrolled = await workers.run(work)
    return {"name": name.strip(), "added": len(enrolled), "faces": enrolled, "identities": service.gallery.names()}


@router.delete(
    "/identities/{name}",
    summary="Remove a person, their faces and the kept face crops of their tracks",
    responses=error_responses(400, 404, 507),
)
def delete_identity(
    name: str,
    redact_events: bool = Query(False, description="Also remove the name from every stored event about them."),
    service: EdgeService = Depends(get_service),
) -> dict:
    with people_errors(name):
        removed = service.forget_person(name, redact_events)
    return {"name": name, **removed}


def _enroll_track(service: EdgeService, name: str, track_id: int, label: Optional[str]) -> dict:
    with people_errors(name):
        enrolled = service.enroll_track(name, track_id, label)
    return {"name": name.strip(), "track_id": track_id, "added": len(enrolled), "faces": enrolled}


NAME_FIELD = Form(..., min_length=1, max_length=64, description="The person's name (1-64 letters, digits, ' ._-').")


@router.post(
    "/tracks/{track_id}/enroll",
    status_code=201,
    summary="Name a visitor on screen: enroll the track's best faces (by quality) under a name",
    responses=error_responses(400, 404, 422, 507),
)
def enroll_track(
    track_id: int = Path(..., ge=1, le=2**62), name: str = NAME_FIELD, service: EdgeService = Depends(get_service)
) -> dict:
    label = next((f.label for f in service.faces() if f.track_id == track_id), None)
    return _enroll_track(service, name, track_id, label)


@router.post(
    "/events/{seq}/enroll",
    status_code=201,
    summary="Name the visitor of an event: enroll that track's best faces, kept while retention allows",
    responses=error_responses(400, 404, 422, 507),
)
def enroll_event(
    seq: int = Path(..., ge=1, le=MAX_SEQ), name: str = NAME_FIELD, service: EdgeService = Depends(get_service)
) -> dict:
    event = service.events.get(seq)
    if event is None:
        raise ApiError(404, "unknown event", f"no event with seq {seq} is stored")
    return _enroll_track(service, name, int(event["track_id"]), (event.get("data") or {}).get("label"))
