"""A subject's data as the reporting outputs need it, assembled from the database.

- Measurements: the latest measurement of each timepoint (as the EDC burden read uses), with the
  timepoint's label as the visit.
- The RECIST assessment: the lesion table from the baseline on
  (:func:`app.subjects.lesions.assessment_input`) through :func:`recist.assess`, as
  ``GET /v1/subjects/{id}/assessment`` computes it.
- Stable lesion identities: a lesion of the lesion table gets a UID derived from (subject, lesion
  id) (PS3.5 B.2, ``2.25.<UUID as integer>``); a measured lesion linked to it (a mask-derived
  reading of the lesion table) carries that UID in the SR, the SEG and the FHIR focus, so it is
  the same lesion at every timepoint.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import repo
from app.db.models import Lesion, LesionMeasurement, Measurement, Subject, Timepoint
from app.errors import InvalidRequestError
from app.subjects.lesions import assessment_input, study_timepoints
from recist import assess
from recist.errors import RecistError
from reporting import SubjectData, TimepointMeasurement

__all__ = [
    "Assessment",
    "SubjectMeasurement",
    "canonical_sha256",
    "derived_uid",
    "lesion_uid",
    "measurement_lesion_uids",
    "optional_assessment",
    "subject_assessment",
    "subject_data",
    "subject_measurements",
    "timepoint_measurements",
]

logger = logging.getLogger(__name__)

_NAMESPACE = uuid.UUID("0d6f8a52-3c1e-5b7a-9e44-6f1d2a8c7b30")


def derived_uid(*parts: str) -> str:
    """Return a DICOM UID derived from ``parts`` (PS3.5 B.2: ``2.25.`` + a UUID as an integer)."""
    return f"2.25.{uuid.uuid5(_NAMESPACE, '|'.join(parts)).int}"


def lesion_uid(subject_id: str, lesion_id: str) -> str:
    """Return the Tracking UID of a lesion of the subject's lesion table (or ``"Liver"``)."""
    return derived_uid("lesion", subject_id, lesion_id)


def canonical_sha256(obj: Any) -> str:
    """SHA-256 of the canonical JSON of ``obj`` (sorted keys, no spaces)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class SubjectMeasurement:
    """A timepoint and its latest measurement."""

    timepoint: Timepoint
    measurement: Measurement


@dataclass(frozen=True, slots=True)
class Assessment:
    """A subject's RECIST input (the lesion table) and the engine's output for it."""

    input: dict[str, Any]
    output: dict[str, Any]

    @property
    def input_sha256(self) -> str:
        """The SHA-256 of the canonical JSON of the input."""
        return canonical_sha256(self.input)

    def has_date(self, date: dt.date) -> bool:
        """Whether the assessment has a timepoint dated ``date``."""
        return any(tp.get("date") == date.isoformat() for tp in self.output.get("timepoints", []))


def subject_measurements(session: Session, subject: Subject) -> list[SubjectMeasurement]:
    """Each timepoint (by date) that has a measurement, with its latest one."""
    out = []
    for tp in repo.subject_timepoints(session, subject):
        m = repo.measurement_of_record(session, tp)
        if m is not None:
            out.append(SubjectMeasurement(tp, m))
    return out


def measurement_lesion_uids(
    session: Session, subject: Subject, measurement: Measurement
) -> dict[str, str]:
    """Measured lesion id (``"L1"``) -> Tracking UID of the lesion-table lesion it was read as.

    ``"Liver"`` maps to the subject's liver UID. A lesion linked to the lesion table (by a reader,
    or by lesion tracking: each fragment of a split lesion) takes its record lesion's UID, the
    same at every visit; one not linked gets a UID derived from the measurement and its id.
    """
    uids = {"Liver": lesion_uid(subject.subject_id, "Liver")}
    for lesion in measurement.result.get("lesions", []):
        measured_id = str(lesion.get("lesion_id", ""))
        uids[measured_id] = derived_uid("measured-lesion", measurement.id, measured_id)
    for measured, table_id, _status in _links(session, measurement):
        uids[measured] = lesion_uid(subject.subject_id, table_id)
    return uids


def _links(session: Session, measurement: Measurement) -> list[tuple[str, str, str | None]]:
    """Return each reading linked to the measurement.

    As ``(measured lesion id, record lesion id, reading status)``; a split lesion's fragments
    (``"L3+L4"``) one each.
    """
    stmt = (
        select(LesionMeasurement.source_lesion_id, Lesion.lesion_id, LesionMeasurement.status)
        .join(Lesion, Lesion.id == LesionMeasurement.lesion_pk)
        .where(
            LesionMeasurement.measurement_id == measurement.id,
            LesionMeasurement.source_lesion_id.is_not(None),
        )
    )
    return [
        (part, str(record_id), status)
        for measured, record_id, status in session.execute(stmt)
        for part in str(measured).split("+")
    ]


def measurement_lesion_names(session: Session, measurement: Measurement) -> dict[str, str]:
    """Map each measured lesion id (``"L1"``) to the record lesion it was read as (``"T1"``).

    Each fragment of a split lesion names its record lesion; lesions not linked are left out.
    """
    names: dict[str, str] = {}
    for measured, record_id, status in _links(session, measurement):
        if status != "merged":  # an absorbed lesion: the continuing one names the coalesced
            names.setdefault(measured, record_id)
    return names


def timepoint_measurements(
    session: Session, subject: Subject, items: list[SubjectMeasurement]
) -> tuple[TimepointMeasurement, ...]:
    """Return the reporting records of the subject's measurements (visit = timepoint label)."""
    return tuple(
        TimepointMeasurement.from_json(
            item.timepoint.date,
            item.measurement.result,
            visit=item.timepoint.label,
            lesion_uids=measurement_lesion_uids(session, subject, item.measurement),
            lesion_names=measurement_lesion_names(session, item.measurement),
        )
        for item in items
    )


def subject_assessment(session: Session, subject: Subject) -> Assessment:
    """Return the subject's RECIST 1.1 assessment from its baseline on.

    Raises
    ------
    InvalidRequestError
        No baseline timepoint, or no lesion in the lesion table yet.
    recist.RecistError
        The lesion table cannot be assessed (the message says why).
    """
    _, timepoints = study_timepoints(session, subject)
    doc = assessment_input(session, subject, timepoints)
    if not doc["lesions"]:
        raise InvalidRequestError(
            f"subject {subject.subject_id} has no lesions in its RECIST lesion table yet; "
            f"record them with PUT /v1/subjects/{subject.subject_id}/lesions"
        )
    return Assessment(doc, assess(doc))


def optional_assessment(session: Session, subject: Subject) -> Assessment | None:
    """Return the assessment, or ``None`` when the subject cannot be assessed yet."""
    try:
        return subject_assessment(session, subject)
    except (InvalidRequestError, RecistError) as exc:
        logger.info("subject not assessable for an output: %s", type(exc).__name__)
        return None


def subject_data(
    session: Session, subject: Subject, items: list[SubjectMeasurement], assessment: Assessment
) -> SubjectData:
    """Return the :class:`~reporting.SubjectData` of a subject (its assessment and measurements)."""
    timepoints = repo.subject_timepoints(session, subject)
    visits = {tp.date.isoformat(): tp.label for tp in timepoints}
    baseline = next((tp for tp in timepoints if tp.baseline), None)
    screening = [tp for tp in timepoints if baseline is not None and tp.date < baseline.date]
    screening_input = assessment_input(session, subject, screening) if screening else None
    return SubjectData(
        assessment=assessment.output,
        assessment_input=assessment.input,
        arm=subject.arm,
        timepoints=timepoint_measurements(session, subject, items),
        visits=visits,
        screening_input=screening_input,
    )
