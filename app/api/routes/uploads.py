"""``POST /v1/uploads`` (DICOM files or zips) and ``GET /v1/studies`` (what is stored)."""

from __future__ import annotations

from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from app.api.deps import SQL_INT_MAX, BlobsDep, ReadSessionDep, SessionDep, SettingsDep, require
from app.api.responses import problems
from app.api.schemas import UploadPublic
from app.archive.studies import describe_studies, list_studies
from app.archive.uploads import ingest_upload
from app.auth.keys import Permission, Principal

router = APIRouter(tags=["uploads"])

_MULTIPART = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "DICOM Part 10 files and/or .zip archives of them.",
                        }
                    },
                }
            }
        },
    }
}


@router.post(
    "/v1/uploads",
    status_code=201,
    response_model=UploadPublic,
    summary="Upload DICOM files or zips",
    openapi_extra=_MULTIPART,
    responses=problems(400, 401, 403, 409, 413, 415, 422),
)
async def upload(
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.UPLOAD))],
    session: SessionDep,
    blobs: BlobsDep,
    settings: SettingsDep,
) -> UploadPublic:
    """Store every instance (idempotent by SOP Instance UID; 409 on conflicting content).

    The form is parsed here (to raise the file-count limit); the DICOM work runs in a worker
    thread, never on the event loop.
    """
    form = await request.form(max_files=settings.max_upload_files, max_fields=100)
    try:
        files: list[tuple[str, IO[bytes]]] = [
            (part.filename or "file", part.file)
            for part in form.getlist("files")
            if isinstance(part, UploadFile)
        ]
        summary = await run_in_threadpool(
            ingest_upload, session, blobs, files, principal.actor, settings
        )
        uids = [s.study_instance_uid for s in summary.studies]
        described = await run_in_threadpool(describe_studies, session, blobs, uids)
        return UploadPublic.from_domain(summary, described)
    finally:
        await form.close()


@router.get(
    "/v1/studies",
    summary="Stored studies and series (date, description, phase, patient digest)",
    responses=problems(401, 403),
)
def studies(
    _: Annotated[Principal, Depends(require(Permission.READ))],
    session: ReadSessionDep,
    blobs: BlobsDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=SQL_INT_MAX)] = 0,
) -> list[dict[str, Any]]:
    """Studies, newest first: StudyDate, description, a SHA-256 digest of the PatientID (never the
    ID), and their series: modality, phase, number, description and instance count."""
    return list_studies(session, blobs, limit=limit, offset=offset)
