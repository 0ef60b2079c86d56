"""REST uploads: DICOM files and zips of them, with zip-slip and zip-bomb defences.

Each archive is checked before anything in it is read: member count, encrypted or symlinked
members, absolute or ``..`` names (zip slip: refused although nothing is extracted by name), nested
archives, the declared total size, and each member's compression ratio. While a member is read its
real size is counted against the declared one and against the total, so a lying header cannot
inflate it. Members go to a spooled temporary file (memory up to a few MiB, then disk) and then to
:func:`app.archive.ingest.ingest_instance`. Non-DICOM members of a zip are skipped and listed; a
non-DICOM file sent directly is refused (415).
"""

from __future__ import annotations

import lzma
import posixpath
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO

from sqlalchemy.orm import Session

from app.archive.ingest import InstanceResult, ingest_instance
from app.errors import InvalidRequestError
from app.settings import Settings
from app.store.blobs import BlobStore
from dicomio.errors import ArchiveError, NotDicomError

__all__ = [
    "SkippedMember",
    "UploadSummary",
    "UploadedSeries",
    "UploadedStudy",
    "ingest_upload",
    "iter_zip_members",
]

_SPOOL_BYTES = 8 << 20
_CHUNK = 1 << 20
_RATIO_MIN_BYTES = 1 << 20  # small members may compress extremely well and are harmless
_IGNORED = ("__MACOSX/", ".DS_Store", "Thumbs.db")
#: What :mod:`zipfile` raises on damaged archives besides BadZipFile: bad offsets (ValueError,
#: also undecodable names), unsupported methods or strong encryption (NotImplementedError), and
#: the decompressors' own errors.
_ZIP_DAMAGE = (
    zipfile.BadZipFile,
    OSError,
    EOFError,
    ValueError,
    NotImplementedError,
    zlib.error,
    lzma.LZMAError,
)


def _is_zip(fp: IO[bytes]) -> bool:
    start = fp.tell()
    head = fp.read(4)
    fp.seek(start)
    return head in (b"PK\x03\x04", b"PK\x05\x06")


def _safe_member_name(name: str) -> str:
    """The member's file name; refuses absolute names and ``..`` (zip slip)."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        raise ArchiveError(
            "archive member with an absolute path (zip slip); expected relative names"
        )
    if ".." in PurePosixPath(norm).parts:
        raise ArchiveError("archive member name contains '..' (zip slip); expected names inside")
    return posixpath.basename(norm.rstrip("/"))


def _copy_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, out: IO[bytes], total: int, settings: Settings
) -> int:
    """Copy one member, counting its real size; return the archive's running total."""
    base = posixpath.basename(info.filename.replace("\\", "/"))
    size = 0
    try:
        with zf.open(info) as member:
            while chunk := member.read(_CHUNK):
                size += len(chunk)
                total += len(chunk)
                if size > info.file_size or total > settings.max_zip_uncompressed_bytes:
                    raise ArchiveError(
                        f"zip member {base} is larger than its header says (zip bomb?)"
                    )
                out.write(chunk)
    except ArchiveError:
        raise
    except OSError as exc:
        if exc.errno is not None:  # our own file failed (e.g. the disk is full): no archive fault
            raise
        raise ArchiveError(f"zip member {base} is corrupt or unreadable") from exc
    except _ZIP_DAMAGE as exc:
        raise ArchiveError(f"zip member {base} is corrupt or unreadable") from exc
    return total


def iter_zip_members(fp: IO[bytes], settings: Settings) -> Iterator[tuple[str, IO[bytes]]]:
    """Yield ``(file name, spooled file)`` per regular member after the safety checks."""
    try:
        zf = zipfile.ZipFile(fp)
    except _ZIP_DAMAGE as exc:
        raise ArchiveError("unreadable zip archive; expected a valid .zip file") from exc
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > settings.max_zip_members:
            raise ArchiveError(
                f"zip has {len(infos)} files; at most {settings.max_zip_members} are accepted"
            )
        declared = 0
        for info in infos:
            base = _safe_member_name(info.filename)
            if info.flag_bits & 0x1:
                raise ArchiveError(f"zip member {base} is encrypted; expected plain members")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise ArchiveError(f"zip member {base} is a symbolic link; expected plain files")
            if base.lower().endswith(".zip"):
                raise ArchiveError(f"zip member {base} is an archive; nested archives are refused")
            if info.file_size > _RATIO_MIN_BYTES and (
                info.file_size > settings.max_zip_ratio * max(info.compress_size, 1)
            ):
                raise ArchiveError(
                    f"zip member {base} expands {info.file_size / max(info.compress_size, 1):.0f}"
                    f"-fold (zip bomb?); at most {settings.max_zip_ratio:.0f}-fold is accepted"
                )
            declared += info.file_size
        if declared > settings.max_zip_uncompressed_bytes:
            raise ArchiveError(
                f"zip expands to {declared} bytes; at most {settings.max_zip_uncompressed_bytes}"
            )
        total = 0
        for info in infos:
            base = posixpath.basename(info.filename.replace("\\", "/"))
            if any(part in info.filename for part in _IGNORED):
                continue
            with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
                total = _copy_member(zf, info, spool, total, settings)
                spool.seek(0)
                yield base, spool


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
        if _is_zip(fp):
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
