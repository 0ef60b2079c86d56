"""Corrections of the trial record: a timepoint's date or label, and voiding with a reason.

Nothing is deleted. A voided subject, timepoint or measurement keeps its row (``voided_at``,
``voided_by``, ``void_reason``) and its audit events, and leaves every reading: assessments,
eligibility, lesion tables and outputs (the repository's lookups skip it). Each correction is one
audit event with the reason and the values before and after, so ``liverburden audit verify`` still
verifies the chain.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth import audit
from app.db import repo
from app.db.models import Measurement, Subject, Timepoint, Voidable, utcnow
from app.errors import AlreadyExistsError, ConflictError, InvalidRequestError

__all__ = [
    "choose_record",
    "correct_timepoint",
    "void_measurement",
    "void_subject",
    "void_timepoint",
]


def _timepoint_values(tp: Timepoint) -> dict[str, Any]:
    return {"label": tp.label, "date": tp.date.isoformat()}


def correct_timepoint(
    session: Session,
    subject: Subject,
    tp: Timepoint,
    *,
    label: str | None,
    date: dt.date | None,
    reason: str,
    actor: str,
) -> Timepoint:
    """Change a timepoint's label and/or date; the old and new values are audited."""
    if label is None and date is None:
        raise InvalidRequestError("nothing to correct; expected a new date and/or label")
    if label is not None and label != tp.label:
        taken = session.execute(
            select(Timepoint.id).where(
                Timepoint.subject_pk == subject.id,
                Timepoint.label == label,
                Timepoint.voided_at.is_(None),
            )
        ).first()
        if taken is not None:
            raise AlreadyExistsError(
                f"subject {subject.subject_id} has a timepoint {label!r} already"
            )
    before = _timepoint_values(tp)
    if label is not None:
        tp.label = label
    if date is not None:
        tp.date = date
    session.flush()
    audit.record(
        session,
        actor,
        "timepoint.corrected",
        "timepoint",
        tp.id,
        {
            "subject_id": subject.subject_id,
            "reason": reason,
            "before": before,
            "after": _timepoint_values(tp),
        },
    )
    return tp


def _subject_values(subject: Subject) -> dict[str, Any]:
    date = subject.randomization_date
    return {"arm": subject.arm, "randomization_date": None if date is None else date.isoformat()}


def correct_subject(
    session: Session,
    subject: Subject,
    *,
    changes: dict[str, Any],
    reason: str,
    actor: str,
) -> Subject:
    """Set a subject's ``arm`` and/or ``randomization_date`` (the keys of ``changes``; a value
    of ``None`` clears it); the old and new values are audited."""
    unknown = set(changes) - {"arm", "randomization_date"}
    if unknown or not changes:
        raise InvalidRequestError(
            "nothing to correct; expected a new arm and/or randomization_date"
            if not unknown
            else f"cannot correct {', '.join(sorted(unknown))}; expected arm or randomization_date"
        )
    before = _subject_values(subject)
    for key, value in changes.items():
        setattr(subject, key, value)
    session.flush()
    audit.record(
        session,
        actor,
        "subject.corrected",
        "subject",
        subject.subject_id,
        {"reason": reason, "before": before, "after": _subject_values(subject)},
    )
    return subject


def _void(row: Voidable, reason: str, actor: str) -> None:
    row.voided_at = utcnow()
    row.voided_by = actor
    row.void_reason = reason


def void_timepoint(
    session: Session, subject: Subject, tp: Timepoint, *, reason: str, actor: str
) -> Timepoint:
    """Void a visit: it and its measurements leave every reading; its rows stay."""
    _void(tp, reason, actor)
    session.flush()
    audit.record(
        session,
        actor,
        "timepoint.voided",
        "timepoint",
        tp.id,
        {"subject_id": subject.subject_id, "reason": reason, **_timepoint_values(tp)},
    )
    return tp


def void_measurement(session: Session, m: Measurement, *, reason: str, actor: str) -> Measurement:
    """Void a measurement: the timepoint falls back to its previous measurement, if any."""
    _void(m, reason, actor)
    session.flush()
    audit.record(
        session,
        actor,
        "measurement.voided",
        "measurement",
        m.id,
        {"timepoint_id": m.timepoint_id, "reason": reason, "input_sha256": m.input_sha256},
    )
    return m


def void_subject(session: Session, subject: Subject, *, reason: str, actor: str) -> Subject:
    """Void a subject: it leaves listings, trial-wide outputs and every read of its record."""
    _void(subject, reason, actor)
    session.flush()
    audit.record(
        session, actor, "subject.voided", "subject", subject.subject_id, {"reason": reason}
    )
    return subject


def choose_record(
    session: Session,
    subject: Subject,
    tp: Timepoint,
    *,
    measurement_id: str,
    reason: str,
    actor: str,
) -> Measurement:
    """Make ``measurement_id`` (of this timepoint, not voided) its measurement of record."""
    chosen = session.get(Measurement, measurement_id)
    if chosen is None or chosen.voided or chosen.timepoint_id != tp.id:
        raise InvalidRequestError(
            f"measurement {measurement_id} is not a measurement of timepoint {tp.label!r} (or was "
            "voided); expected one of its measurements"
        )
    if chosen.id not in {m.id for m in repo.timepoint_measurements(session, tp)}:
        raise ConflictError(
            f"measurement {measurement_id} was reprocessed under algorithm version "
            f"{chosen.algorithm_version}, which is not adopted; expected a measurement the "
            "service serves (an admin adopts a version first)"
        )
    before = repo.measurement_of_record(session, tp)
    tp.record_measurement_id = chosen.id
    session.flush()
    audit.record(
        session,
        actor,
        "timepoint.record_chosen",
        "timepoint",
        tp.id,
        {
            "subject_id": subject.subject_id,
            "reason": reason,
            "before": None if before is None else before.id,
            "after": chosen.id,
        },
    )
    return chosen
