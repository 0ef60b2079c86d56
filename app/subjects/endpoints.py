"""The trial's endpoint per subject: its hepatic progression-free interval (H-PFS).

Computed from the subject's record as it stands (contracts/trial-record.md, Endpoint): start at
the randomization date recorded on the subject, else the baseline scan; the event and the
censoring rules are :func:`recist.endpoint.hepatic_pfs`'s. An interval resting on readings a
radiologist has not confirmed yet (tracking's proposals) is ``provisional``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.db import repo
from app.db.models import Subject
from app.errors import InvalidRequestError
from app.subjects.lesions import assessment_input, study_timepoints
from app.subjects.tracking import provisional_timepoints
from recist.assessment import assess
from recist.endpoint import HepaticPfs, hepatic_pfs
from recist.errors import RecistInputError

__all__ = ["endpoints", "subject_hpfs"]


def subject_hpfs(session: Session, subject: Subject) -> tuple[HepaticPfs, bool]:
    """The subject's H-PFS and whether it rests on unconfirmed (provisional) readings.

    Raises
    ------
    InvalidRequestError
        No start (neither a randomization date nor a baseline), or a progression dated before
        the start.
    recist.RecistError
        The lesion record cannot be assessed (the message says why).
    """
    timepoints = repo.subject_timepoints(session, subject)
    baseline = next((tp for tp in timepoints if tp.baseline), None)
    output = None
    used: list[str] = []
    if baseline is not None:
        _, since_baseline = study_timepoints(session, subject)
        doc = assessment_input(session, subject, since_baseline)
        if doc["lesions"]:
            output = assess(doc)
            used = [tp.id for tp in since_baseline]
    try:
        result = hepatic_pfs(
            randomization_date=subject.randomization_date,
            baseline_date=None if baseline is None else baseline.date,
            assessment=output,
        )
    except RecistInputError as exc:
        raise InvalidRequestError(f"subject {subject.subject_id}: {exc}") from exc
    dates = {tp.id: tp.date for tp in timepoints}
    pending = provisional_timepoints(session, subject) if used else set()
    provisional = any(dates[t] <= result.date for t in used if t in pending)
    return result, provisional


def endpoints(session: Session, subject: Subject) -> dict[str, Any]:
    """``GET /v1/subjects/{id}/endpoints``: the subject's H-PFS, its arm and provenance."""
    result, provisional = subject_hpfs(session, subject)
    return {
        "subject_id": subject.subject_id,
        "arm": subject.arm,
        "hpfs": {**result.as_dict(), "provisional": provisional},
    }
