"""The decisions a subject's record gives, and which of them adopting a version would flip.

A change report names more than numbers (issue 18): per subject, the eligibility verdict and each
imaging criterion, each timepoint's overall and hepatic RECIST 1.1 response, the best overall
response, the hepatic progression date and the H-PFS event. :func:`preview_adoption` reads them
as the service gives them now, then adopts the version inside a savepoint (the very code of
``liverburden adopt``: records switched, lesions linked again), reads them again and rolls the
savepoint back: nothing is kept, nothing is audited.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.db import repo
from app.db.models import Subject
from app.errors import AppError
from app.store.blobs import BlobStore
from app.subjects.eligibility import eligibility
from app.subjects.endpoints import subject_hpfs
from app.subjects.lesions import assessment_input, study_timepoints
from recist.assessment import assess
from recist.errors import RecistError

__all__ = ["decision_flips", "preview_adoption", "subject_decisions"]

logger = logging.getLogger(__name__)

#: A decision that cannot be read (no baseline yet, no lesion table, ...).
UNAVAILABLE = "unavailable"


def _eligibility(session: Session, subject: Subject, out: dict[str, Any]) -> None:
    try:
        doc = eligibility(session, subject)
    except AppError:
        out["eligibility.imaging_eligible"] = UNAVAILABLE
        return
    out["eligibility.imaging_eligible"] = doc.imaging_eligible
    for c in doc.criteria:
        out[f"eligibility.{c.criterion}"] = c.met


def _responses(session: Session, subject: Subject, out: dict[str, Any]) -> None:
    try:
        _, timepoints = study_timepoints(session, subject)
        doc = assessment_input(session, subject, timepoints)
        result = assess(doc) if doc["lesions"] else None
    except (AppError, RecistError):
        result = None
    if result is None:
        out["best_overall_response"] = UNAVAILABLE
        return
    for tp, row in zip(timepoints, result.get("timepoints", []), strict=False):
        out[f"response.{tp.label}.overall"] = row.get("overall_response")
        out[f"response.{tp.label}.hepatic"] = row.get("hepatic_response")
    out["best_overall_response"] = result.get("best_overall_response")
    progression = result.get("hepatic_progression") or {}
    out["hepatic_progression.date"] = progression.get("date")


def _hpfs(session: Session, subject: Subject, out: dict[str, Any]) -> None:
    try:
        hpfs, _ = subject_hpfs(session, subject)
    except (AppError, RecistError):
        out["hpfs.event"] = UNAVAILABLE
        return
    doc = hpfs.as_dict()
    out["hpfs.event"] = doc.get("event")
    out["hpfs.date"] = doc.get("date")


def subject_decisions(session: Session, subject: Subject) -> dict[str, Any]:
    """Every decision the subject's record gives now, by name (``unavailable`` when unreadable)."""
    out: dict[str, Any] = {}
    _eligibility(session, subject, out)
    _responses(session, subject, out)
    _hpfs(session, subject, out)
    return out


def decision_flips(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each decision whose value differs: ``{"what", "now", "adopted"}``."""
    return [
        {"what": k, "now": before.get(k), "adopted": after.get(k)}
        for k in sorted(set(before) | set(after))
        if before.get(k) != after.get(k)
    ]


def preview_adoption(
    session: Session, blobs: BlobStore, version: str, subject_ids: Sequence[str], actor: str
) -> dict[str, list[dict[str, Any]]] | None:
    """Return per subject the decisions adopting ``version`` would flip (nothing kept).

    ``None`` when there is nothing to adopt (adopted already, nothing reprocessed under it).

    Runs :func:`app.batch.adopt.adopt_version` in a savepoint that is rolled back.
    """
    from app.batch.adopt import adopt_version

    subjects = [repo.get_subject(session, sid) for sid in dict.fromkeys(subject_ids)]
    before = {s.subject_id: subject_decisions(session, s) for s in subjects}
    savepoint = session.begin_nested()
    try:
        adopt_version(session, blobs, version, "preview of a change report", actor)
        after = {s.subject_id: subject_decisions(session, s) for s in subjects}
    except AppError as exc:
        logger.info("adoption preview: nothing to adopt (%s)", type(exc).__name__)
        return None
    finally:
        savepoint.rollback()
        session.expire_all()
    return {sid: decision_flips(before[sid], after[sid]) for sid in after}
