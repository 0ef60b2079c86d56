"""``POST /v1/segmentations``: a NIfTI/NRRD label map for a stored series.

DICOM SEG and RTSTRUCT objects are instances: send them with ``POST /v1/uploads`` (or STOW-RS)
and name them by SOP Instance UID in the measurement request.
"""

from __future__ import annotations

import posixpath
import re
from typing import IO, Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile

from app.api.deps import BlobsDep, SessionDep, SettingsDep, require
from app.api.responses import problems
from app.api.schemas import SegmentationPublic
from app.archive.labelmaps import check_label_map
from app.auth import audit
from app.auth.keys import Permission, Principal
from app.db import repo
from app.db.models import Segmentation
from app.errors import UnsupportedMediaError

router = APIRouter(tags=["segmentations"])

#: Accepted suffixes and how their first bytes look (gzip; NIfTI-1 magic at 344; NRRD magic).
_SUFFIXES = (".nii.gz", ".nii", ".nrrd")


def _suffix(name: str) -> str:
    lower = name.lower()
    for suffix in _SUFFIXES:
        if lower.endswith(suffix):
            return suffix
    raise UnsupportedMediaError(
        "expected a NIfTI (.nii, .nii.gz) or NRRD (.nrrd) label map; send DICOM SEG/RTSTRUCT "
        "with POST /v1/uploads"
    )


def _check_magic(fp: IO[bytes], suffix: str) -> None:
    head = fp.read(352)
    fp.seek(0)
    ok = {
        ".nii.gz": head[:2] == b"\x1f\x8b",
        ".nii": head[344:348] in (b"n+1\x00", b"ni1\x00") or head[4:8] == b"n+2\x00",
        ".nrrd": head[:4] == b"NRRD",
    }[suffix]
    if not ok:
        raise UnsupportedMediaError(f"the file's content is not {suffix} data")


def _safe_name(filename: str, suffix: str) -> str:
    """The upload's base name with only safe characters (never a path), else ``labels``."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", posixpath.basename(filename.replace("\\", "/")))
    stem = base[: -len(suffix)] if base.lower().endswith(suffix) else ""
    return f"{stem[:100] or 'labels'}{suffix}"


@router.post(
    "/v1/segmentations",
    status_code=201,
    response_model=SegmentationPublic,
    summary="Upload a label map",
    responses=problems(401, 403, 404, 413, 415, 422),
)
def upload_segmentation(
    file: Annotated[UploadFile, File(description="NIfTI/NRRD label map on the series' grid.")],
    series_instance_uid: Annotated[str, Form(pattern=r"^[0-9]+(\.[0-9]+)*$", max_length=64)],
    principal: Annotated[Principal, Depends(require(Permission.UPLOAD))],
    session: SessionDep,
    blobs: BlobsDep,
    settings: SettingsDep,
) -> SegmentationPublic:
    """Store the label map; ``segmentation_upload_id`` names it in a measurement request."""
    suffix = _suffix(file.filename or "")
    repo.get_series(session, series_instance_uid)
    _check_magic(file.file, suffix)
    name = _safe_name(file.filename or "", suffix)  # named as sent, in messages
    scratch = settings.resolved_home / "tmp"
    with blobs.spool(file.file, name, settings.max_upload_bytes) as path:
        # Read onto the series' grid as a measurement would: refused here, not in a job later.
        check_label_map(session, blobs, series_instance_uid, path, scratch)
        session.rollback()  # no transaction held during the blob write
        with path.open("rb") as spooled:
            ref = blobs.put_stream(spooled)
    row = Segmentation(
        series_instance_uid=series_instance_uid,
        kind="labelmap",
        file_suffix=suffix,
        sha256=ref.sha256,
        blob_path=ref.relpath,
        size_bytes=ref.size_bytes,
        created_by=principal.actor,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        principal.actor,
        "segmentation.uploaded",
        "segmentation",
        row.id,
        {
            "sha256": ref.sha256,
            "size_bytes": ref.size_bytes,
            "series_instance_uid": series_instance_uid,
        },
    )
    session.commit()
    return SegmentationPublic.from_domain(row)
