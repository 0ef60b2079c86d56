"""A subject's imaging visits, checked at the door against the study they link to.

A timepoint that names a study is refused (contracts/trial-record.md, Consistency and corrections)
when the study is not stored, is already the study of another timepoint, belongs to another patient
than the subject's other studies, or is dated otherwise than the study's StudyDate without a
``date_reason``; without a ``date`` it takes the StudyDate. Messages name UIDs, dates and trial
subject ids, never a patient identifier: patients are compared by a digest of their PatientID.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.archive.attributes import ensure_study_attrs, patient_attrs
from app.archive.studies import dicom_date, json_value, patient_id_digest
from app.auth import audit
from app.db import repo
from app.db.models import Study, Subject, Timepoint
from app.errors import AlreadyExistsError, InvalidRequestError
from app.store.blobs import BlobStore

__all__ = ["TimepointDraft", "create_timepoint", "patient_digest", "study_date"]

#: DICOM JSON tags (PS3.18 Annex F) of StudyDate and PatientID.
_STUDY_DATE = "00080020"
_PATIENT_ID = "00100020"


@dataclass(frozen=True, slots=True)
class TimepointDraft:
    """What a user asks for: a labelled visit, its date (or the study's), its study."""

    label: str
    date: dt.date | None
    study_instance_uid: str | None
    baseline: bool
    date_reason: str | None = None


def study_date(session: Session, blobs: BlobStore, study: Study) -> dt.date | None:
    """The study's StudyDate (from the attribute cache, filled from a stored header if empty)."""
    ensure_study_attrs(session, blobs, [study])
    return dicom_date(json_value(study.dicom_attrs, _STUDY_DATE))


def patient_digest(session: Session, blobs: BlobStore, study: Study) -> str | None:
    """SHA-256 of the study's PatientID (read from a stored header); ``None`` when it has none."""
    return patient_id_digest(json_value(patient_attrs(session, blobs, study), _PATIENT_ID))


def _stored_study(session: Session, uid: str) -> Study:
    study = session.execute(
        select(Study).where(Study.study_instance_uid == uid)
    ).scalar_one_or_none()
    if study is None:
        raise InvalidRequestError(
            f"study {uid} is not stored; upload it first (POST /v1/uploads or STOW-RS), then "
            "link the timepoint to it"
        )
    return study


def _check_study_unused(session: Session, uid: str) -> None:
    other = session.execute(
        select(Timepoint)
        .join(Subject, Subject.id == Timepoint.subject_pk)
        .where(
            Timepoint.study_instance_uid == uid,
            Timepoint.voided_at.is_(None),
            Subject.voided_at.is_(None),
        )
        .limit(1)
    ).scalar_one_or_none()
    if other is not None:
        raise AlreadyExistsError(
            f"study {uid} is already the study of timepoint {other.label!r} of subject "
            f"{other.subject.subject_id}; expected a study no other timepoint uses"
        )


def _check_same_patient(
    session: Session, blobs: BlobStore, subject: Subject, study: Study, others: list[Timepoint]
) -> None:
    mine = patient_digest(session, blobs, study)
    if mine is None:
        return
    uids = [tp.study_instance_uid for tp in others if tp.study_instance_uid]
    if not uids:
        return
    rows = session.execute(select(Study).where(Study.study_instance_uid.in_(uids))).scalars()
    for other in rows:
        theirs = patient_digest(session, blobs, other)
        if theirs is not None and theirs != mine:
            raise InvalidRequestError(
                f"study {study.study_instance_uid} belongs to another patient (PatientID differs) "
                f"than study {other.study_instance_uid} of subject {subject.subject_id}; expected "
                "the same patient's studies"
            )


def _checked_date(draft: TimepointDraft, from_study: dt.date | None, uid: str | None) -> dt.date:
    if draft.date is None:
        if from_study is None:
            where = f"study {uid} has no StudyDate" if uid else "the timepoint names no study"
            raise InvalidRequestError(f"give the timepoint's date: {where}")
        return from_study
    if from_study is not None and draft.date != from_study and not draft.date_reason:
        raise InvalidRequestError(
            f"date {draft.date.isoformat()} differs from the StudyDate {from_study.isoformat()} of "
            f"study {uid}; expected the StudyDate (or leave date out), or give date_reason to "
            "record another date"
        )
    return draft.date


def create_timepoint(
    session: Session, blobs: BlobStore, subject: Subject, draft: TimepointDraft, actor: str
) -> Timepoint:
    """Check ``draft`` against the subject's record and its study, store it, audit it."""
    timepoints = repo.subject_timepoints(session, subject)
    if any(tp.label == draft.label for tp in timepoints):
        raise AlreadyExistsError(
            f"subject {subject.subject_id} has a timepoint {draft.label!r} already"
        )
    if draft.baseline and any(tp.baseline for tp in timepoints):
        raise AlreadyExistsError(f"subject {subject.subject_id} has a baseline timepoint already")
    from_study: dt.date | None = None
    uid = draft.study_instance_uid
    if uid is not None:
        study = _stored_study(session, uid)
        _check_study_unused(session, uid)
        _check_same_patient(session, blobs, subject, study, timepoints)
        from_study = study_date(session, blobs, study)
    date = _checked_date(draft, from_study, uid)
    row = Timepoint(
        subject_pk=subject.id,
        label=draft.label,
        date=date,
        study_instance_uid=uid,
        baseline=draft.baseline,
        created_by=actor,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise AlreadyExistsError(
            f"subject {subject.subject_id} has a timepoint {draft.label!r}"
        ) from exc
    details: dict[str, object] = {
        "subject_id": subject.subject_id,
        "label": draft.label,
        "date": date.isoformat(),
        "study_instance_uid": uid,
        "baseline": draft.baseline,
    }
    if from_study is not None and date != from_study:
        details.update(study_date=from_study.isoformat(), date_reason=draft.date_reason)
    audit.record(session, actor, "timepoint.created", "timepoint", row.id, details)
    return row
