"""Store one DICOM instance: blob first, then its rows; idempotent by SOP Instance UID.

Shared by the REST uploads and DICOMweb STOW-RS. The bytes are written to the blob store (atomic,
fsynced) *before* the instance row commits, so an acknowledged instance survives a crash. A second
copy of the same instance is a no-op (``duplicate``); the same SOP Instance UID with different bytes
is an :class:`~app.errors.InstanceConflictError` (409). Non-DICOM input is a
:class:`dicomio.errors.NotDicomError` (415). Only the header is parsed, by
:func:`dicomio.instance.read_instance_header_from`; whether its UIDs are acceptable is decided here
(422).

References
----------
DICOM PS3.10 section 7.1 (Part 10 file format: preamble, ``DICM``, file meta information).
DICOM PS3.18 section 10.5 (STOW-RS: a repeated instance is not an error).
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import IO, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth import audit
from app.db.models import Instance, Series, Study
from app.errors import InstanceConflictError, InvalidRequestError
from app.store.blobs import BlobStore
from dicomio.errors import CorruptFileError, NotDicomError
from dicomio.instance import InstanceHeader, read_instance_header, read_instance_header_from

__all__ = ["InstanceResult", "ingest_instance", "read_header"]

logger = logging.getLogger(__name__)

_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
#: An Integer String holds -2**31 .. 2**31 - 1 (DICOM PS3.5 table 6.2-1), as the column does.
_IS_RANGE = range(-(2**31), 2**31)
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class InstanceResult:
    """What :func:`ingest_instance` did with one instance."""

    status: Literal["stored", "duplicate"]
    header: InstanceHeader
    sha256: str
    size_bytes: int


def _uid(value: str, keyword: str, name: str) -> str:
    if not value or len(value) > 64 or not _UID_RE.match(value):
        raise InvalidRequestError(
            f"{name}: missing or invalid {keyword}; expected a DICOM UID (digits and dots, <= 64)"
        )
    return value


def _instance_number(value: int | None, name: str) -> int | None:
    """Return the Instance Number, or None when it is outside the range of an IS.

    Such a number is kept out of the index; the instance itself is stored as sent.
    """
    if value is None or value in _IS_RANGE:
        return value
    logger.warning("%s: Instance Number outside the range of an IS; not indexed", name)
    return None


def read_header(fp: IO[bytes], name: str = "file") -> InstanceHeader:
    """Parse a Part 10 file's header (no pixel data); ``name`` is used in error messages only.

    Raises
    ------
    dicomio.errors.NotDicomError
        Not a DICOM Part 10 file, or a DICOMDIR.
    dicomio.errors.CorruptFileError
        The header cannot be parsed.
    app.errors.InvalidRequestError
        A SOP Instance, Series Instance or Study Instance UID is missing or not a valid UID.
    """
    header = read_instance_header_from(fp, name)
    return replace(
        header,
        sop_instance_uid=_uid(header.sop_instance_uid, "SOPInstanceUID", name),
        series_instance_uid=_uid(header.series_instance_uid, "SeriesInstanceUID", name),
        study_instance_uid=_uid(header.study_instance_uid, "StudyInstanceUID", name),
        instance_number=_instance_number(header.instance_number, name),
    )


def _hash_stream(fp: IO[bytes]) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    while chunk := fp.read(_CHUNK):
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size


def _stored_sha(session: Session, sop_uid: str) -> str | None:
    """Return the stored digest of an instance (its read transaction ended before returning)."""
    stmt = select(Instance.sha256).where(Instance.sop_instance_uid == sop_uid)
    try:
        return session.execute(stmt).scalar_one_or_none()
    finally:
        session.rollback()


def _existing(stored_sha: str, header: InstanceHeader, sha: str, size: int) -> InstanceResult:
    if stored_sha != sha:
        raise InstanceConflictError(
            f"SOP Instance UID {header.sop_instance_uid} is stored with different content "
            f"(stored sha256 {stored_sha[:12]}..., received {sha[:12]}...); "
            "expected the identical instance or a new SOP Instance UID"
        )
    return InstanceResult("duplicate", header, sha, size)


def _study(session: Session, uid: str) -> Study:
    found = session.execute(
        select(Study).where(Study.study_instance_uid == uid)
    ).scalar_one_or_none()
    if found is not None:
        return found
    try:
        with session.begin_nested():
            study = Study(study_instance_uid=uid)
            session.add(study)
        return study
    except IntegrityError:  # created by a concurrent writer
        return session.execute(select(Study).where(Study.study_instance_uid == uid)).scalar_one()


def _series(session: Session, header: InstanceHeader, study: Study) -> Series:
    uid = header.series_instance_uid
    stmt = select(Series).where(Series.series_instance_uid == uid)
    found = session.execute(stmt).scalar_one_or_none()
    if found is not None:
        return found
    try:
        with session.begin_nested():
            series = Series(
                series_instance_uid=uid,
                study_pk=study.id,
                modality=header.modality,
                phase=str(header.phase),
            )
            session.add(series)
        return series
    except IntegrityError:
        return session.execute(stmt).scalar_one()


def _refuse_incomplete(blobstore: BlobStore, sha: str, created: bool, name: str) -> None:
    """Refuse a stored file that ends inside a data element (truncated, or a length past the end).

    The stream header read stops before Pixel Data; dicomio's file reader checks every element
    and the pixel data's length. A blob this call created is removed again.
    """
    path = blobstore.path(sha)
    try:
        read_instance_header(path, require_complete=True)
    except NotDicomError:  # the stream reader accepted it as DICOM: its verdict stands
        return
    except CorruptFileError as exc:
        if created:
            with suppress(FileNotFoundError):
                path.unlink()
        raise CorruptFileError(str(exc).replace(path.name, name)) from exc


def ingest_instance(
    session: Session, blobstore: BlobStore, data: bytes | IO[bytes], who: str, name: str = "file"
) -> InstanceResult:
    """Store one DICOM Part 10 instance and commit; idempotent by SOP Instance UID.

    Parameters
    ----------
    session
        A session with no pending work; this function commits (or rolls back) it.
    blobstore
        Where the bytes go.
    data
        The file's bytes, or a seekable binary file positioned at its start.
    who
        The actor recorded in the instance row and the audit event.
    name
        A display name for error messages (a file name, never a full path).

    Raises
    ------
    dicomio.errors.NotDicomError
        Not a DICOM Part 10 file (or a DICOMDIR).
    dicomio.errors.CorruptFileError
        The file ends inside a data element (truncated) or its header cannot be parsed.
    app.errors.InstanceConflictError
        The SOP Instance UID is stored with different bytes.
    """
    fp: IO[bytes] = io.BytesIO(bytes(data)) if isinstance(data, bytes | bytearray) else data
    start = fp.tell()
    header = read_header(fp, name)
    fp.seek(start)
    sha, size = _hash_stream(fp)
    # The lookup's transaction ends before the (slow, fsynced) blob write.
    stored = _stored_sha(session, header.sop_instance_uid)
    if stored is not None:
        return _existing(stored, header, sha, size)
    fp.seek(start)
    ref = blobstore.put_stream(fp)
    if ref.sha256 != sha:
        raise CorruptFileError(f"{name} changed while it was being stored; send it again")
    _refuse_incomplete(blobstore, sha, ref.created, name)
    try:
        study = _study(session, header.study_instance_uid)
        series = _series(session, header, study)
        session.add(
            Instance(
                sop_instance_uid=header.sop_instance_uid,
                sop_class_uid=header.sop_class_uid,
                series_pk=series.id,
                instance_number=header.instance_number,
                sha256=sha,
                blob_path=ref.relpath,
                size_bytes=size,
                created_by=who,
            )
        )
        session.flush()
        audit.record(
            session,
            who,
            "instance.stored",
            "instance",
            header.sop_instance_uid,
            {"sha256": sha, "size_bytes": size, "series_instance_uid": header.series_instance_uid},
        )
        session.commit()
    except IntegrityError:
        session.rollback()
        stored = _stored_sha(session, header.sop_instance_uid)
        if stored is None:
            raise
        return _existing(stored, header, sha, size)
    except BaseException:
        session.rollback()
        raise
    return InstanceResult("stored", header, sha, size)
