"""Look-ups shared by the routes and the jobs; each raises NotFoundError with a clear message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.db.models import (
    Adoption,
    Instance,
    Job,
    Measurement,
    Segmentation,
    Series,
    Subject,
    Timepoint,
)
from app.errors import NotFoundError
from app.vocab import MeasurementOrigin

__all__ = [
    "adopted_versions",
    "get_instance",
    "get_job",
    "get_measurement",
    "get_segmentation",
    "get_series",
    "get_subject",
    "get_timepoint",
    "has_liver",
    "live_subjects",
    "measurement_of_record",
    "measurements_in_use",
    "next_version",
    "series_instances",
    "subject_timepoints",
    "timepoint_measurements",
]


def get_subject(session: Session, subject_id: str) -> Subject:
    """Return the subject with this trial subject id."""
    found = session.execute(
        select(Subject).where(Subject.subject_id == subject_id)
    ).scalar_one_or_none()
    if found is None:
        raise NotFoundError(f"no subject {subject_id!r}; create it with POST /v1/subjects")
    if found.voided:
        raise NotFoundError(f"subject {subject_id!r} was voided; its record is kept for audit only")
    return found


def get_timepoint(session: Session, timepoint_id: str, subject: Subject | None = None) -> Timepoint:
    """Return a timepoint by id (of ``subject`` when given)."""
    found = session.get(Timepoint, timepoint_id)
    if found is None or (subject is not None and found.subject_pk != subject.id):
        raise NotFoundError(f"no timepoint {timepoint_id!r} for this subject")
    if found.voided or found.subject.voided:
        raise NotFoundError(f"timepoint {timepoint_id!r} was voided; kept for audit only")
    return found


def subject_timepoints(session: Session, subject: Subject) -> list[Timepoint]:
    """Return a subject's timepoints that are not voided, by date (then label)."""
    stmt = (
        select(Timepoint)
        .where(Timepoint.subject_pk == subject.id, Timepoint.voided_at.is_(None))
        .order_by(Timepoint.date, Timepoint.label)
    )
    return list(session.execute(stmt).scalars())


def get_series(session: Session, series_instance_uid: str) -> Series:
    """Return a stored series by its UID."""
    found = session.execute(
        select(Series).where(Series.series_instance_uid == series_instance_uid)
    ).scalar_one_or_none()
    if found is None:
        raise NotFoundError(
            f"no stored series {series_instance_uid!r}; upload it first (POST /v1/uploads)"
        )
    return found


def series_instances(session: Session, series: Series) -> list[Instance]:
    """Return the instances of a series, by instance number then SOP Instance UID."""
    stmt = (
        select(Instance)
        .where(Instance.series_pk == series.id)
        .order_by(Instance.instance_number, Instance.sop_instance_uid)
    )
    return list(session.execute(stmt).scalars())


def get_instance(session: Session, sop_instance_uid: str) -> Instance:
    """Return a stored instance by its SOP Instance UID."""
    found = session.execute(
        select(Instance).where(Instance.sop_instance_uid == sop_instance_uid)
    ).scalar_one_or_none()
    if found is None:
        raise NotFoundError(f"no stored instance {sop_instance_uid!r}")
    return found


def get_segmentation(session: Session, segmentation_upload_id: str) -> Segmentation:
    """Return an uploaded label map by id."""
    found = session.get(Segmentation, segmentation_upload_id)
    if found is None:
        raise NotFoundError(f"no segmentation upload {segmentation_upload_id!r}")
    return found


def get_job(session: Session, job_id: str) -> Job:
    """Return a job by id."""
    found = session.get(Job, job_id)
    if found is None:
        raise NotFoundError(f"no job {job_id!r}")
    return found


def get_measurement(session: Session, measurement_id: str) -> Measurement:
    """Return a measurement by id."""
    found = session.get(Measurement, measurement_id)
    if found is None:
        raise NotFoundError(f"no measurement {measurement_id!r}")
    if found.voided:
        raise NotFoundError(f"measurement {measurement_id!r} was voided; kept for audit only")
    tp = session.get(Timepoint, found.timepoint_id)
    if tp is not None and (tp.voided or tp.subject.voided):
        raise NotFoundError(
            f"measurement {measurement_id!r} belongs to a voided record; kept for audit only"
        )
    return found


def has_liver(result: Mapping[str, Any]) -> bool:
    """Whether a measurement measured a liver (one without adds lesions, never a burden)."""
    return result.get("liver_volume_ml") is not None


def adopted_versions(session: Session) -> list[str]:
    """Return the algorithm versions adopted (``liverburden adopt``), oldest adoption first."""
    stmt = select(Adoption.algorithm_version).order_by(Adoption.adopted_at, Adoption.id)
    return list(session.execute(stmt).scalars())


def timepoint_measurements(session: Session, timepoint: Timepoint) -> list[Measurement]:
    """Return a timepoint's measurements that are not voided, the latest first.

    Re-measurements by ``liverburden reprocess`` take part once their algorithm version is
    adopted (:class:`~app.db.models.Adoption`); until then they are held back. Once taking
    part, a re-measurement supersedes the earlier measurements of the same request (same
    timepoint, series, segmentation and label choices): those leave the list, so that a
    measurement without a liver does not bring its lesions twice.
    """
    stmt = (
        select(Measurement)
        .where(Measurement.timepoint_id == timepoint.id, Measurement.voided_at.is_(None))
        .order_by(Measurement.created_at.desc(), Measurement.version.desc())
    )
    stmt = stmt.where(
        or_(
            Measurement.origin != MeasurementOrigin.REPROCESS,
            Measurement.algorithm_version.in_(select(Adoption.algorithm_version)),
        )
    )
    rows = list(session.execute(stmt).scalars())  # the latest first
    superseded: set[str] = set()
    out = []
    for m in rows:
        if m.request_sha256 in superseded:
            continue
        if m.origin == MeasurementOrigin.REPROCESS:
            superseded.add(m.request_sha256)
        out.append(m)
    return out


def measurement_of_record(session: Session, timepoint: Timepoint) -> Measurement | None:
    """Return the measurement a timepoint's burden and outputs come from (trial-record.md).

    The one a radiologist picked (``PUT .../record``) while it is not voided; else the latest
    measurement with a liver (latest created, highest version breaks ties), so a later measurement
    without a liver (extrahepatic lesions only) never replaces the burden; else the latest one.
    """
    if timepoint.record_measurement_id is not None:
        chosen = session.get(Measurement, timepoint.record_measurement_id)
        if chosen is not None and not chosen.voided:
            return chosen
    rows = timepoint_measurements(session, timepoint)
    with_liver = [m for m in rows if has_liver(m.result)]
    candidates = with_liver or rows
    return candidates[0] if candidates else None


def next_version(session: Session, timepoint_id: str, series_uid: str, seg_ref: str) -> int:
    """One more than the highest version of (timepoint, series, segmentation); 1 for the first."""
    stmt = select(func.max(Measurement.version)).where(
        Measurement.timepoint_id == timepoint_id,
        Measurement.series_instance_uid == series_uid,
        Measurement.segmentation_ref == seg_ref,
    )
    return int(session.execute(stmt).scalar_one() or 0) + 1


def live_subjects(session: Session) -> list[Subject]:
    """Every subject not voided, by subject id (who trial-wide work speaks of)."""
    stmt = select(Subject).where(Subject.voided_at.is_(None)).order_by(Subject.subject_id)
    return list(session.execute(stmt).scalars())


def measurements_in_use(session: Session, timepoint: Timepoint) -> list[Measurement]:
    """Return the measurements a timepoint's record rests on.

    Its measurement of record (if any) first, then its measurements without a liver (they add
    lesions), oldest first; none voided.
    """
    record = measurement_of_record(session, timepoint)
    return ([] if record is None else [record]) + [
        m
        for m in reversed(timepoint_measurements(session, timepoint))
        if m is not record and not has_liver(m.result)
    ]
