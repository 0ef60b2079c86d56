"""DICOMweb (PS3.18) under ``/dicomweb``: STOW-RS, QIDO-RS and WADO-RS for viewers and PACS.

- STOW-RS ``POST /dicomweb/studies[/{study}]``: ``multipart/related; type="application/dicom"``,
  parsed while it streams in; answers the store response (200 all stored, 202 some failed,
  409 none stored). A repeated instance is stored once and reported as stored.
- QIDO-RS ``GET /dicomweb/studies``, ``/series``, ``/instances`` and their study- and
  series-scoped forms: ``application/dicom+json`` arrays with standard matching.
- WADO-RS ``GET`` of a study, series or instance (``multipart/related; type="application/dicom"``,
  streamed file by file), their ``/metadata`` (DICOM JSON, bulk data by URI), ``/frames/{n}`` and
  ``/bulkdata/{tag}`` (uncompressed bytes, multipart or a single body as the ``Accept`` asks).

Radiologist keys may use every route (STOW needs ``upload``, the rest ``read_dicom``); EDC and
admin keys get 403 (contracts/http.md: no pixel data, no DICOM for them).

References
----------
DICOM PS3.18 sections 10.4 (Retrieve), 10.5 (Store), 10.6 (Search).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import anyio.from_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.api._dicomweb_frames import bulk_chunks, frame_bytes, parse_frame_list
from app.api._dicomweb_media import (
    EXPLICIT_VR_LITTLE_ENDIAN,
    multipart_body,
    negotiate_dicom,
    negotiate_octets,
    new_boundary,
)
from app.api._dicomweb_qido import search
from app.api._dicomweb_store_response import store_response
from app.api._dicomweb_stow import StowLimits, parse_stow_content_type, store_multipart
from app.api._dicomweb_wado import (
    StoredInstance,
    instance_bytes,
    metadata_stream,
    resolve_instances,
)
from app.api.deps import BlobsDep, SessionDep, SettingsDep, require
from app.api.responses import problems
from app.errors import InvalidRequestError, NotAcceptableError
from app.security import Permission, Principal

__all__ = ["DICOM_JSON", "router"]

DICOM_JSON = "application/dicom+json"
router = APIRouter(prefix="/dicomweb", tags=["dicomweb"])
ReadDicom = Annotated[Principal, Depends(require(Permission.READ_DICOM))]
Upload = Annotated[Principal, Depends(require(Permission.UPLOAD))]
_TAG_RE = re.compile(r"^[0-9A-Fa-f]{8}$")


def _doc(media_type: str, description: str, *statuses: int) -> dict[int | str, dict[str, Any]]:
    out = problems(*statuses)
    out[200] = {"description": description, "content": {media_type: {}}}
    return out


_STOW_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            'multipart/related; type="application/dicom"': {
                "schema": {"type": "string", "format": "binary"},
            }
        },
    }
}
_STOW_DOC = _doc(DICOM_JSON, "All instances stored (or stored already)", 401, 403, 413, 415, 422)
_STOW_DOC[202] = {"description": "Some instances stored, others failed (FailedSOPSequence)"}
_STOW_DOC[409] = {"description": "No instance stored; the body lists why (FailedSOPSequence)"}
_QIDO_DOC = _doc(DICOM_JSON, "Matching DICOM JSON datasets", 401, 403, 422)
_DICOM_DOC = _doc('multipart/related; type="application/dicom"', "Instances", 401, 403, 404)
_META_DOC = _doc(DICOM_JSON, "DICOM JSON metadata, bulk data as BulkDataURI", 401, 403, 404)
_OCTETS_DOC = _doc(
    'multipart/related; type="application/octet-stream"', "Uncompressed bytes", 401, 403, 404, 422
)


_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _base(request: Request) -> str:
    """The absolute ``/dicomweb`` root for RetrieveURL and BulkDataURI values.

    Built from the request's Host header; a direct client that sends a Host without its port
    (dicomweb-client does) gets the port the server listens on. Behind a proxy the Host is kept.
    """
    url = request.base_url
    server = request.scope.get("server")
    direct = not any(h in request.headers for h in _PROXY_HEADERS)
    if direct and url.port is None and server and server[1] != _DEFAULT_PORTS.get(url.scheme):
        url = url.replace(port=int(server[1]))
    return str(url).rstrip("/") + "/dicomweb"


# --- STOW-RS --------------------------------------------------------------------------------


async def _stow(
    request: Request,
    principal: Principal,
    session: SessionDep,
    blobs: BlobsDep,
    settings: SettingsDep,
    study: str | None,
) -> Response:
    boundary = parse_stow_content_type(request.headers.get("content-type"))
    limits = StowLimits(
        max_part_bytes=settings.max_instance_bytes,
        max_parts=settings.max_upload_files,
        scratch_dir=settings.resolved_home / "tmp",
    )
    body: AsyncIterator[bytes] = request.stream().__aiter__()

    async def next_chunk() -> bytes | None:
        try:
            return await body.__anext__()
        except StopAsyncIteration:
            return None

    def chunks() -> Iterator[bytes]:  # iterated by the worker thread, awaits on the event loop
        while (chunk := anyio.from_thread.run(next_chunk)) is not None:
            if chunk:
                yield chunk

    result = await run_in_threadpool(
        store_multipart, chunks(), boundary, session, blobs, principal.actor, limits, study
    )
    payload, status = store_response(result, _base(request))
    return JSONResponse(payload, status_code=status, media_type=DICOM_JSON)


@router.post(
    "/studies",
    summary="STOW-RS: store instances",
    response_class=JSONResponse,
    openapi_extra=_STOW_BODY,
    responses=_STOW_DOC,
)
async def stow(
    request: Request, principal: Upload, session: SessionDep, blobs: BlobsDep, settings: SettingsDep
) -> Response:
    """Store the instances of a ``multipart/related; type="application/dicom"`` body."""
    return await _stow(request, principal, session, blobs, settings, None)


@router.post(
    "/studies/{study}",
    summary="STOW-RS: store instances of one study",
    response_class=JSONResponse,
    openapi_extra=_STOW_BODY,
    responses=_STOW_DOC,
)
async def stow_study(
    request: Request,
    principal: Upload,
    session: SessionDep,
    blobs: BlobsDep,
    settings: SettingsDep,
    study: str,
) -> Response:
    """Store instances; those of another study fail with reason C409H."""
    return await _stow(request, principal, session, blobs, settings, study)


# --- QIDO-RS --------------------------------------------------------------------------------


def _search(
    request: Request,
    session: SessionDep,
    blobs: BlobsDep,
    level: str,
    study: str | None = None,
    series: str | None = None,
) -> Response:
    found = search(
        session, blobs, level, request.query_params.multi_items(), _base(request), study, series
    )
    headers = {"Warning": ", ".join(found.warnings)} if found.warnings else None
    return JSONResponse(found.datasets, media_type=DICOM_JSON, headers=headers)


@router.get("/studies", summary="QIDO-RS: search for studies", responses=_QIDO_DOC)
def search_studies(
    request: Request, _: ReadDicom, session: SessionDep, blobs: BlobsDep
) -> Response:
    """Studies matching the query keys (``limit``, ``offset``, ``includefield`` supported)."""
    return _search(request, session, blobs, "study")


@router.get("/series", summary="QIDO-RS: search for series", responses=_QIDO_DOC)
def search_all_series(
    request: Request, _: ReadDicom, session: SessionDep, blobs: BlobsDep
) -> Response:
    """Series of any study matching the query keys."""
    return _search(request, session, blobs, "series")


@router.get("/instances", summary="QIDO-RS: search for instances", responses=_QIDO_DOC)
def search_all_instances(
    request: Request, _: ReadDicom, session: SessionDep, blobs: BlobsDep
) -> Response:
    """Instances of any study matching the query keys."""
    return _search(request, session, blobs, "instance")


@router.get(
    "/studies/{study}/series", summary="QIDO-RS: search for series of a study", responses=_QIDO_DOC
)
def search_series(
    request: Request, _: ReadDicom, session: SessionDep, blobs: BlobsDep, study: str
) -> Response:
    """Series of one study matching the query keys."""
    return _search(request, session, blobs, "series", study)


@router.get(
    "/studies/{study}/instances",
    summary="QIDO-RS: search for instances of a study",
    responses=_QIDO_DOC,
)
def search_study_instances(
    request: Request, _: ReadDicom, session: SessionDep, blobs: BlobsDep, study: str
) -> Response:
    """Instances of one study matching the query keys."""
    return _search(request, session, blobs, "instance", study)


@router.get(
    "/studies/{study}/series/{series}/instances",
    summary="QIDO-RS: search for instances of a series",
    responses=_QIDO_DOC,
)
def search_instances(
    request: Request, _: ReadDicom, session: SessionDep, blobs: BlobsDep, study: str, series: str
) -> Response:
    """Instances of one series matching the query keys."""
    return _search(request, session, blobs, "instance", study, series)


# --- WADO-RS --------------------------------------------------------------------------------


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


@router.get("/studies/{study}", summary="WADO-RS: retrieve a study", responses=_DICOM_DOC)
def retrieve_study(
    request: Request, _: ReadDicom, session: SessionDep, blobs: BlobsDep, study: str
) -> Response:
    """Every instance of the study, streamed."""
    negotiate_dicom(request.headers.get("accept"))
    return _instances_response(request, resolve_instances(session, blobs, study))


@router.get(
    "/studies/{study}/metadata", summary="WADO-RS: metadata of a study", responses=_META_DOC
)
def retrieve_study_metadata(
    request: Request, _: ReadDicom, session: SessionDep, blobs: BlobsDep, study: str
) -> Response:
    """DICOM JSON of every instance of the study."""
    return _metadata_response(request, resolve_instances(session, blobs, study))


@router.get(
    "/studies/{study}/series/{series}", summary="WADO-RS: retrieve a series", responses=_DICOM_DOC
)
def retrieve_series(
    request: Request, _: ReadDicom, session: SessionDep, blobs: BlobsDep, study: str, series: str
) -> Response:
    """Every instance of the series, streamed."""
    negotiate_dicom(request.headers.get("accept"))
    return _instances_response(request, resolve_instances(session, blobs, study, series))


@router.get(
    "/studies/{study}/series/{series}/metadata",
    summary="WADO-RS: metadata of a series",
    responses=_META_DOC,
)
def retrieve_series_metadata(
    request: Request, _: ReadDicom, session: SessionDep, blobs: BlobsDep, study: str, series: str
) -> Response:
    """DICOM JSON of every instance of the series."""
    return _metadata_response(request, resolve_instances(session, blobs, study, series))


@router.get(
    "/studies/{study}/series/{series}/instances/{instance}",
    summary="WADO-RS: retrieve an instance",
    responses=_DICOM_DOC,
)
def retrieve_instance(
    request: Request,
    _: ReadDicom,
    session: SessionDep,
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
    responses=_META_DOC,
)
def retrieve_instance_metadata(
    request: Request,
    _: ReadDicom,
    session: SessionDep,
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
    responses=_OCTETS_DOC,
)
def retrieve_frames(
    request: Request,
    _: ReadDicom,
    session: SessionDep,
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
    responses=_OCTETS_DOC,
)
def retrieve_bulkdata(
    request: Request,
    _: ReadDicom,
    session: SessionDep,
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
