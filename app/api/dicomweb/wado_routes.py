"""WADO-RS routes: instances, metadata, frames and bulk data of stored studies.

Included in :data:`app.api.dicomweb.routes.router` (prefix ``/dicomweb``). The work is in
:mod:`app.api.dicomweb.wado` and :mod:`app.api.dicomweb.frames`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from app.api.deps import BlobsDep, ReadSessionDep
from app.api.dicomweb.frames import bulk_chunks, frame_bytes, parse_frame_list
from app.api.dicomweb.http import DICOM_DOC, DICOM_JSON, META_DOC, OCTETS_DOC, ReadDicom
from app.api.dicomweb.http import dicomweb_base as _base
from app.api.dicomweb.media import (
    EXPLICIT_VR_LITTLE_ENDIAN,
    multipart_body,
    negotiate_dicom,
    negotiate_octets,
    new_boundary,
)
from app.api.dicomweb.wado import (
    StoredInstance,
    instance_bytes,
    metadata_stream,
    resolve_instances,
)
from app.errors import InvalidRequestError, NotAcceptableError

__all__ = ["router"]

router = APIRouter()
_TAG_RE = re.compile(r"^[0-9A-Fa-f]{8}$")


def _instances_response(request: Request, items: list[StoredInstance]) -> Response:
    acceptance = negotiate_dicom(request.headers.get("accept"))
    boundary = new_boundary()

    def parts() -> Iterator[tuple[str, Iterator[bytes]]]:
        for item in items:
            ts, chunks = instance_bytes(item, acceptance)
            yield f"application/dicom; transfer-syntax={ts}", chunks

    return StreamingResponse(
        multipart_body(parts(), boundary),
        media_type=f'multipart/related; type="application/dicom"; boundary={boundary}',
    )


def _metadata_response(request: Request, items: list[StoredInstance]) -> Response:
    return StreamingResponse(metadata_stream(items, _base(request)), media_type=DICOM_JSON)


def _octets_response(request: Request, chunks: Iterator[bytes], count: int) -> Response:
    acceptance = negotiate_octets(request.headers.get("accept"))
    if not acceptance.multipart:
        if count != 1:
            raise NotAcceptableError(
                f"{count} frames cannot go in one application/octet-stream body; accept "
                "'multipart/related; type=\"application/octet-stream\"'"
            )
        return Response(b"".join(chunks), media_type="application/octet-stream")
    boundary = new_boundary()
    part_type = f"application/octet-stream; transfer-syntax={EXPLICIT_VR_LITTLE_ENDIAN}"
    return StreamingResponse(
        multipart_body(((part_type, iter([c])) for c in chunks), boundary),
        media_type=f'multipart/related; type="application/octet-stream"; boundary={boundary}',
    )


@router.get("/studies/{study}", summary="WADO-RS: retrieve a study", responses=DICOM_DOC)
def retrieve_study(
    request: Request, _: ReadDicom, session: ReadSessionDep, blobs: BlobsDep, study: str
) -> Response:
    """Every instance of the study, streamed."""
    negotiate_dicom(request.headers.get("accept"))
    return _instances_response(request, resolve_instances(session, blobs, study))


@router.get("/studies/{study}/metadata", summary="WADO-RS: metadata of a study", responses=META_DOC)
def retrieve_study_metadata(
    request: Request, _: ReadDicom, session: ReadSessionDep, blobs: BlobsDep, study: str
) -> Response:
    """DICOM JSON of every instance of the study."""
    return _metadata_response(request, resolve_instances(session, blobs, study))


@router.get(
    "/studies/{study}/series/{series}", summary="WADO-RS: retrieve a series", responses=DICOM_DOC
)
def retrieve_series(
    request: Request,
    _: ReadDicom,
    session: ReadSessionDep,
    blobs: BlobsDep,
    study: str,
    series: str,
) -> Response:
    """Every instance of the series, streamed."""
    negotiate_dicom(request.headers.get("accept"))
    return _instances_response(request, resolve_instances(session, blobs, study, series))


@router.get(
    "/studies/{study}/series/{series}/metadata",
    summary="WADO-RS: metadata of a series",
    responses=META_DOC,
)
def retrieve_series_metadata(
    request: Request,
    _: ReadDicom,
    session: ReadSessionDep,
    blobs: BlobsDep,
    study: str,
    series: str,
) -> Response:
    """DICOM JSON of every instance of the series."""
    return _metadata_response(request, resolve_instances(session, blobs, study, series))


@router.get(
    "/studies/{study}/series/{series}/instances/{instance}",
    summary="WADO-RS: retrieve an instance",
    responses=DICOM_DOC,
)
def retrieve_instance(
    request: Request,
    _: ReadDicom,
    session: ReadSessionDep,
    blobs: BlobsDep,
    study: str,
    series: str,
    instance: str,
) -> Response:
    """The instance, as a one-part multipart message."""
    negotiate_dicom(request.headers.get("accept"))
    items = resolve_instances(session, blobs, study, series, instance)
    return _instances_response(request, items)


@router.get(
    "/studies/{study}/series/{series}/instances/{instance}/metadata",
    summary="WADO-RS: metadata of an instance",
    responses=META_DOC,
)
def retrieve_instance_metadata(
    request: Request,
    _: ReadDicom,
    session: ReadSessionDep,
    blobs: BlobsDep,
    study: str,
    series: str,
    instance: str,
) -> Response:
    """DICOM JSON of the instance (a one-element array)."""
    items = resolve_instances(session, blobs, study, series, instance)
    return _metadata_response(request, items)


@router.get(
    "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}",
    summary="WADO-RS: retrieve frames (uncompressed)",
    responses=OCTETS_DOC,
)
def retrieve_frames(
    request: Request,
    _: ReadDicom,
    session: ReadSessionDep,
    blobs: BlobsDep,
    study: str,
    series: str,
    instance: str,
    frames: str,
) -> Response:
    """The native bytes of frames ``1,2,...`` (1-based), decompressed when stored compressed."""
    numbers = parse_frame_list(frames)
    negotiate_octets(request.headers.get("accept"))
    item = resolve_instances(session, blobs, study, series, instance)[0]
    return _octets_response(request, frame_bytes(item.path, numbers), len(numbers))


@router.get(
    "/studies/{study}/series/{series}/instances/{instance}/bulkdata/{tag}",
    summary="WADO-RS: retrieve bulk data of an instance",
    responses=OCTETS_DOC,
)
def retrieve_bulkdata(
    request: Request,
    _: ReadDicom,
    session: ReadSessionDep,
    blobs: BlobsDep,
    study: str,
    series: str,
    instance: str,
    tag: str,
) -> Response:
    """A binary attribute's bytes (the BulkDataURI of the metadata); pixel data uncompressed."""
    if not _TAG_RE.match(tag):
        raise InvalidRequestError(f"bulk data tag {tag[:20]!r}; expected 8 hex digits")
    acceptance = negotiate_octets(request.headers.get("accept"))
    item = resolve_instances(session, blobs, study, series, instance)[0]
    chunks = bulk_chunks(item.path, int(tag, 16))
    if not acceptance.multipart:
        return Response(b"".join(chunks), media_type="application/octet-stream")
    boundary = new_boundary()
    part_type = f"application/octet-stream; transfer-syntax={EXPLICIT_VR_LITTLE_ENDIAN}"
    return StreamingResponse(
        multipart_body([(part_type, chunks)], boundary),
        media_type=f'multipart/related; type="application/octet-stream"; boundary={boundary}',
    )
