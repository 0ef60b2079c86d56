"""The lesion table a radiologist records per subject and timepoint, and the RECIST input it makes.

Edits need a reason and are audited with the table before and after. A lesion measurement is a
caliper diameter, split fragments, a status, or a mask-derived diameter copied from a stored
measurement of the same timepoint (long axis; short axis for lymph nodes, RECIST 1.1 section
3.1.2). :func:`assessment_input` builds the document of contracts/recist-assess.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.auth import audit
from app.db import repo
from app.db.models import Lesion, LesionMeasurement, Subject, Timepoint, utcnow
from app.errors import InvalidRequestError
from recist.assessment import check_record
from recist.errors import RecistInputError

__all__ = [
    "LesionDefinition",
    "LesionTableEdit",
    "LesionValue",
    "NewLesion",
    "TimepointLesionsEdit",
    "assessment_input",
    "check_with_engine",
    "lesion_table",
    "put_lesions",
    "put_timepoint_lesions",
    "study_timepoints",
]


@dataclass(frozen=True, slots=True)
class LesionDefinition:
    """A lesion followed for a subject (RECIST 1.1 section 4.2)."""

    lesion_id: str
    organ: str
    lymph_node: bool
    role: str

    def as_dict(self) -> dict[str, Any]:
        """The lesion as recorded in the audit trail."""
        return {
            "lesion_id": self.lesion_id,
            "organ": self.organ,
            "lymph_node": self.lymph_node,
            "role": self.role,
        }


@dataclass(frozen=True, slots=True)
class LesionTableEdit:
    """The subject's whole lesion table, replacing the old one, and why."""

    reason: str
    lesions: tuple[LesionDefinition, ...]


@dataclass(frozen=True, slots=True)
class LesionValue:
    """One lesion at one timepoint: a diameter, fragments, a status, or a stored mask lesion."""

    lesion_id: str
    diameter_mm: float | None = None
    fragments_mm: tuple[float, ...] | None = None
    status: str | None = None
    measurement_id: str | None = None
    measurement_lesion_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The value as recorded in the audit trail (absent fields left out)."""
        out: dict[str, Any] = {"lesion_id": self.lesion_id}
        fields = (
            ("diameter_mm", self.diameter_mm),
            ("fragments_mm", None if self.fragments_mm is None else list(self.fragments_mm)),
            ("status", self.status),
            ("measurement_id", self.measurement_id),
            ("measurement_lesion_id", self.measurement_lesion_id),
        )
        out.update((key, value) for key, value in fields if value is not None)
        return out


@dataclass(frozen=True, slots=True)
class NewLesion:
    """A new lesion seen at a timepoint."""

    organ: str
    equivocal: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The new lesion as stored on the timepoint."""
        return {"organ": self.organ, "equivocal": self.equivocal}


@dataclass(frozen=True, slots=True)
class TimepointLesionsEdit:
    """All lesion values and new lesions of one timepoint, replacing the old ones, and why."""

    reason: str
    measurements: tuple[LesionValue, ...]
    new_lesions: tuple[NewLesion, ...] = ()


#: Roles of the lesion record proper (RECIST 1.1 section 4.2); tracking adds ``new`` lesions.
_RECORD_ROLES = ("target", "non_target")
_ROLE_NEW = "new"
_REJECTED = "rejected"
_PROPOSED = "proposed"


def _all_lesions(session: Session, subject: Subject) -> list[Lesion]:
    stmt = select(Lesion).where(Lesion.subject_pk == subject.id).order_by(Lesion.lesion_id)
    return list(session.execute(stmt).scalars())


def _lesions(session: Session, subject: Subject) -> list[Lesion]:
    """The record's target and non-target lesions (new lesions are listed per timepoint)."""
    return [x for x in _all_lesions(session, subject) if x.role in _RECORD_ROLES]


def _lesion_dict(lesion: Lesion) -> dict[str, Any]:
    return {
        "lesion_id": lesion.lesion_id,
        "organ": lesion.organ,
        "lymph_node": lesion.lymph_node,
        "role": lesion.role,
    }


def _tracked_dict(lesion: Lesion) -> dict[str, Any]:
    """The lesion as the record shows it: with its state and the measured lesion it is."""
    out = {**_lesion_dict(lesion), "state": lesion.state}
    if lesion.measurement_id is not None:
        out["measurement_id"] = lesion.measurement_id
        out["measurement_lesion_id"] = lesion.measurement_lesion_id
    if lesion.centroid_mm is not None:
        out["centroid_mm"] = lesion.centroid_mm
    if lesion.first_timepoint_id is not None:
        out["first_timepoint_id"] = lesion.first_timepoint_id
    return out


def _measurements(session: Session, lesions: Sequence[Lesion]) -> list[LesionMeasurement]:
    if not lesions:
        return []
    stmt = select(LesionMeasurement).where(LesionMeasurement.lesion_pk.in_([x.id for x in lesions]))
    return list(session.execute(stmt).scalars())


def _measurement_dict(m: LesionMeasurement) -> dict[str, Any]:
    out: dict[str, Any] = {"timepoint_id": m.timepoint_id, "source": m.source, "state": m.state}
    if m.diameter_mm is not None:
        out["diameter_mm"] = m.diameter_mm
    if m.fragments_mm is not None:
        out["fragments_mm"] = m.fragments_mm
    if m.status is not None:
        out["status"] = m.status
    if m.measurement_id is not None:
        out["measurement_id"] = m.measurement_id
        out["measurement_lesion_id"] = m.source_lesion_id
    if m.merged_into is not None:
        out["merged_into"] = m.merged_into
    if m.merged_from:
        out["merged_from"] = m.merged_from
    if m.evidence:
        out["evidence"] = m.evidence
    return out


def _equivocal(first: LesionMeasurement | None) -> bool:
    return bool(first is not None and (first.evidence or {}).get("equivocal"))


def lesion_table(session: Session, subject: Subject) -> dict[str, Any]:
    """The subject's lesions with their measurements per timepoint, and new lesions.

    Tracked new lesions (``NEW1..``) are listed under the timepoint they were first seen at,
    with their state (a rejected one stays listed, never dropped); seen again later, a new
    lesion also appears in ``lesions`` with its later measurements.
    """
    everything = _all_lesions(session, subject)
    timepoints = repo.subject_timepoints(session, subject)
    live = {tp.id for tp in timepoints}
    by_lesion: dict[int, list[dict[str, Any]]] = {x.id: [] for x in everything}
    first_reading: dict[int, LesionMeasurement] = {}
    first_seen = {x.id: x.first_timepoint_id for x in everything}
    for m in _measurements(session, everything):
        if m.timepoint_id in live:  # readings of a voided visit leave the table
            by_lesion[m.lesion_pk].append(_measurement_dict(m))
            if m.timepoint_id == first_seen[m.lesion_pk]:
                first_reading[m.lesion_pk] = m
    order = {tp.id: n for n, tp in enumerate(timepoints)}
    for readings in by_lesion.values():
        readings.sort(key=lambda r: order.get(r["timepoint_id"], -1))
    new_lesions: dict[str, list[dict[str, Any]]] = {
        tp.id: list(tp.new_lesions) for tp in timepoints if tp.new_lesions
    }
    shown = []
    for x in everything:
        if x.role in _RECORD_ROLES:
            shown.append({**_tracked_dict(x), "measurements": by_lesion[x.id]})
            continue
        if x.first_timepoint_id not in live:
            continue
        first = first_reading.get(x.id)
        entry = {**_tracked_dict(x), "equivocal": _equivocal(first)}
        if first is not None:
            entry["measurement"] = _measurement_dict(first)
        new_lesions.setdefault(str(x.first_timepoint_id), []).append(entry)
        if any(r["timepoint_id"] != x.first_timepoint_id for r in by_lesion[x.id]):
            shown.append({**_tracked_dict(x), "measurements": by_lesion[x.id]})
    return {"subject_id": subject.subject_id, "lesions": shown, "new_lesions": new_lesions}


def check_with_engine(session: Session, subject: Subject) -> None:
    """Refuse a lesion record the RECIST engine would refuse later, when the reader records it.

    The table (at most 5 targets, 2 per organ, unique ids) and each live timepoint's readings
    (statuses, sizes fitting the lesion's role) are checked by :func:`recist.check_record`.
    """
    lesions = _lesions(session, subject)
    table = [_lesion_dict(x) for x in lesions]
    by_id = {x.id: x for x in lesions}
    live = {tp.id for tp in repo.subject_timepoints(session, subject)}
    readings: dict[str, list[dict[str, Any]]] = {}
    for m in _measurements(session, lesions):
        if m.timepoint_id in live:
            readings.setdefault(m.timepoint_id, []).append(
                _measurement_entry(by_id[m.lesion_pk], m)
            )
    try:
        if not readings:
            check_record(table)
        for entries in readings.values():
            check_record(table, entries)
    except RecistInputError as exc:
        raise InvalidRequestError(f"the lesion record breaks a RECIST 1.1 rule: {exc}") from exc


def put_lesions(session: Session, subject: Subject, body: LesionTableEdit, actor: str) -> None:
    """Replace the subject's lesion definitions (lesions left out lose their measurements)."""
    ids = [x.lesion_id for x in body.lesions]
    if len(set(ids)) != len(ids):
        raise InvalidRequestError("lesion_id values must be unique within a subject")
    existing = {x.lesion_id: x for x in _lesions(session, subject)}
    before = [_lesion_dict(x) for x in existing.values()]
    for lesion_id, row in existing.items():
        if lesion_id not in ids:
            session.execute(delete(LesionMeasurement).where(LesionMeasurement.lesion_pk == row.id))
            session.delete(row)
    for item in body.lesions:
        current = existing.get(item.lesion_id)
        if current is None:
            session.add(
                Lesion(
                    subject_pk=subject.id,
                    lesion_id=item.lesion_id,
                    updated_by=actor,
                    organ=item.organ,
                    lymph_node=item.lymph_node,
                    role=item.role,
                )
            )
        else:
            current.organ, current.lymph_node = item.organ, item.lymph_node
            current.role, current.updated_by = item.role, actor
            current.state = "confirmed"  # a reader wrote it
    session.flush()
    check_with_engine(session, subject)
    audit.record(
        session,
        actor,
        "lesions.replaced",
        "subject",
        subject.subject_id,
        {"reason": body.reason, "before": before, "after": [x.as_dict() for x in body.lesions]},
    )


def _mask_diameter(session: Session, tp: Timepoint, lesion: Lesion, mid: str, lid: str) -> float:
    measurement = repo.get_measurement(session, mid)
    if measurement.timepoint_id != tp.id:
        raise InvalidRequestError(f"measurement {mid} belongs to another timepoint")
    for rec in measurement.result.get("lesions", []):
        if rec.get("lesion_id") == lid:
            key = "short_axis_mm" if lesion.lymph_node else "long_axis_mm"
            return float(rec[key])
    raise InvalidRequestError(f"measurement {mid} has no lesion {lid!r}")


def put_timepoint_lesions(
    session: Session, subject: Subject, tp: Timepoint, body: TimepointLesionsEdit, actor: str
) -> None:
    """Replace one timepoint's lesion measurements and new lesions."""
    lesions = {x.lesion_id: x for x in _lesions(session, subject)}
    seen: set[str] = set()
    for item in body.measurements:
        if item.lesion_id not in lesions:
            raise InvalidRequestError(
                f"unknown lesion {item.lesion_id!r}; define it first with PUT .../lesions"
            )
        if item.lesion_id in seen:
            raise InvalidRequestError(f"lesion {item.lesion_id!r} is given twice")
        seen.add(item.lesion_id)
    everyone = _all_lesions(session, subject)
    names = {x.id: x.lesion_id for x in everyone}
    at_tp = [m for m in _measurements(session, everyone) if m.timepoint_id == tp.id]
    before = [
        _measurement_dict(m) | {"lesion_pk": m.lesion_pk, "lesion_id": names.get(m.lesion_pk)}
        for m in at_tp
        if m.lesion_pk in {x.id for x in lesions.values()}
    ]
    discarded_readings = [
        _measurement_dict(m) | {"lesion_id": names.get(m.lesion_pk)}
        for m in at_tp
        if m.state == _PROPOSED
    ]
    discarded_new: list[dict[str, str]] = []
    session.execute(delete(LesionMeasurement).where(LesionMeasurement.timepoint_id == tp.id))
    for proposed in everyone:  # the reader's table replaces tracking's
        if proposed.role == _ROLE_NEW and proposed.first_timepoint_id == tp.id:
            if proposed.state == _PROPOSED:
                discarded_new.append({"lesion_id": proposed.lesion_id, "outcome": "deleted"})
                session.delete(proposed)
            else:
                if proposed.state != _REJECTED:
                    discarded_new.append({"lesion_id": proposed.lesion_id, "outcome": "rejected"})
                proposed.state = _REJECTED
    for item in body.measurements:
        lesion = lesions[item.lesion_id]
        row = LesionMeasurement(
            lesion_pk=lesion.id,
            timepoint_id=tp.id,
            updated_by=actor,
            updated_at=utcnow(),
            diameter_mm=item.diameter_mm,
            fragments_mm=None if item.fragments_mm is None else list(item.fragments_mm),
            status=item.status,
        )
        if item.measurement_id is not None and item.measurement_lesion_id is not None:
            row.diameter_mm = _mask_diameter(
                session, tp, lesion, item.measurement_id, item.measurement_lesion_id
            )
            row.source, row.measurement_id = "mask", item.measurement_id
            row.source_lesion_id = item.measurement_lesion_id
        session.add(row)
    tp.new_lesions = [x.as_dict() for x in body.new_lesions]
    session.flush()
    check_with_engine(session, subject)
    audit.record(
        session,
        actor,
        "lesion_measurements.replaced",
        "timepoint",
        tp.id,
        {
            "reason": body.reason,
            "subject_id": subject.subject_id,
            "before": before,
            "after": [x.as_dict() for x in body.measurements],
            "new_lesions": tp.new_lesions,
        },
    )
    if discarded_readings or discarded_new:
        # what tracking had proposed at this visit and the reader's table set aside: its own
        # event, so that a review of tracking's work finds it without reading every edit
        audit.record(
            session,
            actor,
            "lesions.proposals_discarded",
            "timepoint",
            tp.id,
            {
                "subject_id": subject.subject_id,
                "reason": body.reason,
                "readings": discarded_readings,
                "new_lesions": discarded_new,
            },
        )


def study_timepoints(session: Session, subject: Subject) -> tuple[Timepoint, list[Timepoint]]:
    """The baseline and the timepoints from it on (by date); 422-type error without a baseline."""
    timepoints = repo.subject_timepoints(session, subject)
    baselines = [tp for tp in timepoints if tp.baseline]
    if not baselines:
        raise InvalidRequestError(
            f"subject {subject.subject_id} has no baseline timepoint; expected one with "
            "baseline=true"
        )
    base = baselines[0]
    return base, [tp for tp in timepoints if tp is base or tp.date > base.date]


def _measurement_entry(lesion: Lesion, m: LesionMeasurement) -> dict[str, Any]:
    entry: dict[str, Any] = {"lesion_id": lesion.lesion_id}
    if m.status == "merged":
        # coalesced into another record lesion (RECIST 1.1 appendix II): a target counts 0 mm,
        # a non-target is still there as part of the coalesced lesion
        if lesion.role == "target":
            entry["diameter_mm"] = 0.0
        else:
            entry["status"] = "present"
        return entry
    if m.fragments_mm is not None:
        entry["fragments_mm"] = m.fragments_mm
    elif m.diameter_mm is not None:
        entry["diameter_mm"] = m.diameter_mm
    elif m.status is not None:
        entry["status"] = m.status
    return entry


def _tracked_new_lesions(
    session: Session, news: Sequence[Lesion]
) -> dict[str, list[dict[str, Any]]]:
    """New lesions by timepoint, for the RECIST engine.

    A tracked new lesion counts at the timepoint it was first seen; equivocal then (too small to
    measure), it is listed again, unequivocal, at the first later timepoint where it measures at
    least 10 mm: the engine then backdates the progression (RECIST 1.1 section 4.3.2).
    """
    out: dict[str, list[dict[str, Any]]] = {}
    readings = _measurements(session, news)
    for x in news:
        own = [m for m in readings if m.lesion_pk == x.id]
        first = next((m for m in own if m.timepoint_id == x.first_timepoint_id), None)
        equivocal = _equivocal(first)
        out.setdefault(str(x.first_timepoint_id), []).append(
            {"organ": x.organ, "equivocal": equivocal, "lesion_id": x.lesion_id}
        )
        if equivocal:
            grown = [
                m
                for m in own
                if m.timepoint_id != x.first_timepoint_id
                and (m.diameter_mm or sum(m.fragments_mm or [])) >= 10.0
            ]
            if grown:
                out.setdefault(grown[0].timepoint_id, []).append(
                    {"organ": x.organ, "equivocal": False, "lesion_id": x.lesion_id}
                )
    return out


def assessment_input(
    session: Session,
    subject: Subject,
    timepoints: Sequence[Timepoint],
    *,
    organ: str | None = None,
    options: dict[str, Any] | None = None,
    reference_date: dt.date | None = None,
) -> dict[str, Any]:
    """The RECIST engine's input document for ``timepoints`` (the first is the baseline).

    ``organ`` keeps only lesions (and new lesions) of that organ, e.g. ``"liver"``.
    """

    def in_scope(organ_name: str) -> bool:
        return organ is None or organ_name.strip().lower() == organ

    everything = _all_lesions(session, subject)
    lesions = [x for x in everything if x.role in _RECORD_ROLES and in_scope(x.organ)]
    news = [
        x for x in everything if x.role == _ROLE_NEW and x.state != _REJECTED and in_scope(x.organ)
    ]
    rows = _measurements(session, lesions)
    by_key = {(m.lesion_pk, m.timepoint_id): m for m in rows}
    tracked_new = _tracked_new_lesions(session, news)
    doc_timepoints = []
    for n, tp in enumerate(timepoints):
        entries = [
            _measurement_entry(x, by_key[(x.id, tp.id)]) for x in lesions if (x.id, tp.id) in by_key
        ]
        new = [
            nl
            for nl in (tp.new_lesions or [])
            if organ is None or str(nl.get("organ", "")).strip().lower() == organ
        ]
        new.extend(tracked_new.get(tp.id, []))
        doc_timepoints.append(
            {
                "date": tp.date.isoformat(),
                "baseline": n == 0,
                "measurements": entries,
                "new_lesions": new,
            }
        )
    doc: dict[str, Any] = {
        "subject_id": subject.subject_id,
        "lesions": [_lesion_dict(x) for x in lesions],
        "timepoints": doc_timepoints,
    }
    if reference_date is not None or timepoints:
        doc["reference_date"] = (reference_date or timepoints[0].date).isoformat()
    if options:
        doc["options"] = options
    return doc
