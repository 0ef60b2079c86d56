"""STOW-RS: a ``multipart/related; type="application/dicom"`` body parsed as it streams in.

The body is fed chunk by chunk to an incremental multipart parser; each part goes to a temporary
file on disk (never the whole request in memory) and is stored by
:func:`app.archive.ingest.ingest_instance` as soon as it is complete, then its temporary file is
deleted.
A part over the per-part limit refuses the request (413); the whole body's limit is enforced by
the service's body-size middleware (413). Each instance's outcome goes into the store response:
stored or already stored (``ReferencedSOPSequence``; a repeat is not an error) or failed with its
reason (``FailedSOPSequence``): non-DICOM parts, conflicting content, another study than the URL's.

References
----------
DICOM PS3.18 section 10.5 (Store Transaction) and Table 10.5.3-1 (response status codes).
DICOM PS3.4 Annex B.2.3 (C-STORE failure status codes A7xx, A9xx, Cxxx);
DICOM PS3.7 Annex C.4 (0110H processing failure, 0111H duplicate SOP instance).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.dicomweb.media import split_params
from app.archive.attributes import cache_from_dataset
from app.archive.ingest import ingest_instance
from app.archive.ingest import read_header as read_identity
from app.db.models import Instance, Series, Study
from app.errors import (
    InstanceConflictError,
    InvalidRequestError,
    UnsupportedMediaError,
    UploadTooLargeError,
)
from app.store.blobs import BlobStore
from dicomio.dicomjson import HeaderJson, read_header_json
from dicomio.errors import CorruptFileError, NotDicomError
from dicomio.instance import PART10_PREFIX, InstanceHeader, lacks_preamble

__all__ = ["StowLimits", "StowResult", "parse_stow_content_type", "store_multipart"]

logger = logging.getLogger(__name__)

OUT_OF_RESOURCES = 0xA700
DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
CANNOT_UNDERSTAND = 0xC000
STUDY_UID_MISMATCH = 0xC409  # in the Cxxx "cannot understand" range; the code dcm4chee uses
PROCESSING_FAILURE = 0x0110
DUPLICATE_SOP_INSTANCE = 0x0111  # same SOP Instance UID stored with different content
_PREAMBLE_MAX = 64 << 10
_COPY_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class StowLimits:
    """Bounds of one STOW-RS request."""

    max_part_bytes: int
    max_parts: int
    scratch_dir: Path


@dataclass(slots=True)
class StowResult:
    """What happened to each part: stored (or already stored) and failed entries."""

    referenced: list[InstanceHeader] = field(default_factory=list)
    failed: list[tuple[InstanceHeader | None, int]] = field(default_factory=list)
    new_instances: int = 0


def parse_stow_content_type(content_type: str | None) -> bytes:
    """The boundary of a ``multipart/related; type="application/dicom"`` request."""
    media_type, params = split_params(content_type or "")
    part_type = params.get("type", "application/dicom").lower()
    if media_type != "multipart/related" or part_type != "application/dicom":
        raise UnsupportedMediaError(
            f"STOW-RS got Content-Type {media_type or 'none'!r} (type {part_type!r}); expected "
            "'multipart/related; type=\"application/dicom\"; boundary=...'"
        )
    boundary = params.get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise InvalidRequestError("multipart/related request without a valid boundary parameter")
    return boundary.encode("latin-1")


class _PartWriter:
    """Callbacks of the multipart parser: each part's headers and bytes into a temporary file."""

    def __init__(self, limits: StowLimits, on_part: Callable[[IO[bytes], str, int], None]) -> None:
        self.limits = limits
        self.on_part = on_part
        self.count = 0
        self._file: IO[bytes] | None = None
        self._size = 0
        self._field = bytearray()
        self._value = bytearray()
        self._content_type = ""

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._begin,
            "on_part_data": self._data,
            "on_part_end": self._end,
            "on_header_field": lambda d, s, e: self._field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._value.extend(d[s:e]),
            "on_header_end": self._header_end,
        }

    def _begin(self) -> None:
        self.count += 1
        if self.count > self.limits.max_parts:
            raise UploadTooLargeError(f"more than {self.limits.max_parts} parts in one request")
        # Closed by _end or by close(): it outlives this callback.
        self._file = tempfile.TemporaryFile(dir=self.limits.scratch_dir, prefix="stow-")  # noqa: SIM115
        self._size = 0
        self._content_type = ""

    def _header_end(self) -> None:
        if self._field.decode("latin-1").strip().lower() == "content-type":
            self._content_type = self._value.decode("latin-1")
        self._field.clear()
        self._value.clear()

    def _data(self, data: bytes, start: int, end: int) -> None:
        assert self._file is not None
        self._size += end - start
        if self._size > self.limits.max_part_bytes:
            raise UploadTooLargeError(
                f"part {self.count} is larger than the limit of {self.limits.max_part_bytes} "
                "bytes per instance"
            )
        self._file.write(data[start:end])

    def _end(self) -> None:
        """A part is complete: store it now, before the parser reads on, then drop its file."""
        assert self._file is not None
        fp, self._file = self._file, None
        with fp:
            fp.seek(0)
            self.on_part(fp, self._content_type, self.count)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def in_part(self) -> bool:
        return self._file is not None


def _skip_preamble(chunks: Iterator[bytes], boundary: bytes) -> Iterator[bytes]:
    """Drop a MIME preamble (RFC 2046 section 5.1.1) the parser would refuse."""
    head = b""
    marker = b"--" + boundary
    for chunk in chunks:
        head += chunk
        at = head.find(marker)
        if at >= 0:
            yield head[at:]
            yield from chunks
            return
        if len(head) > _PREAMBLE_MAX:
            raise InvalidRequestError("no multipart boundary found at the start of the body")
    if head:
        yield head


class _Store:
    """Ingest completed parts one by one, recording each outcome."""

    def __init__(
        self,
        session: Session,
        blobs: BlobStore,
        who: str,
        study_uid: str | None,
        scratch_dir: Path,
    ) -> None:
        self.scratch_dir = scratch_dir
        self.session = session
        self.blobs = blobs
        self.who = who
        self.study_uid = study_uid
        self.result = StowResult()

    def part(self, fp: IO[bytes], content_type: str, number: int) -> None:
        media_type, _ = split_params(content_type) if content_type else ("application/dicom", {})
        if media_type not in ("application/dicom", "application/octet-stream"):
            logger.info("STOW-RS part %d has media type %s; not stored", number, media_type)
            self.result.failed.append((None, CANNOT_UNDERSTAND))
            return
        head = fp.read(132)
        fp.seek(0)
        if lacks_preamble(head):
            # File meta information without the preamble (what pydicom.dcmwrite writes for a
            # dataset built in memory, e.g. by dicomweb-client): stored as a full Part 10 file.
            with tempfile.TemporaryFile(dir=self.scratch_dir, prefix="stow-") as fixed:
                fixed.write(PART10_PREFIX)
                shutil.copyfileobj(fp, fixed, _COPY_CHUNK)
                fixed.seek(0)
                self._part(fixed, number)
            return
        self._part(fp, number)

    def _part(self, fp: IO[bytes], number: int) -> None:
        name = f"part {number}"
        header: InstanceHeader | None = None
        try:
            header = read_identity(fp, name)
            fp.seek(0)
            if self.study_uid is not None and header.study_instance_uid != self.study_uid:
                logger.info("STOW-RS %s belongs to another study than the URL's", name)
                self.result.failed.append((header, STUDY_UID_MISMATCH))
                return
            stored = ingest_instance(self.session, self.blobs, fp, self.who, name)
        except (NotDicomError, CorruptFileError) as exc:
            logger.info("STOW-RS %s not stored: %s", name, type(exc).__name__)
            self.result.failed.append((header, CANNOT_UNDERSTAND))
            return
        except InvalidRequestError:
            self.result.failed.append((header, DATASET_DOES_NOT_MATCH_SOP_CLASS))
            return
        except InstanceConflictError:
            logger.info("STOW-RS %s conflicts with a stored instance", name)
            self.result.failed.append((header, DUPLICATE_SOP_INSTANCE))
            return
        except OSError:
            logger.exception("STOW-RS %s could not be written", name)
            self.result.failed.append((header, OUT_OF_RESOURCES))
            return
        except Exception:
            logger.exception("STOW-RS %s failed", name)
            self.result.failed.append((header, PROCESSING_FAILURE))
            return
        self.result.referenced.append(stored.header)
        if stored.status == "stored":
            self.result.new_instances += 1
            fp.seek(0)
            self._cache(fp, stored.header)

    def _cache(self, fp: IO[bytes], header: InstanceHeader) -> None:
        """Fill the query caches of a new instance from the header in hand (best effort)."""
        try:
            row = self.session.execute(
                select(Instance).where(Instance.sop_instance_uid == header.sop_instance_uid)
            ).scalar_one()
            series = self.session.get(Series, row.series_pk)
            study = self.session.get(Study, series.study_pk) if series else None
            ds = read_header_from(fp)
            cache_from_dataset(ds, row, series, study)
            self.session.commit()
        except Exception:
            self.session.rollback()
            logger.warning("query cache of a new instance not filled; filled at first query")


def read_header_from(fp: IO[bytes]) -> HeaderJson:
    """A header from an open file (for the query cache)."""
    return read_header_json(fp)


def store_multipart(
    chunks: Iterator[bytes],
    boundary: bytes,
    session: Session,
    blobs: BlobStore,
    who: str,
    limits: StowLimits,
    study_uid: str | None = None,
) -> StowResult:
    """Parse a STOW-RS body from ``chunks`` and store each part as soon as it is complete.

    Runs in a worker thread. On an error that refuses the whole request the remaining body is
    read and dropped, so that the client receives the answer instead of a broken connection.
    """
    limits.scratch_dir.mkdir(parents=True, exist_ok=True)
    store = _Store(session, blobs, who, study_uid, limits.scratch_dir)
    writer = _PartWriter(limits, store.part)
    parser = MultipartParser(boundary, callbacks=writer.callbacks())  # type: ignore[arg-type]
    stream = _skip_preamble(chunks, boundary)
    try:
        for chunk in stream:
            parser.write(chunk)
        parser.finalize()
        truncated = writer.in_part
    except MultipartParseError as exc:
        for _ in stream:
            pass
        raise InvalidRequestError(
            f"malformed multipart/related body ({exc}); expected parts separated by the boundary"
        ) from exc
    except (UploadTooLargeError, InvalidRequestError, OSError):  # OSError: e.g. the disk is full
        for _ in stream:
            pass
        raise
    finally:
        writer.close()
    if truncated:
        store.result.failed.append((None, CANNOT_UNDERSTAND))  # a truncated last part
    if writer.count == 0:
        raise InvalidRequestError("the multipart/related body holds no part; expected instances")
    return store.result
