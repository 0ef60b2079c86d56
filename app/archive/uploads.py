"""REST uploads: DICOM files and zips of them, with zip-slip and zip-bomb defences.

Each archive is checked before anything in it is read, by the one zip checker of
:mod:`dicomio.archive` (member count, encrypted or symlinked members, absolute or ``..`` names: zip
slip, refused although nothing is extracted by name; nested archives, the declared total size,
each member's compression ratio); while a member is read its real size is counted against the
declared one and against the total, so a lying header cannot inflate it. Members go to a
spooled temporary file (memory up to a few MiB, then disk) and then to
:func:`app.archive.ingest.ingest_instance`. Non-DICOM members of a zip are skipped and listed; a
non-DICOM file sent directly is refused (415).
"""

from __future__ import annotations

import posixpath
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO

from sqlalchemy.orm import Session

from app.archive.ingest import InstanceResult, ingest_instance
from app.errors import InvalidRequestError
from app.settings import Settings
from app.store.blobs import BlobStore
from dicomio.archive import copy_member, is_zip_stream, open_zip, zip_members
from dicomio.errors import NotDicomError

__all__ = [
    "SkippedMember",
    "UploadSummary",
    "UploadedSeries",
    "UploadedStudy",
    "ingest_upload",
    "iter_zip_members",
]

_SPOOL_BYTES = 8 << 20


def iter_zip_members(fp: IO[bytes], settings: Settings) -> Iterator[tuple[str, IO[bytes]]]:
    """Yield ``(file name, spooled file)`` per member after the archive's safety checks.

    The checks are :mod:`dicomio.archive`'s (the command line's too), with the limits of
    :attr:`Settings.archive_limits`.
    """
    limits = settings.archive_limits
    with open_zip(fp) as zf:
        total = 0
        for info, rel in zip_members(zf, limits):
            with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
                total = copy_member(zf, info, spool, total, limits)
                spool.seek(0)
                yield rel.name, spool


@dataclass(frozen=True, slots=True)
class UploadedSeries:
    """A series touched by an upload; ``instances`` counts its instances in this upload."""

    series_instance_uid: str
    modality: str
    instances: int
    phase: str


@dataclass(frozen=True, slots=True)
class UploadedStudy:
    """A study touched by an upload, with its series in first-seen order."""

    study_instance_uid: str
    series: tuple[UploadedSeries, ...]


@dataclass(frozen=True, slots=True)
class SkippedMember:
    """An archive member that is not a DICOM instance (its file name only, never a path)."""

    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class UploadSummary:
    """What an upload stored: studies and series, new and already-stored instance counts."""

    studies: tuple[UploadedStudy, ...]
    stored: int
    duplicates: int
    skipped: tuple[SkippedMember, ...]


def _summary(results: Sequence[InstanceResult], skipped: list[SkippedMember]) -> UploadSummary:
    counts: dict[str, dict[str, list[InstanceResult]]] = {}
    for r in results:
        h = r.header
        counts.setdefault(h.study_instance_uid, {}).setdefault(h.series_instance_uid, []).append(r)
    studies = tuple(
        UploadedStudy(
            study_instance_uid=study_uid,
            series=tuple(
                UploadedSeries(
                    series_instance_uid=series_uid,
                    modality=members[0].header.modality,
                    instances=len(members),
                    phase=members[0].header.phase,
                )
                for series_uid, members in series.items()
            ),
        )
        for study_uid, series in counts.items()
    )
    return UploadSummary(
        studies=studies,
        stored=sum(r.status == "stored" for r in results),
        duplicates=sum(r.status == "duplicate" for r in results),
        skipped=tuple(skipped),
    )


def ingest_upload(
    session: Session,
    blobs: BlobStore,
    files: Sequence[tuple[str, IO[bytes]]],
    who: str,
    settings: Settings,
) -> UploadSummary:
    """Store every DICOM instance of the uploaded files and zips; each one commits on its own."""
    if not files:
        raise InvalidRequestError("no files in the form field 'files'")
    results: list[InstanceResult] = []
    skipped: list[SkippedMember] = []
    for raw_name, fp in files:
        name = posixpath.basename((raw_name or "file").replace("\\", "/")) or "file"
        if is_zip_stream(fp):
            for member_name, member in iter_zip_members(fp, settings):
                try:
                    results.append(ingest_instance(session, blobs, member, who, member_name))
                except NotDicomError as exc:
                    skipped.append(SkippedMember(name=member_name, reason=str(exc)))
        else:
            results.append(ingest_instance(session, blobs, fp, who, name))
    if not results:
        raise NotDicomError("the upload holds no DICOM instance; expected DICOM files or a zip")
    return _summary(results, skipped)
