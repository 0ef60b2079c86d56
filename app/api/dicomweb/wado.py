"""WADO-RS: instances of a study, series or instance, streamed from the blob store, and metadata.

The database gives the stored instances (checked to belong to the study and series of the URL);
the answer then streams file by file, each part in its own transfer syntax: as stored when the
client accepts it (``transfer-syntax=*``), else decompressed to Explicit VR Little Endian, the
default of ``application/dicom`` (one instance in memory at a time). Metadata is each instance's
header as DICOM JSON, streamed as a JSON array; pixel data and other large binary values are
given as ``BulkDataURI`` links to this service's bulk data resource. The DICOM work (transfer
syntax, transcoding, DICOM JSON) is done by :mod:`dicomio.frames` and :mod:`dicomio.dicomjson`.

References
----------
DICOM PS3.18 section 10.4 (Retrieve Transaction), 8.7.3 (transfer syntaxes), Annex F (DICOM JSON).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.dicomweb.media import DicomAcceptance
from app.db.models import Instance, Series, Study
from app.errors import NotFoundError
from app.store.blobs import BlobStore
from dicomio.dicomjson import PIXEL_DATA_TAGS
from dicomio.dicomjson import metadata_json as _metadata_json
from dicomio.frames import stored_transfer_syntax, transcode_explicit_le

__all__ = [
    "PIXEL_TAGS",
    "StoredInstance",
    "instance_bytes",
    "metadata_json",
    "resolve_instances",
]

logger = logging.getLogger(__name__)

#: Pixel Data, Float Pixel Data, Double Float Pixel Data: always given as bulk data.
PIXEL_TAGS = PIXEL_DATA_TAGS
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class StoredInstance:
    """Where one instance of a retrieve lives, and which study and series it belongs to."""

    study_uid: str
    series_uid: str
    sop_uid: str
    path: Path

    def url(self, base: str) -> str:
        """This instance's WADO-RS URL under ``base`` (the ``/dicomweb`` root)."""
        return f"{base}/studies/{self.study_uid}/series/{self.series_uid}/instances/{self.sop_uid}"


def resolve_instances(
    session: Session,
    blobs: BlobStore,
    study_uid: str,
    series_uid: str | None = None,
    sop_uid: str | None = None,
) -> list[StoredInstance]:
    """The stored instances under a study (series, instance) URL; NotFoundError when none."""
    stmt = (
        select(Instance.sha256, Instance.sop_instance_uid, Series.series_instance_uid)
        .join(Series, Instance.series_pk == Series.id)
        .join(Study, Series.study_pk == Study.id)
        .where(Study.study_instance_uid == study_uid)
        .order_by(Series.id, Instance.instance_number, Instance.id)
    )
    if series_uid is not None:
        stmt = stmt.where(Series.series_instance_uid == series_uid)
    if sop_uid is not None:
        stmt = stmt.where(Instance.sop_instance_uid == sop_uid)
    found = [
        StoredInstance(study_uid, se_uid, uid, blobs.path(sha))
        for sha, uid, se_uid in session.execute(stmt)
    ]
    if not found:
        what = (
            f"instance {sop_uid}" if sop_uid else f"series {series_uid}" if series_uid else "study"
        )
        raise NotFoundError(f"no stored {what} under study {study_uid}")
    return found


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            yield chunk


def instance_bytes(
    item: StoredInstance, acceptance: DicomAcceptance
) -> tuple[str, Iterator[bytes]]:
    """The part's transfer syntax and bytes: the file as stored, or transcoded when asked."""
    stored = stored_transfer_syntax(item.path)
    wanted = acceptance.choose(stored)
    if wanted == stored:
        return stored, _file_chunks(item.path)
    try:
        return wanted, iter([transcode_explicit_le(item.path)])
    except Exception:
        logger.warning(
            "instance could not be transcoded from %s to %s; sent as stored", stored, wanted
        )
        return stored, _file_chunks(item.path)


def metadata_json(item: StoredInstance, base: str) -> dict[str, Any]:
    """One instance's header as DICOM JSON, with bulk data as links (never read into memory)."""
    instance_url = item.url(base)
    return _metadata_json(item.path, lambda key: f"{instance_url}/bulkdata/{key}")


def metadata_stream(items: Sequence[StoredInstance], base: str) -> Iterator[bytes]:
    """A JSON array of the instances' metadata, one instance at a time."""
    yield b"["
    for n, item in enumerate(items):
        if n:
            yield b","
        yield json.dumps(metadata_json(item, base), separators=(",", ":")).encode("utf-8")
    yield b"]"
