"""The attributes QIDO-RS answers from, cached as DICOM JSON on the study, series, instance rows.

Each row's ``dicom_attrs`` column holds the standard query attributes of its level (PS3.18
Table 10.6.3-3 and -4, plus a few that viewers show), as read from a stored instance's header. No
patient attributes are ever cached in the database (the models' rule): patient name, ID, birth
date and sex are read from a stored header when a study-level answer needs them. Rows that have no
cache yet (instances stored by ``POST /v1/uploads``, or before this column existed) are filled the
first time a query needs them, so every ingest path is covered by one code path. Headers are read
and turned into DICOM JSON by :mod:`dicomio.dicomjson`.

References
----------
DICOM PS3.18 section 10.6.3 (QIDO-RS response attributes) and Annex F (DICOM JSON model).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import Instance, Series, Study
from app.store.blobs import BlobStore
from dicomio.dicomjson import HeaderJson, read_header_json

__all__ = [
    "INSTANCE_KEYWORDS",
    "PATIENT_KEYWORDS",
    "SERIES_KEYWORDS",
    "STUDY_KEYWORDS",
    "attrs_of",
    "cache_from_dataset",
    "ensure_instance_attrs",
    "ensure_series_attrs",
    "ensure_study_attrs",
    "patient_attrs",
    "read_header",
]

logger = logging.getLogger(__name__)

STUDY_KEYWORDS: tuple[str, ...] = (
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyDescription",
    "StudyID",
    "StudyInstanceUID",
    "TimezoneOffsetFromUTC",
)
SERIES_KEYWORDS: tuple[str, ...] = (
    "Modality",
    "SeriesDescription",
    "SeriesNumber",
    "SeriesInstanceUID",
    "SeriesDate",
    "SeriesTime",
    "BodyPartExamined",
    "ProtocolName",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
)
INSTANCE_KEYWORDS: tuple[str, ...] = (
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceNumber",
    "ContentDate",
    "ContentTime",
    "AcquisitionNumber",
    "ImageType",
    "Rows",
    "Columns",
    "BitsAllocated",
    "NumberOfFrames",
)
#: Returned at study level, never stored in the database.
PATIENT_KEYWORDS: tuple[str, ...] = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")


def read_header(blobs: BlobStore, sha256: str) -> HeaderJson:
    """Return a stored instance's header (no pixel data)."""
    return read_header_json(blobs.path(sha256))


def attrs_of(header: HeaderJson, keywords: Iterable[str]) -> dict[str, Any]:
    """Return the DICOM JSON of the ``keywords`` present in ``header`` (invalid values dropped)."""
    return header.attributes(keywords)


def cache_from_dataset(
    header: HeaderJson, instance: Instance, series: Series | None, study: Study | None
) -> None:
    """Fill the empty caches of an instance and (when given) its series and study."""
    if instance.dicom_attrs is None:
        instance.dicom_attrs = attrs_of(header, INSTANCE_KEYWORDS)
    if series is not None and series.dicom_attrs is None:
        series.dicom_attrs = attrs_of(header, SERIES_KEYWORDS)
    if study is not None and study.dicom_attrs is None:
        study.dicom_attrs = attrs_of(header, STUDY_KEYWORDS)


def _first_instances(session: Session, column: Any, pks: Sequence[int]) -> dict[int, Instance]:
    """For each study or series pk, its first stored instance."""
    if not pks:
        return {}
    if column is Instance.series_pk:
        stmt = select(Instance.series_pk, func.min(Instance.id)).where(Instance.series_pk.in_(pks))
        stmt = stmt.group_by(Instance.series_pk)
    else:
        stmt = (
            select(Series.study_pk, func.min(Instance.id))
            .join(Instance, Instance.series_pk == Series.id)
            .where(Series.study_pk.in_(pks))
            .group_by(Series.study_pk)
        )
    firsts: dict[int, int] = {int(pk): int(iid) for pk, iid in session.execute(stmt)}
    rows = session.execute(select(Instance).where(Instance.id.in_(firsts.values()))).scalars()
    by_id = {row.id: row for row in rows}
    return {pk: by_id[iid] for pk, iid in firsts.items() if iid in by_id}


def _commit(session: Session) -> None:
    try:
        session.commit()
    except Exception:  # a cache: losing a write race or a locked database is not an error
        logger.warning("could not save the DICOM attribute cache; it is refilled later")
        session.rollback()


def ensure_study_attrs(session: Session, blobs: BlobStore, studies: Sequence[Study]) -> None:
    """Fill the study-level caches still empty (one header read per such study)."""
    missing = [s for s in studies if s.dicom_attrs is None]
    if not missing:
        return
    firsts = _first_instances(session, Series.study_pk, [s.id for s in missing])
    for study in missing:
        inst = firsts.get(study.id)
        study.dicom_attrs = (
            attrs_of(read_header(blobs, inst.sha256), STUDY_KEYWORDS) if inst else {}
        )
    _commit(session)


def ensure_series_attrs(session: Session, blobs: BlobStore, series: Sequence[Series]) -> None:
    """Fill the series-level caches still empty (one header read per such series)."""
    missing = [s for s in series if s.dicom_attrs is None]
    if not missing:
        return
    firsts = _first_instances(session, Instance.series_pk, [s.id for s in missing])
    for row in missing:
        inst = firsts.get(row.id)
        row.dicom_attrs = attrs_of(read_header(blobs, inst.sha256), SERIES_KEYWORDS) if inst else {}
    _commit(session)


def ensure_instance_attrs(
    session: Session, blobs: BlobStore, instances: Sequence[Instance]
) -> None:
    """Fill the instance-level caches still empty (one header read per such instance)."""
    missing = [i for i in instances if i.dicom_attrs is None]
    if not missing:
        return
    for inst in missing:
        inst.dicom_attrs = attrs_of(read_header(blobs, inst.sha256), INSTANCE_KEYWORDS)
    _commit(session)


def patient_attrs(session: Session, blobs: BlobStore, study: Study) -> dict[str, Any]:
    """Return a study's patient attributes, read from its first stored instance (never cached)."""
    first = _first_instances(session, Series.study_pk, [study.id]).get(study.id)
    if first is None:
        return {}
    try:
        return attrs_of(read_header(blobs, first.sha256), PATIENT_KEYWORDS)
    except Exception:  # an unreadable blob must not break a listing
        logger.warning("could not read the header of a stored instance (study pk %d)", study.id)
        return {}
