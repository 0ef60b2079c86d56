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

import logging
from collections.abc import AsyncIterator, Iterator

import anyio.from_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from app.api.deps import BlobsDep, SessionDep, SettingsDep
from app.api.dicomweb import wado_routes
from app.api.dicomweb.http import (
    DICOM_JSON,
    QIDO_DOC,
    STOW_BODY,
    STOW_DOC,
    ReadDicom,
    Upload,
)
from app.api.dicomweb.http import dicomweb_base as _base
from app.api.dicomweb.store_response import store_response
from app.api.dicomweb.stow import StowLimits, parse_stow_content_type, store_multipart
from app.archive.query import search
from app.auth.keys import Principal

__all__ = ["DICOM_JSON", "router"]

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/dicomweb", tags=["dicomweb"])


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

    try:
        result = await run_in_threadpool(
            store_multipart, chunks(), boundary, session, blobs, principal.actor, limits, study
        )
    except ClientDisconnect:  # nobody left to answer; the parts completed so far are stored
        logger.info("STOW-RS client disconnected before the end of the body")
        return Response(status_code=400)
    payload, status = store_response(result, _base(request))
    return JSONResponse(payload, status_code=status, media_type=DICOM_JSON)


@router.post(
    "/studies",
    summary="STOW-RS: store instances",
    response_class=JSONResponse,
    openapi_extra=STOW_BODY,
    responses=STOW_DOC,
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
    openapi_extra=STOW_BODY,
    responses=STOW_DOC,
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


@router.get("/studies", summary="QIDO-RS: search for studies", responses=QIDO_DOC)
def search_studies(
    request: Request, _: ReadDicom, session: SessionDep, blobs: BlobsDep
) -> Response:
    """Studies matching the query keys (``limit``, ``offset``, ``includefield`` supported)."""
    return _search(request, session, blobs, "study")


@router.get("/series", summary="QIDO-RS: search for series", responses=QIDO_DOC)
def search_all_series(
    request: Request, _: ReadDicom, session: SessionDep, blobs: BlobsDep
) -> Response:
    """Series of any study matching the query keys."""
    return _search(request, session, blobs, "series")


@router.get("/instances", summary="QIDO-RS: search for instances", responses=QIDO_DOC)
def search_all_instances(
    request: Request, _: ReadDicom, session: SessionDep, blobs: BlobsDep
) -> Response:
    """Instances of any study matching the query keys."""
    return _search(request, session, blobs, "instance")


@router.get(
    "/studies/{study}/series", summary="QIDO-RS: search for series of a study", responses=QIDO_DOC
)
def search_series(
    request: Request, _: ReadDicom, session: SessionDep, blobs: BlobsDep, study: str
) -> Response:
    """Series of one study matching the query keys."""
    return _search(request, session, blobs, "series", study)


@router.get(
    "/studies/{study}/instances",
    summary="QIDO-RS: search for instances of a study",
    responses=QIDO_DOC,
)
def search_study_instances(
    request: Request, _: ReadDicom, session: SessionDep, blobs: BlobsDep, study: str
) -> Response:
    """Instances of one study matching the query keys."""
    return _search(request, session, blobs, "instance", study)


@router.get(
    "/studies/{study}/series/{series}/instances",
    summary="QIDO-RS: search for instances of a series",
    responses=QIDO_DOC,
)
def search_instances(
    request: Request, _: ReadDicom, session: SessionDep, blobs: BlobsDep, study: str, series: str
) -> Response:
    """Instances of one series matching the query keys."""
    return _search(request, session, blobs, "instance", study, series)


router.include_router(wado_routes.router)
