"""The EDC's reads: eligibility, burden per timepoint and the endpoint (H-PFS)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from app.api.deps import ReadSessionDep, require
from app.api.responses import problems
from app.api.schemas import EligibilityPublic, EndpointsPublic
from app.auth.keys import Permission, Principal
from app.db import repo
from app.subjects.eligibility import burden_summary, eligibility
from app.subjects.endpoints import endpoints

router = APIRouter(tags=["edc"])

Summary = Annotated[Principal, Depends(require(Permission.READ_SUMMARY))]


@router.get(
    "/v1/subjects/{subject_id}/eligibility",
    response_model=EligibilityPublic,
    summary="Eligibility at baseline",
    responses=problems(401, 403, 404),
)
def get_eligibility(
    subject_id: str,
    _: Summary,
    session: ReadSessionDep,
    symptomatic: Annotated[
        bool | None,
        Query(description="The EDC's answer: symptoms uncontrolled (leave out when unknown)."),
    ] = None,
) -> EligibilityPublic:
    """Every imaging inclusion criterion (met, not met, unknown) and the combined verdict, from
    the baseline's measurement of record."""
    subject = repo.get_subject(session, subject_id)
    return EligibilityPublic.model_validate(
        eligibility(session, subject, symptomatic), from_attributes=True
    )


@router.get(
    "/v1/subjects/{subject_id}/burden",
    summary="Burden per timepoint",
    responses=problems(401, 403, 404),
)
def get_burden(subject_id: str, _: Summary, session: ReadSessionDep) -> dict[str, Any]:
    """Liver and tumour volumes and burden of each timepoint's latest measurement."""
    return burden_summary(session, repo.get_subject(session, subject_id))


@router.get(
    "/v1/subjects/{subject_id}/endpoints",
    response_model=EndpointsPublic,
    summary="The subject's hepatic progression-free interval (H-PFS)",
    responses=problems(401, 403, 404, 422),
)
def get_endpoints(subject_id: str, _: Summary, session: ReadSessionDep) -> EndpointsPublic:
    """From the randomization date (else the baseline scan) to the first hepatic PD by RECIST
    1.1, else censored at the last adequate assessment (FDA 2018 conventions, with the reason);
    ``provisional`` while it rests on readings no radiologist confirmed."""
    return EndpointsPublic(**endpoints(session, repo.get_subject(session, subject_id)))
