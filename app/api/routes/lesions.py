"""The lesion table per subject and its measurements per timepoint (edits need a reason)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from app.api.deps import BlobsDep, ReadSessionDep, SessionDep, require
from app.api.responses import problems
from app.api.schemas import ConfirmIn, LesionsPut, TimepointLesionsPut
from app.auth.keys import Permission, Principal
from app.db import repo
from app.subjects.lesions import lesion_table, put_lesions, put_timepoint_lesions
from app.subjects.tracking import confirm_timepoint, track_again

router = APIRouter(tags=["lesions"])

Editor = Annotated[Principal, Depends(require(Permission.EDIT_LESIONS))]
Reader = Annotated[Principal, Depends(require(Permission.READ))]


@router.put(
    "/v1/subjects/{subject_id}/lesions",
    summary="Replace the lesion table",
    responses=problems(401, 403, 404, 422),
)
def replace_lesions(
    subject_id: str, body: LesionsPut, principal: Editor, session: SessionDep
) -> dict[str, Any]:
    """Define the subject's lesions (role, organ, node); audited with the reason."""
    subject = repo.get_subject(session, subject_id)
    put_lesions(session, subject, body.to_domain(), principal.actor)
    session.commit()
    return lesion_table(session, subject)


@router.get(
    "/v1/subjects/{subject_id}/lesions",
    summary="The lesion table",
    responses=problems(401, 403, 404),
)
def get_lesions(subject_id: str, _: Reader, session: ReadSessionDep) -> dict[str, Any]:
    """Lesions with their measurements per timepoint and the new lesions per timepoint."""
    return lesion_table(session, repo.get_subject(session, subject_id))


@router.put(
    "/v1/subjects/{subject_id}/timepoints/{timepoint_id}/lesions",
    summary="Record a timepoint's lesion measurements",
    responses=problems(401, 403, 404, 422),
)
def replace_timepoint_lesions(
    subject_id: str,
    timepoint_id: str,
    body: TimepointLesionsPut,
    principal: Editor,
    session: SessionDep,
) -> dict[str, Any]:
    """Diameters (caliper or from a stored measurement's lesion), statuses and new lesions."""
    subject = repo.get_subject(session, subject_id)
    tp = repo.get_timepoint(session, timepoint_id, subject)
    put_timepoint_lesions(session, subject, tp, body.to_domain(), principal.actor)
    session.commit()
    return lesion_table(session, subject)


@router.post(
    "/v1/subjects/{subject_id}/timepoints/{timepoint_id}/lesions/confirm",
    summary="Confirm a timepoint's tracked lesions",
    responses=problems(401, 403, 404, 422),
)
def confirm_timepoint_lesions(
    subject_id: str,
    timepoint_id: str,
    body: ConfirmIn,
    principal: Editor,
    session: SessionDep,
) -> dict[str, Any]:
    """A radiologist confirms the proposed links (at the baseline: the proposed record), with
    changes: re-link, a baseline role, reject a new lesion, call it equivocal; audited."""
    subject = repo.get_subject(session, subject_id)
    tp = repo.get_timepoint(session, timepoint_id, subject)
    changes = [c.to_domain() for c in body.changes]
    confirm_timepoint(session, subject, tp, changes, body.reason, principal.actor)
    session.commit()
    return lesion_table(session, subject)


@router.post(
    "/v1/subjects/{subject_id}/timepoints/{timepoint_id}/lesions/track",
    summary="Link a timepoint's stored measurements to the lesion record again",
    responses=problems(401, 403, 404, 409),
)
def track_timepoint_again(
    subject_id: str,
    timepoint_id: str,
    principal: Editor,
    session: SessionDep,
    blobs: BlobsDep,
) -> dict[str, Any]:
    """After the record changed (a baseline role, a rejected lesion), the timepoint's proposals
    are made again from its stored measurements, as a new measurement would make them; readings
    a reader confirmed are kept (409 when there is nothing to link: the reason says why)."""
    subject = repo.get_subject(session, subject_id)
    tp = repo.get_timepoint(session, timepoint_id, subject)
    track_again(session, blobs, subject, tp, principal.actor)
    session.commit()
    return lesion_table(session, subject)
