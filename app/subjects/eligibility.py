"""The EDC's reads: eligibility at baseline and the burden per timepoint.

Eligibility (contracts/http.md) comes from the baseline timepoint's latest measurement. Liver
progression between the two pre-enrolment scans (the last two timepoints dated on or before the
baseline, the baseline included) is the RECIST 1.1 hepatic response of the later one against the
earlier one, from the liver lesions of the lesion table; ``null`` when there are fewer than two
such scans or no liver lesion measured on both.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from app.db import repo
from app.db.models import Subject, Timepoint
from app.errors import NotFoundError
from app.subjects.lesions import assessment_input
from recist.assessment import assess
from recist.errors import RecistError

__all__ = ["burden_summary", "eligibility", "liver_progression"]

logger = logging.getLogger(__name__)


def liver_progression(session: Session, subject: Subject, scans: list[Timepoint]) -> bool | None:
    """Hepatic PD of ``scans[1]`` against ``scans[0]``; None when it cannot be assessed."""
    doc = assessment_input(session, subject, scans, organ="liver")
    first = doc["timepoints"][0]["measurements"]
    second = doc["timepoints"][1]["measurements"]
    if not first or not second:
        return None
    try:
        result = assess(doc)
    except RecistError as exc:
        logger.warning("pre-enrolment liver progression not assessable: %s", exc)
        return None
    return bool(result["hepatic_progression"]["progressed"])


def eligibility(session: Session, subject: Subject) -> dict[str, Any]:
    """The eligibility read; 404-type error when no baseline or no measurement exists yet."""
    timepoints = repo.subject_timepoints(session, subject)
    baseline = next((tp for tp in timepoints if tp.baseline), None)
    if baseline is None:
        raise NotFoundError(f"subject {subject.subject_id} has no baseline timepoint yet")
    measurement = repo.measurement_of_record(session, baseline)
    if measurement is None:
        raise NotFoundError(
            f"no measurement of the baseline timepoint of subject {subject.subject_id} yet"
        )
    result = measurement.result
    flags = result.get("eligibility", {})
    pre = [tp for tp in timepoints if tp.date <= baseline.date]
    progression = liver_progression(session, subject, pre[-2:]) if len(pre) >= 2 else None
    return {
        "subject_id": subject.subject_id,
        "timepoint_id": baseline.id,
        "measurement_id": measurement.id,
        "burden_fraction": result.get("burden_fraction"),
        "burden_le_70pct": flags.get("burden_le_70pct"),
        "burden_gt_25pct": flags.get("burden_gt_25pct"),
        "measurable_liver_lesion": flags.get("measurable_liver_lesion"),
        "liver_progression_by_recist": progression,
        "algorithm_version": measurement.algorithm_version,
    }


def burden_summary(session: Session, subject: Subject) -> dict[str, Any]:
    """Per timepoint: the latest measurement's volumes and burden (no lesion geometry)."""
    rows = []
    for tp in repo.subject_timepoints(session, subject):
        m = repo.measurement_of_record(session, tp)
        rows.append(
            {
                "timepoint_id": tp.id,
                "label": tp.label,
                "date": tp.date.isoformat(),
                "baseline": tp.baseline,
                "measurement_id": m.id if m else None,
                "liver_volume_ml": m.result.get("liver_volume_ml") if m else None,
                "tumor_volume_ml": m.result.get("tumor_volume_ml") if m else None,
                "burden_fraction": m.result.get("burden_fraction") if m else None,
                "algorithm_version": m.algorithm_version if m else None,
            }
        )
    return {"subject_id": subject.subject_id, "timepoints": rows}
