"""RECIST 1.1 assessments: of posted input, and of a subject's lesion table."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query

from app.api.deps import SessionDep, require
from app.api.responses import problems
from app.auth import audit
from app.auth.keys import Permission, Principal
from app.db import repo
from app.subjects.lesions import assessment_input, study_timepoints
from app.subjects.tracking import provisional_timepoints
from recist.assessment import assess

router = APIRouter(tags=["recist"])

_EXAMPLE = {
    "subject_id": "S-001",
    "lesions": [{"lesion_id": "T1", "organ": "liver", "lymph_node": False, "role": "target"}],
    "timepoints": [
        {
            "date": "2020-01-01",
            "baseline": True,
            "measurements": [{"lesion_id": "T1", "diameter_mm": 21.0}],
            "new_lesions": [],
        },
        {
            "date": "2020-03-01",
            "measurements": [{"lesion_id": "T1", "diameter_mm": 26.0}],
            "new_lesions": [],
        },
    ],
}


def _sha(doc: dict[str, Any]) -> str:
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@router.post(
    "/v1/recist/assess", summary="Assess posted RECIST input", responses=problems(401, 403, 422)
)
def assess_posted(
    body: Annotated[dict[str, Any], Body(examples=[_EXAMPLE])],
    principal: Annotated[Principal, Depends(require(Permission.ASSESS))],
    session: SessionDep,
) -> dict[str, Any]:
    """contracts/recist-assess.md: the input JSON in, the output JSON back."""
    result = assess(body)
    audit.record(
        session,
        principal.actor,
        "assessment.computed",
        "recist_input",
        _sha(body),
        {"input_sha256": _sha(body), "best_overall_response": result.get("best_overall_response")},
    )
    session.commit()
    return result


@router.get(
    "/v1/subjects/{subject_id}/assessment",
    summary="A subject's RECIST assessment",
    responses=problems(401, 403, 404, 422),
)
def subject_assessment(
    subject_id: str,
    principal: Annotated[Principal, Depends(require(Permission.READ_SUMMARY))],
    session: SessionDep,
    confirmation_required: Annotated[bool | None, Query()] = None,
) -> dict[str, Any]:
    """The engine's output for the lesion table, from the baseline on (audited)."""
    subject = repo.get_subject(session, subject_id)
    _, timepoints = study_timepoints(session, subject)
    options = (
        {} if confirmation_required is None else {"confirmation_required": confirmation_required}
    )
    doc = assessment_input(session, subject, timepoints, options=options)
    result = assess(doc)
    provisional = provisional_timepoints(session, subject)
    for tp, out in zip(timepoints, result.get("timepoints", []), strict=False):
        out.setdefault("timepoint_id", tp.id)
        out.setdefault("label", tp.label)
        # resting on tracking's proposals that no reader has confirmed yet
        out["provisional"] = tp.id in provisional
    audit.record(
        session,
        principal.actor,
        "assessment.computed",
        "subject",
        subject_id,
        {
            "input_sha256": _sha(doc),
            "best_overall_response": result.get("best_overall_response"),
            "hepatic_progression": result.get("hepatic_progression"),
        },
    )
    session.commit()
    return result
