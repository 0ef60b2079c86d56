"""Subjects (trial subject ids, arms) and their timepoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.api.deps import (
    SQL_INT_MAX,
    BlobsDep,
    ReadSessionDep,
    SessionDep,
    SettingsDep,
    require,
)
from app.api.responses import problems
from app.api.schemas import (
    RecordChoice,
    SubjectCreate,
    SubjectPatch,
    SubjectPublic,
    TimepointCreate,
    TimepointPatch,
    TimepointPublic,
    VoidedPublic,
    VoidRequest,
)
from app.auth import audit
from app.auth.keys import Permission, Principal
from app.db import repo
from app.db.models import Subject
from app.errors import AlreadyExistsError, InvalidRequestError
from app.settings import Settings
from app.subjects import corrections, timepoints

router = APIRouter(tags=["subjects"])

Manage = Annotated[Principal, Depends(require(Permission.MANAGE_SUBJECTS))]
Reader = Annotated[Principal, Depends(require(Permission.READ))]


def _check_arm(arm: str | None, settings: Settings) -> None:
    """Refuse an arm the trial does not have (``LIVERBURDEN_TRIAL_ARMS``), when it lists them."""
    names = settings.arm_names
    if arm is not None and names and arm not in names:
        raise InvalidRequestError(
            f"arm {arm!r} is not one of the trial's arms; expected one of {', '.join(names)}"
        )


@router.post(
    "/v1/subjects",
    status_code=201,
    response_model=SubjectPublic,
    summary="Create a subject",
    responses=problems(401, 403, 409, 422),
)
def create_subject(
    body: SubjectCreate, principal: Manage, session: SessionDep, settings: SettingsDep
) -> SubjectPublic:
    """A trial subject by its trial subject id (never a patient name or hospital ID), its arm
    (one of ``LIVERBURDEN_TRIAL_ARMS`` when set) and randomization date."""
    _check_arm(body.arm, settings)
    exists = select(Subject.id).where(Subject.subject_id == body.subject_id)
    if session.execute(exists).first() is not None:
        raise AlreadyExistsError(f"subject {body.subject_id!r} exists already")
    row = Subject(
        subject_id=body.subject_id,
        arm=body.arm,
        randomization_date=body.randomization_date,
        created_by=principal.actor,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise AlreadyExistsError(f"subject {body.subject_id!r} exists already") from exc
    details = {"arm": body.arm}
    if body.randomization_date is not None:
        details["randomization_date"] = body.randomization_date.isoformat()
    audit.record(session, principal.actor, "subject.created", "subject", body.subject_id, details)
    session.commit()
    return SubjectPublic.from_domain(row)


@router.get(
    "/v1/subjects",
    response_model=list[SubjectPublic],
    summary="List subjects",
    responses=problems(401, 403),
)
def list_subjects(
    _: Reader,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=SQL_INT_MAX)] = 0,
) -> list[SubjectPublic]:
    """Subjects by trial subject id."""
    rows = session.execute(
        select(Subject)
        .where(Subject.voided_at.is_(None))
        .order_by(Subject.subject_id)
        .limit(limit)
        .offset(offset)
    ).scalars()
    return [SubjectPublic.from_domain(r) for r in rows]


@router.get(
    "/v1/subjects/{subject_id}",
    response_model=SubjectPublic,
    summary="One subject",
    responses=problems(401, 403, 404),
)
def get_subject(subject_id: str, _: Reader, session: ReadSessionDep) -> SubjectPublic:
    """A subject."""
    return SubjectPublic.from_domain(repo.get_subject(session, subject_id))


@router.post(
    "/v1/subjects/{subject_id}/timepoints",
    status_code=201,
    response_model=TimepointPublic,
    summary="Create a timepoint",
    responses=problems(401, 403, 404, 409, 422),
)
def create_timepoint(
    subject_id: str, body: TimepointCreate, principal: Manage, session: SessionDep, blobs: BlobsDep
) -> TimepointPublic:
    """An imaging visit linked to a stored study of the subject's patient; one baseline at most.

    Without ``date`` the visit takes the study's StudyDate; another date needs ``date_reason``.
    """
    subject = repo.get_subject(session, subject_id)
    row = timepoints.create_timepoint(session, blobs, subject, body.to_domain(), principal.actor)
    session.commit()
    return TimepointPublic.from_domain(row, subject_id)


@router.get(
    "/v1/subjects/{subject_id}/timepoints",
    response_model=list[TimepointPublic],
    summary="A subject's timepoints",
    responses=problems(401, 403, 404),
)
def list_timepoints(subject_id: str, _: Reader, session: ReadSessionDep) -> list[TimepointPublic]:
    """Timepoints by date."""
    subject = repo.get_subject(session, subject_id)
    return [
        TimepointPublic.from_domain(tp, subject_id)
        for tp in repo.subject_timepoints(session, subject)
    ]


@router.patch(
    "/v1/subjects/{subject_id}/timepoints/{timepoint_id}",
    response_model=TimepointPublic,
    summary="Correct a timepoint's date or label",
    responses=problems(401, 403, 404, 409, 422),
)
def patch_timepoint(
    subject_id: str, timepoint_id: str, body: TimepointPatch, principal: Manage, session: SessionDep
) -> TimepointPublic:
    """A new date and/or label, with the reason; the audit trail keeps before and after."""
    subject = repo.get_subject(session, subject_id)
    tp = repo.get_timepoint(session, timepoint_id, subject)
    corrections.correct_timepoint(
        session,
        subject,
        tp,
        label=body.label,
        date=body.date,
        reason=body.reason,
        actor=principal.actor,
    )
    session.commit()
    return TimepointPublic.from_domain(tp, subject_id)


@router.delete(
    "/v1/subjects/{subject_id}/timepoints/{timepoint_id}",
    response_model=VoidedPublic,
    summary="Void a timepoint (kept, audited, left out of every reading)",
    responses=problems(401, 403, 404, 422),
)
def void_timepoint(
    subject_id: str, timepoint_id: str, body: VoidRequest, principal: Manage, session: SessionDep
) -> VoidedPublic:
    """The visit and its measurements leave assessments, eligibility and outputs."""
    subject = repo.get_subject(session, subject_id)
    tp = repo.get_timepoint(session, timepoint_id, subject)
    corrections.void_timepoint(session, subject, tp, reason=body.reason, actor=principal.actor)
    session.commit()
    return VoidedPublic.from_domain("timepoint", tp.id, tp)


@router.patch(
    "/v1/subjects/{subject_id}",
    response_model=SubjectPublic,
    summary="Correct a subject's arm or randomization date",
    responses=problems(401, 403, 404, 422),
)
def patch_subject(
    subject_id: str,
    body: SubjectPatch,
    principal: Manage,
    session: SessionDep,
    settings: SettingsDep,
) -> SubjectPublic:
    """A new arm and/or randomization date (``null`` clears it), with the reason; the audit
    trail keeps before and after."""
    subject = repo.get_subject(session, subject_id)
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    _check_arm(changes.get("arm"), settings)
    corrections.correct_subject(
        session, subject, changes=changes, reason=body.reason, actor=principal.actor
    )
    session.commit()
    return SubjectPublic.from_domain(subject)


@router.delete(
    "/v1/subjects/{subject_id}",
    response_model=VoidedPublic,
    summary="Void a subject (kept, audited, left out of every reading)",
    responses=problems(401, 403, 404, 422),
)
def void_subject(
    subject_id: str, body: VoidRequest, principal: Manage, session: SessionDep
) -> VoidedPublic:
    """The subject leaves listings, trial-wide outputs and every read of its record."""
    subject = repo.get_subject(session, subject_id)
    corrections.void_subject(session, subject, reason=body.reason, actor=principal.actor)
    session.commit()
    return VoidedPublic.from_domain("subject", subject.subject_id, subject)


@router.put(
    "/v1/subjects/{subject_id}/timepoints/{timepoint_id}/record",
    summary="Pick a timepoint's measurement of record",
    responses=problems(401, 403, 404, 409, 422),
)
def put_record(
    subject_id: str, timepoint_id: str, body: RecordChoice, principal: Manage, session: SessionDep
) -> dict[str, str]:
    """By default a timepoint's burden comes from its latest measurement with a liver; this picks
    another of its measurements (audited with the reason)."""
    subject = repo.get_subject(session, subject_id)
    tp = repo.get_timepoint(session, timepoint_id, subject)
    chosen = corrections.choose_record(
        session,
        subject,
        tp,
        measurement_id=body.measurement_id,
        reason=body.reason,
        actor=principal.actor,
    )
    session.commit()
    return {"timepoint_id": tp.id, "measurement_id": chosen.id}
