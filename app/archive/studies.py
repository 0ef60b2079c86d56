"""Listings of stored studies and series, with what a user needs to pick the right study.

Each study shows its StudyDate and description and a digest of its PatientID (never the ID), each
series its modality, contrast phase, number, description and instance count, so a timepoint is
never linked blind. Attributes come from the QIDO-RS cache when it is filled, else from a stored
header (read, not cached: a listing runs on a read-only session).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.archive.attributes import (
    PATIENT_KEYWORDS,
    SERIES_KEYWORDS,
    STUDY_KEYWORDS,
    attrs_of,
    read_header,
)
from app.db.models import Instance, Series, Study
from app.store.blobs import BlobStore
from dicomio.dicomjson import HeaderJson

__all__ = [
    "describe_studies",
    "dicom_date",
    "json_value",
    "list_studies",
    "patient_id_digest",
]

logger = logging.getLogger(__name__)


def json_value(attrs: dict[str, Any] | None, tag: str) -> str | None:
    """Return the first value of ``tag`` in DICOM JSON ``attrs`` as text (``None``: none)."""
    element = (attrs or {}).get(tag)
    if not isinstance(element, dict):
        return None
    values = element.get("Value")
    if not isinstance(values, list) or not values or values[0] in (None, ""):
        return None
    first = values[0]
    if isinstance(first, dict):  # a person name
        first = first.get("Alphabetic", "")
    text = str(first).strip()
    return text or None


def dicom_date(raw: str | None) -> dt.date | None:
    """Return a DA value (``YYYYMMDD``) as a date; ``None`` when missing or not a date."""
    if raw is None or len(raw) < 8 or not raw[:8].isdigit():
        return None
    try:
        return dt.date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
    except ValueError:
        return None


def patient_id_digest(patient_id: str | None) -> str | None:
    """SHA-256 (hex) of a PatientID, to compare patients without showing the ID."""
    if patient_id is None or not patient_id.strip():
        return None
    return hashlib.sha256(patient_id.strip().encode("utf-8")).hexdigest()


def _first_header(session: Session, blobs: BlobStore, series_pks: list[int]) -> HeaderJson | None:
    """Return the header of the first stored instance of these series (read once), if readable."""
    if not series_pks:
        return None
    first = session.execute(
        select(Instance).where(Instance.series_pk.in_(series_pks)).order_by(Instance.id).limit(1)
    ).scalar_one_or_none()
    if first is None:
        return None
    try:
        return read_header(blobs, first.sha256)
    except Exception:  # an unreadable blob must not break a listing
        logger.warning("could not read a stored header for the study listing")
        return None


def _attrs(header: HeaderJson | None, keywords: tuple[str, ...]) -> dict[str, Any]:
    return {} if header is None else attrs_of(header, keywords)


def list_studies(
    session: Session, blobs: BlobStore, *, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """Studies (newest first) with their date, description, patient digest and series."""
    studies = list(
        session.execute(
            select(Study)
            .order_by(Study.created_at.desc(), Study.id.desc())
            .limit(limit)
            .offset(offset)
        ).scalars()
    )
    return _describe(session, blobs, studies)


def describe_studies(
    session: Session, blobs: BlobStore, study_uids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Return the listing entry of each stored study of ``study_uids``, by Study Instance UID.

    Entries as :func:`list_studies` gives them: what an upload tells the user it stored.
    """
    if not study_uids:
        return {}
    stmt = select(Study).where(Study.study_instance_uid.in_(list(study_uids)))
    studies = list(session.execute(stmt).scalars())
    return {d["study_instance_uid"]: d for d in _describe(session, blobs, studies)}


def _describe(session: Session, blobs: BlobStore, studies: list[Study]) -> list[dict[str, Any]]:
    if not studies:
        return []
    counts = (
        select(Series, func.count(Instance.id))
        .join(Instance, Instance.series_pk == Series.id, isouter=True)
        .where(Series.study_pk.in_([s.id for s in studies]))
        .group_by(Series.id)
        .order_by(Series.id)
    )
    by_study: dict[int, list[tuple[Series, int]]] = {s.id: [] for s in studies}
    for series, count in session.execute(counts):
        by_study[series.study_pk].append((series, int(count)))
    out = []
    for study in studies:
        members = by_study[study.id]
        # One header read per study: its patient attributes are never cached (models' rule).
        header = _first_header(session, blobs, [series.id for series, _ in members])
        study_attrs = study.dicom_attrs
        if study_attrs is None:
            study_attrs = _attrs(header, STUDY_KEYWORDS)
        patient = _attrs(header, PATIENT_KEYWORDS)
        date = dicom_date(json_value(study_attrs, "00080020"))
        listed = []
        for series, count in members:
            attrs = series.dicom_attrs
            if attrs is None:
                attrs = _attrs(_first_header(session, blobs, [series.id]), SERIES_KEYWORDS)
            number = json_value(attrs, "00200011")
            listed.append(
                {
                    "series_instance_uid": series.series_instance_uid,
                    "modality": series.modality,
                    "phase": series.phase,
                    "series_number": int(number)
                    if number and number.lstrip("-").isdigit()
                    else None,
                    "series_description": json_value(attrs, "0008103E") or "",
                    "instances": count,
                }
            )
        out.append(
            {
                "study_instance_uid": study.study_instance_uid,
                "study_date": None if date is None else date.isoformat(),
                "study_description": json_value(study_attrs, "00081030") or "",
                "patient_id_digest": patient_id_digest(json_value(patient, "00100020")),
                "series": listed,
            }
        )
    return out
