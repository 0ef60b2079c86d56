"""The EDC's reads: eligibility at baseline and the burden per timepoint.

Eligibility (contracts/http.md, contracts/trial-record.md) comes from the baseline timepoint's
measurement of record. The trial's imaging inclusion (NCT02724540) is four criteria, each met,
not met or unknown (``None``: an input is missing; never guessed):

1. ``measurable_liver_metastasis``: a measurable liver lesion (RECIST 1.1: >= 10 mm);
2. ``burden_dominant_in_liver``: the hepatic share of all tumour volume is over one half;
3. ``burden_le_70pct``: liver tumour burden <= 70 % of the total liver volume;
4. ``symptoms_or_liver_progression_or_burden_gt_25pct``: symptoms uncontrolled (the EDC's
   ``symptomatic``), or morphologic progression in the liver by RECIST 1.1, or burden > 25 %.

``imaging_eligible`` is their conjunction in three-valued logic (Kleene): false as soon as one
criterion is not met, true when all are met, else unknown. Liver
progression between the two pre-enrolment scans (the last two timepoints dated on or before the
baseline, the baseline included) is the RECIST 1.1 hepatic response of the later one against the
earlier one, from the liver lesions of the lesion record (read by hand, or linked by lesion
tracking, which links a screening scan to the baseline's record); a record lesion absent at the
earlier scan and present at the later one is a new lesion there (RECIST 1.1 section 4.3.2: it
appeared between the two); ``null`` when there are fewer than two such scans or no liver lesion
measured on both.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.db import repo
from app.db.models import Subject, Timepoint
from app.errors import NotFoundError
from app.measure.result import MeasurementResult
from app.subjects.lesions import assessment_input
from recist.assessment import assess
from recist.errors import RecistError

__all__ = [
    "Criterion",
    "EligibilityRead",
    "all_of",
    "any_of",
    "burden_summary",
    "eligibility",
    "imaging_criteria",
    "liver_progression",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Criterion:
    """One imaging inclusion criterion: met, not met or unknown (``None``), and why."""

    criterion: str
    met: bool | None
    detail: str


@dataclass(frozen=True, slots=True)
class EligibilityRead:
    """The EDC's eligibility read of a subject (contracts/http.md), from its baseline."""

    subject_id: str
    timepoint_id: str
    measurement_id: str
    burden_fraction: float | None
    burden_le_70pct: bool | None
    burden_gt_25pct: bool | None
    measurable_liver_lesion: bool | None
    liver_progression_by_recist: bool | None
    burden_dominant_in_liver: bool | None
    hepatic_share: float | None
    symptomatic: bool | None
    criteria: tuple[Criterion, ...]
    imaging_eligible: bool | None
    algorithm_version: str

    def to_json(self) -> dict[str, Any]:
        """The read as the route answers it."""
        return asdict(self) | {"criteria": [asdict(c) for c in self.criteria]}


def liver_progression(session: Session, subject: Subject, scans: list[Timepoint]) -> bool | None:
    """Hepatic PD of ``scans[1]`` against ``scans[0]``; None when it cannot be assessed."""
    doc = assessment_input(session, subject, scans, organ="liver")
    doc = _appeared_as_new(doc)
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


def _measured(entry: dict[str, Any]) -> bool:
    return entry.get("diameter_mm") is not None or bool(entry.get("fragments_mm"))


def _appeared_as_new(doc: dict[str, Any]) -> dict[str, Any]:
    """Record lesions absent at the earlier scan and measured at the later one become new
    lesions of the later scan (equivocal under 10 mm), out of the targets and non-targets."""
    earlier, later = doc["timepoints"]
    absent = {e["lesion_id"] for e in earlier["measurements"] if e.get("status") == "absent"}
    appeared = [e for e in later["measurements"] if e["lesion_id"] in absent and _measured(e)]
    if not appeared:
        return doc
    gone = {e["lesion_id"] for e in appeared}
    organ = {x["lesion_id"]: x.get("organ", "liver") for x in doc["lesions"]}
    new = [
        {
            "organ": organ[e["lesion_id"]],
            "equivocal": max(e.get("fragments_mm") or [e.get("diameter_mm") or 0.0]) < 10.0,
        }
        for e in appeared
    ]
    keep = [x for x in doc["lesions"] if x["lesion_id"] not in gone]
    return {
        **doc,
        "lesions": keep,
        "timepoints": [
            {**tp, "measurements": [e for e in tp["measurements"] if e["lesion_id"] not in gone]}
            for tp in doc["timepoints"][:1]
        ]
        + [
            {
                **later,
                "measurements": [e for e in later["measurements"] if e["lesion_id"] not in gone],
                "new_lesions": [*(later.get("new_lesions") or []), *new],
            }
        ],
    }


def any_of(values: list[bool | None]) -> bool | None:
    """Three-valued OR: true if one is true, false if all are false, else unknown."""
    if any(v is True for v in values):
        return True
    return False if all(v is False for v in values) else None


def all_of(values: list[bool | None]) -> bool | None:
    """Three-valued AND: false if one is false, true if all are true, else unknown."""
    if any(v is False for v in values):
        return False
    return True if all(v is True for v in values) else None


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def imaging_criteria(
    result: MeasurementResult, progression: bool | None, symptomatic: bool | None
) -> tuple[Criterion, ...]:
    """The four imaging criteria of a baseline measurement's ``result`` (see the module)."""
    flags = result.eligibility
    # a lesion measured before ``hepatic`` was recorded is a liver lesion
    liver_lesions = [les for les in result.lesions if les.hepatic is not False]
    largest = max((les.long_axis_mm for les in liver_lesions), default=None)
    share = result.hepatic_share
    fraction = result.burden_fraction
    gt25 = flags.burden_gt_25pct
    return (
        Criterion(
            "measurable_liver_metastasis",
            flags.measurable_liver_lesion,
            "no liver lesion"
            if largest is None
            else f"largest liver lesion {largest:.1f} mm (measurable: >= 10 mm, RECIST 1.1)",
        ),
        Criterion(
            "burden_dominant_in_liver",
            flags.burden_dominant_in_liver,
            "hepatic share unknown (measured before it was recorded, or no tumour)"
            if share is None
            else f"{100 * share:.1f} % of the tumour volume is in the liver (must exceed 50 %)",
        ),
        Criterion(
            "burden_le_70pct",
            flags.burden_le_70pct,
            "burden unknown (no liver measured)"
            if fraction is None
            else f"liver tumour burden {100 * fraction:.2f} % (at most 70 %)",
        ),
        Criterion(
            "symptoms_or_liver_progression_or_burden_gt_25pct",
            any_of([symptomatic, progression, gt25]),
            f"symptoms: {_yes_no(symptomatic)}; liver progression by RECIST 1.1: "
            f"{_yes_no(progression)}; burden > 25 %: {_yes_no(gt25)}",
        ),
    )


def eligibility(
    session: Session, subject: Subject, symptomatic: bool | None = None
) -> EligibilityRead:
    """The eligibility read; 404-type error when no baseline or no measurement exists yet.

    ``symptomatic``: the EDC's own answer (uncontrolled symptoms), ``None`` when not given.
    """
    timepoints = repo.subject_timepoints(session, subject)
    baseline = next((tp for tp in timepoints if tp.baseline), None)
    if baseline is None:
        raise NotFoundError(f"subject {subject.subject_id} has no baseline timepoint yet")
    measurement = repo.measurement_of_record(session, baseline)
    if measurement is None:
        raise NotFoundError(
            f"no measurement of the baseline timepoint of subject {subject.subject_id} yet"
        )
    result = MeasurementResult.from_json(measurement.result)
    flags = result.eligibility
    pre = [tp for tp in timepoints if tp.date <= baseline.date]
    progression = liver_progression(session, subject, pre[-2:]) if len(pre) >= 2 else None
    criteria = imaging_criteria(result, progression, symptomatic)
    return EligibilityRead(
        subject_id=subject.subject_id,
        timepoint_id=baseline.id,
        measurement_id=measurement.id,
        burden_fraction=result.burden_fraction,
        burden_le_70pct=flags.burden_le_70pct,
        burden_gt_25pct=flags.burden_gt_25pct,
        measurable_liver_lesion=flags.measurable_liver_lesion,
        liver_progression_by_recist=progression,
        burden_dominant_in_liver=flags.burden_dominant_in_liver,
        hepatic_share=result.hepatic_share,
        symptomatic=symptomatic,
        criteria=criteria,
        imaging_eligible=all_of([c.met for c in criteria]),
        algorithm_version=measurement.algorithm_version,
    )


def burden_summary(session: Session, subject: Subject) -> dict[str, Any]:
    """Per timepoint: the latest measurement's volumes and burden (no lesion geometry)."""
    rows = []
    for tp in repo.subject_timepoints(session, subject):
        m = repo.measurement_of_record(session, tp)
        result = None if m is None else MeasurementResult.from_json(m.result)
        rows.append(
            {
                "timepoint_id": tp.id,
                "label": tp.label,
                "date": tp.date.isoformat(),
                "baseline": tp.baseline,
                "measurement_id": m.id if m else None,
                "liver_volume_ml": result.liver_volume_ml if result else None,
                "tumor_volume_ml": result.tumor_volume_ml if result else None,
                "burden_fraction": result.burden_fraction if result else None,
                "algorithm_version": m.algorithm_version if m else None,
            }
        )
    return {"subject_id": subject.subject_id, "timepoints": rows}
