"""Lesion tracking: the subject's lesion record built from its measurements, for a reader's check.

When a measurement of a timepoint succeeds (contracts/trial-record.md, Lesion tracking):

- at the baseline, its lesions become the lesion record: RECIST 1.1 targets proposed
  (:func:`recist.selection.propose_targets`) as ``T1..``, every other lesion ``NT1..``, each with
  its organ, diameters, centroid and the measured lesion it is (mask reference);
- at a follow-up, the lesions are linked to the record's (:func:`app.measure.tracking.link_visits`:
  the studies aligned, then matched, split, merged; a record lesion without a match is ``absent``,
  or ``too_small`` for a target under 5 mm, RECIST FAQ); components left over are compared with
  the new lesions of earlier follow-ups (a new lesion keeps its ``NEW`` id), and the rest become
  new lesions ``NEW1..`` (equivocal while not measurable, RECIST 1.1 section 4.3.2).

Everything written is ``proposed`` with its evidence (kind, distance after alignment, overlap,
confidence) until a radiologist confirms it (:func:`confirm_timepoint`, audited with a reason for
every change). What a reader confirmed is never replaced by a later measurement; what cannot be
tracked (a record typed by hand without masks, a measurement made before masks were kept) is
said in the audit trail and left to the reader.

The work is split in two so that no database transaction waits for a registration: :func:`plan`
reads and computes, :func:`apply` writes inside the transaction that stores the measurement, after
checking that the record did not change meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth import audit
from app.db import repo
from app.db.models import Lesion, LesionMeasurement, Measurement, Subject, Timepoint, utcnow
from app.errors import ConflictError, InvalidRequestError, NotFoundError
from app.measure.masks import MeasuredMasks, load_kept_masks
from app.measure.tracking import VisitLinks, centroids_mm, link_visits
from app.store.blobs import BlobStore
from app.subjects.lesions import check_with_engine
from recist import criteria
from recist.selection import Candidate, propose_targets

__all__ = [
    "CONFIRMED",
    "PROPOSED",
    "REJECTED",
    "ROLE_NEW",
    "LesionChange",
    "LesionRef",
    "NewRecordLesion",
    "ProposedLesion",
    "ProposedReading",
    "RecordLesion",
    "TrackingPlan",
    "apply",
    "confirm_timepoint",
    "link_refs",
    "new_lesions",
    "plan",
    "propose_record",
    "provisional_timepoints",
    "track_again",
]

logger = logging.getLogger(__name__)

PROPOSED = "proposed"
CONFIRMED = "confirmed"
REJECTED = "rejected"  #: a new lesion a reader rejected: kept for audit, never counted
ROLE_NEW = "new"
RECORD_ROLES = ("target", "non_target")
_TOO_SMALL_MM = float(criteria.TOO_SMALL_DEFAULT_MM)


# -- what a plan holds -------------------------------------------------------------------------


@dataclass(frozen=True)
class ProposedLesion:
    """A lesion tracking adds to the record (baseline ``T``/``NT`` or a ``NEW`` lesion)."""

    lesion_id: str
    organ: str
    role: str
    measurement_lesion_id: str
    centroid_mm: list[float]
    measurement_id: str | None = None  #: None: the measurement being stored


@dataclass(frozen=True)
class ProposedReading:
    """A lesion's proposed reading at one timepoint, with the evidence of its link."""

    lesion_id: str
    diameter_mm: float | None = None
    fragments_mm: list[float] | None = None
    status: str | None = None
    source_lesion_id: str | None = None
    merged_into: str | None = None
    merged_from: list[str] | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    measurement_id: str | None = None  #: None: the measurement being stored
    timepoint_id: str | None = None  #: None: the plan's timepoint (else a screening scan's)


@dataclass(frozen=True)
class TrackingPlan:
    """What :func:`apply` will write for one measurement, or why nothing (``skip``)."""

    timepoint_id: str
    kind: str  # "baseline" | "follow_up" | "skip"
    fingerprint: str
    reason: str = ""
    lesions: tuple[ProposedLesion, ...] = ()  # new rows: the baseline record, or NEW lesions
    readings: tuple[ProposedReading, ...] = ()
    summary: dict[str, Any] = field(default_factory=dict)
    #: the timepoint's measurement of record the plan rests on (None: the one being stored)
    record_measurement_id: str | None = None


@dataclass(frozen=True)
class _Source:
    """One measurement of the timepoint that tracking reads (``None``: the one being stored)."""

    measurement_id: str | None
    result: Mapping[str, Any]
    masks: MeasuredMasks


@dataclass(frozen=True)
class _Sources:
    """A timepoint's measurement of record, and its measurements without a liver (oldest first):
    these add lesions to the record but never a burden (contracts/trial-record.md)."""

    record: _Source
    extra: tuple[_Source, ...] = ()

    @property
    def all(self) -> tuple[_Source, ...]:
        return (self.record, *self.extra)


@dataclass(frozen=True)
class _Seen:
    """A lesion already taken at this visit: a later measurement's lesion in the same place is
    the same lesion measured twice, not another one."""

    name: str
    organ: str
    centroid_mm: list[float]
    size_mm: float


def _skip(tp: Timepoint, fingerprint: str, reason: str) -> TrackingPlan:
    return TrackingPlan(tp.id, "skip", fingerprint, reason=reason)


# -- reading the record ------------------------------------------------------------------------


def _subject_lesions(session: Session, subject: Subject) -> list[Lesion]:
    stmt = select(Lesion).where(Lesion.subject_pk == subject.id).order_by(Lesion.lesion_id)
    return list(session.execute(stmt).scalars())


def _readings(session: Session, lesions: Sequence[Lesion], tp_id: str) -> list[LesionMeasurement]:
    if not lesions:
        return []
    stmt = select(LesionMeasurement).where(
        LesionMeasurement.lesion_pk.in_([x.id for x in lesions]),
        LesionMeasurement.timepoint_id == tp_id,
    )
    return list(session.execute(stmt).scalars())


def _fingerprint(session: Session, tp: Timepoint, storing: str | None = None) -> str:
    """What a plan depends on: the record's lesions, this timepoint's confirmed readings, its
    measurements (but ``storing``, the one whose transaction applies the plan) and the pick."""
    lesions = _subject_lesions(session, tp.subject)
    rows = [
        [x.lesion_id, x.role, x.state, x.measurement_id, x.measurement_lesion_id] for x in lesions
    ]
    confirmed = sorted(
        m.lesion_pk for m in _readings(session, lesions, tp.id) if m.state == CONFIRMED
    )
    measured = sorted(m.id for m in repo.timepoint_measurements(session, tp) if m.id != storing)
    text = json.dumps(
        [rows, confirmed, measured, tp.record_measurement_id], sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- measured lesions --------------------------------------------------------------------------


def _organs(result: Mapping[str, Any]) -> list[str]:
    """Each measured lesion's organ as the measurement named it (the pipeline names every one;
    tumour-label lesions are taken as hepatic otherwise, contracts/measure.md)."""
    return [str(les.get("organ") or "liver") for les in result.get("lesions") or []]


def _centroids(masks: MeasuredMasks, count: int) -> list[list[float]]:
    return [[round(float(v), 2) for v in row] for row in centroids_mm(masks, count)]


def _size_mm(lesion: Mapping[str, Any], node: bool) -> float:
    return float(lesion["short_axis_mm" if node else "long_axis_mm"])


def compatible_organs(a: str | None, b: str | None) -> bool:
    """Whether a lesion of organ ``a`` may be the same lesion as one of organ ``b``: the same
    organ, or one of them unnamed (``other``, or not known)."""
    if not a or not b:
        return True
    a, b = a.strip().lower(), b.strip().lower()
    return a == b or "other" in (a, b)


def _seen(src: _Source) -> list[_Seen]:
    lesions = list(src.result.get("lesions") or [])
    centroids = _centroids(src.masks, len(lesions))
    return [
        _Seen(str(les["lesion_id"]), organ, c, _size_mm(les, node=False))
        for les, organ, c in zip(lesions, _organs(src.result), centroids, strict=True)
    ]


def _same_place(taken: Sequence[_Seen], lesion: _Seen) -> _Seen | None:
    """The lesion of ``taken`` that ``lesion`` is (centroids closer than half the larger long
    axis, at least 5 mm; compatible organs), if any."""
    for t in taken:
        tolerance = max(5.0, 0.5 * max(t.size_mm, lesion.size_mm))
        gap = float(np.linalg.norm(np.subtract(t.centroid_mm, lesion.centroid_mm)))
        if compatible_organs(t.organ, lesion.organ) and gap <= tolerance:
            return t
    return None


def _duplicates(src: _Source, taken: list[_Seen], note: dict[str, str]) -> set[int]:
    """The lesion numbers of ``src`` that are lesions of ``taken`` (other measurements of the
    visit) measured again, noted as ``{"<measurement>:Lk": name}``; the others join ``taken``."""
    out: set[int] = set()
    fresh = []
    for j, lesion in enumerate(_seen(src), start=1):
        same = _same_place(taken, lesion)
        if same is None:
            fresh.append(lesion)
        else:
            out.add(j)
            note[f"{src.measurement_id or 'this'}:L{j}"] = same.name
    taken += fresh
    return out


# -- baseline ----------------------------------------------------------------------------------


def propose_record(
    result: Mapping[str, Any], masks: MeasuredMasks, measurement_id: str | None = None
) -> tuple[list[ProposedLesion], list[ProposedReading], dict[str, Any]]:
    """A baseline measurement's lesions as a proposed record: ``T1..`` targets, ``NT1..`` the rest,
    with their baseline readings."""
    lesions = list(result.get("lesions") or [])
    organs = _organs(result)
    centroids = _centroids(masks, len(lesions))
    candidates = [
        Candidate(
            key=str(les["lesion_id"]),
            organ=organ,
            long_axis_mm=float(les["long_axis_mm"]),
            short_axis_mm=float(les["short_axis_mm"]),
            measurable=bool(les.get("measurable")),
        )
        for les, organ in zip(lesions, organs, strict=True)
    ]
    targets = propose_targets(candidates)
    names: dict[str, str] = {key: f"T{n}" for n, key in enumerate(targets, start=1)}
    others = [c.key for c in candidates if c.key not in names]
    names.update({key: f"NT{n}" for n, key in enumerate(others, start=1)})
    rows = []
    readings = []
    for les, organ, centroid in zip(lesions, organs, centroids, strict=True):
        key = str(les["lesion_id"])
        role = "target" if key in targets else "non_target"
        rows.append(ProposedLesion(names[key], organ, role, key, centroid, measurement_id))
        readings.append(
            ProposedReading(
                names[key],
                diameter_mm=_size_mm(les, node=False),
                source_lesion_id=key,
                evidence={"kind": "baseline", "measurable": bool(les.get("measurable"))},
                measurement_id=measurement_id,
            )
        )
    rows.sort(key=lambda r: (r.role != "target", int(r.lesion_id.lstrip("NT"))))
    return rows, readings, {"targets": len(targets), "non_targets": len(others)}


def _organ_key(organ: str) -> str:
    return organ.strip().lower()


def add_to_record(
    rows: list[ProposedLesion],
    readings: list[ProposedReading],
    src: _Source,
    skip: set[int],
) -> list[str]:
    """A baseline's measurement without a liver: its lesions (but ``skip``) join the proposed
    record after the others; a measurable one is a proposed target while RECIST 1.1 leaves room
    (at most 5, at most 2 per organ), never displacing one. The names given, in order."""
    lesions = list(src.result.get("lesions") or [])
    organs = _organs(src.result)
    centroids = _centroids(src.masks, len(lesions))
    fresh = [j for j in range(1, len(lesions) + 1) if j not in skip]
    ranked = propose_targets(
        [
            Candidate(
                key=str(j),
                organ=organs[j - 1],
                long_axis_mm=float(lesions[j - 1]["long_axis_mm"]),
                short_axis_mm=float(lesions[j - 1]["short_axis_mm"]),
                measurable=bool(lesions[j - 1].get("measurable")),
            )
            for j in fresh
        ]
    )
    per_organ: dict[str, int] = {}
    for r in rows:
        if r.role == "target":
            per_organ[_organ_key(r.organ)] = per_organ.get(_organ_key(r.organ), 0) + 1
    targets = set()
    for key in ranked:
        organ = _organ_key(organs[int(key) - 1])
        if sum(per_organ.values()) < criteria.MAX_TARGETS and (
            per_organ.get(organ, 0) < criteria.MAX_TARGETS_PER_ORGAN
        ):
            targets.add(int(key))
            per_organ[organ] = per_organ.get(organ, 0) + 1
    counts = {
        "target": sum(r.role == "target" for r in rows),
        "non_target": sum(r.role == "non_target" for r in rows),
    }
    names = []
    for j in fresh:
        role = "target" if j in targets else "non_target"
        counts[role] += 1
        name = f"{'T' if role == 'target' else 'NT'}{counts[role]}"
        names.append(name)
        les = lesions[j - 1]
        rows.append(
            ProposedLesion(name, organs[j - 1], role, f"L{j}", centroids[j - 1], src.measurement_id)
        )
        readings.append(
            ProposedReading(
                name,
                diameter_mm=_size_mm(les, node=False),
                source_lesion_id=f"L{j}",
                evidence={
                    "kind": "baseline",
                    "measurable": bool(les.get("measurable")),
                    "without_liver": True,
                },
                measurement_id=src.measurement_id,
            )
        )
    return names


def _plan_baseline(
    session: Session,
    blobs: BlobStore,
    subject: Subject,
    tp: Timepoint,
    sources: _Sources,
    fingerprint: str,
) -> TrackingPlan:
    if any(x.state == CONFIRMED for x in _subject_lesions(session, subject)):
        return _skip(
            tp,
            fingerprint,
            "the subject's lesion record was confirmed by a reader; a new baseline measurement "
            "does not replace it (change it with PUT .../lesions)",
        )
    rec = sources.record
    rows, readings, summary = propose_record(rec.result, rec.masks, rec.measurement_id)
    summary = dict(summary)
    taken = _seen(rec)
    twice: dict[str, str] = {}
    added: list[str] = []
    for src in sources.extra:
        added += add_to_record(rows, readings, src, _duplicates(src, taken, twice))
    if sources.extra:
        summary.update(
            targets=sum(r.role == "target" for r in rows),
            non_targets=sum(r.role == "non_target" for r in rows),
            added_without_liver=added,
            measured_twice=twice,
        )
    screened = _link_screenings(session, blobs, subject, tp, rows, sources)
    if screened:
        readings += [r for found in screened.values() for r in found]
        summary["screening"] = {t: len(found) for t, found in screened.items()}
    return TrackingPlan(
        tp.id,
        "baseline",
        fingerprint,
        lesions=tuple(rows),
        readings=tuple(readings),
        summary=summary,
        record_measurement_id=rec.measurement_id,
    )


@dataclass(frozen=True)
class NewRecordLesion:
    """A lesion of a record being proposed (not stored yet), as linking needs it."""

    lesion_id: str
    role: str
    organ: str
    lymph_node: bool = False


def _link_screenings(
    session: Session,
    blobs: BlobStore,
    subject: Subject,
    baseline: Timepoint,
    rows: Sequence[ProposedLesion],
    sources: _Sources,
) -> dict[str, list[ProposedReading]]:
    """The proposed record linked to each scan before the baseline that was measured already
    (a screening scan measured later is linked by its own job): readings by timepoint."""
    refs = [
        LesionRef(
            NewRecordLesion(r.lesion_id, r.role, r.organ),
            r.measurement_id or "",
            r.measurement_lesion_id,
        )
        for r in rows
    ]
    by_measurement = {src.measurement_id or "": (src.result, src.masks) for src in sources.all}
    out: dict[str, list[ProposedReading]] = {}
    for tp in repo.subject_timepoints(session, subject):
        if tp.date >= baseline.date or tp.baseline:
            continue
        if any(r.state == CONFIRMED for r in _timepoint_readings(session, tp.id)):
            continue
        found = _stored_sources(session, blobs, tp)
        if found is None:
            continue
        readings, _, _, _ = _link_visit(refs, by_measurement, found, timepoint_id=tp.id)
        out[tp.id] = list(readings.values())
    return out


def _timepoint_readings(session: Session, tp_id: str) -> list[LesionMeasurement]:
    stmt = select(LesionMeasurement).where(LesionMeasurement.timepoint_id == tp_id)
    return list(session.execute(stmt).scalars())


# -- follow-up ---------------------------------------------------------------------------------


class RecordLesion(Protocol):
    """What linking needs of a record lesion (a :class:`~app.db.models.Lesion` row, or the
    command line's own record)."""

    @property
    def lesion_id(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def lymph_node(self) -> bool: ...

    @property
    def organ(self) -> str: ...


@dataclass(frozen=True)
class LesionRef:
    """A record lesion and the measured lesion (``Lk`` of a measurement) it is followed from."""

    lesion: RecordLesion
    measurement_id: str
    measured_id: str


def _refs(session: Session, lesions: Sequence[Lesion]) -> tuple[list[LesionRef], list[str]]:
    """Each lesion's mask reference: its own, else its first reading's from a measurement."""
    refs: list[LesionRef] = []
    missing: list[str] = []
    for lesion in lesions:
        if lesion.measurement_id and lesion.measurement_lesion_id:
            refs.append(LesionRef(lesion, lesion.measurement_id, lesion.measurement_lesion_id))
            continue
        first_tp = lesion.first_timepoint_id
        stmt = select(LesionMeasurement).where(
            LesionMeasurement.lesion_pk == lesion.id,
            LesionMeasurement.measurement_id.is_not(None),
        )
        rows = [r for r in session.execute(stmt).scalars() if first_tp in (None, r.timepoint_id)]
        rows.sort(key=lambda r: r.updated_at)
        found = next(
            (r for r in rows if r.source_lesion_id and "+" not in r.source_lesion_id), None
        )
        if found is None or found.measurement_id is None or found.source_lesion_id is None:
            missing.append(lesion.lesion_id)
        else:
            refs.append(LesionRef(lesion, found.measurement_id, found.source_lesion_id))
    return refs, missing


def _evidence(kind: str, link: Any, tracked: VisitLinks) -> dict[str, Any]:
    a = tracked.alignment
    out: dict[str, Any] = {"kind": kind}
    if link is not None:
        out.update(
            distance_mm=round(link.distance_mm, 2),
            overlap=round(link.overlap, 3),
            confidence=round(link.confidence, 3),
        )
    out["alignment"] = {
        "organ": a.organ,
        "shift_mm": round(a.shift_mm, 1),
        "rotation_deg": round(a.rotation_deg, 2),
        "residual_mm": None if np.isnan(a.residual_mm) else round(a.residual_mm, 2),
    }
    return out


def _continuing(lesions: Sequence[RecordLesion]) -> RecordLesion:
    """Of coalesced record lesions, the one that carries the coalesced lesion: a target first."""
    return sorted(lesions, key=lambda x: (x.role != "target", x.lesion_id))[0]


def link_refs(
    refs: Sequence[LesionRef],
    by_measurement: Mapping[str, tuple[Mapping[str, Any], MeasuredMasks]],
    result: Mapping[str, Any],
    masks: MeasuredMasks,
    readings: dict[str, ProposedReading],
    used_later: set[int],
    absent_status: bool,
    measurement_id: str | None = None,
) -> dict[str, Any]:
    """Link record lesions (grouped by the measurement they are followed from) to ``result``
    (measurement ``measurement_id``; None: the one being stored). A record lesion is never
    linked to a lesion of another named organ."""
    later = list(result.get("lesions") or [])
    organs = _organs(result)
    stats: dict[str, Any] = {}
    groups: dict[str, list[LesionRef]] = {}
    for ref in refs:
        groups.setdefault(ref.measurement_id, []).append(ref)
    for mid, group in groups.items():
        earlier_result, earlier_masks = by_measurement[mid]
        tracked = link_visits(earlier_masks, earlier_result.get("lesions") or [], masks, later)
        stats[mid] = {
            "alignment_organ": tracked.alignment.organ,
            "shift_mm": round(tracked.alignment.shift_mm, 1),
            "rotation_deg": round(tracked.alignment.rotation_deg, 2),
        }
        by_measured = {ref.measured_id: ref.lesion for ref in group}
        for link in tracked.links.links:
            fresh = [j for j in link.later if j not in used_later]
            mine = [
                by_measured[f"L{n}"]
                for n in link.earlier
                if f"L{n}" in by_measured
                and all(compatible_organs(by_measured[f"L{n}"].organ, organs[j - 1]) for j in fresh)
            ]
            if not mine or not fresh:
                continue
            used_later.update(fresh)
            ids = "+".join(f"L{j}" for j in fresh)
            if link.kind == "merged" and len(mine) > 1:
                keep = _continuing(mine)
                node = keep.lymph_node
                readings[keep.lesion_id] = ProposedReading(
                    keep.lesion_id,
                    diameter_mm=_size_mm(later[fresh[0] - 1], node),
                    source_lesion_id=ids,
                    merged_from=[x.lesion_id for x in mine if x is not keep],
                    evidence=_evidence("merged", link, tracked),
                    measurement_id=measurement_id,
                )
                for x in mine:
                    if x is not keep:
                        readings[x.lesion_id] = ProposedReading(
                            x.lesion_id,
                            status="merged",
                            merged_into=keep.lesion_id,
                            source_lesion_id=ids,
                            evidence=_evidence("merged", link, tracked),
                            measurement_id=measurement_id,
                        )
                continue
            for x in mine:
                sizes = [_size_mm(later[j - 1], x.lymph_node) for j in fresh]
                if len(sizes) > 1:
                    readings[x.lesion_id] = ProposedReading(
                        x.lesion_id,
                        fragments_mm=sizes,
                        source_lesion_id=ids,
                        evidence=_evidence("split", link, tracked),
                        measurement_id=measurement_id,
                    )
                elif x.role == "target" and sizes[0] < _TOO_SMALL_MM:
                    readings[x.lesion_id] = ProposedReading(
                        x.lesion_id,
                        status="too_small",
                        source_lesion_id=ids,
                        evidence=_evidence("matched", link, tracked)
                        | {"measured_mm": round(sizes[0], 2)},
                        measurement_id=measurement_id,
                    )
                else:
                    readings[x.lesion_id] = ProposedReading(
                        x.lesion_id,
                        diameter_mm=sizes[0],
                        source_lesion_id=ids,
                        evidence=_evidence("matched", link, tracked),
                        measurement_id=measurement_id,
                    )
        if absent_status:
            for ref in group:
                if ref.lesion.lesion_id not in readings:
                    readings[ref.lesion.lesion_id] = ProposedReading(
                        ref.lesion.lesion_id,
                        status="absent",
                        evidence=_evidence("absent", None, tracked),
                        measurement_id=measurement_id,
                    )
    return stats


def new_lesions(
    result: Mapping[str, Any],
    masks: MeasuredMasks,
    used_later: set[int],
    first_number: int,
    readings: dict[str, ProposedReading],
    measurement_id: str | None = None,
) -> list[ProposedLesion]:
    """The measured lesions no link used, as new lesions ``NEW<first_number>..`` (equivocal while
    not measurable); their first readings go to ``readings``."""
    later = list(result.get("lesions") or [])
    organs = _organs(result)
    centroids = _centroids(masks, len(later))
    next_new = first_number
    rows = []
    for j in range(1, len(later) + 1):
        if j in used_later:
            continue
        les = later[j - 1]
        name = f"NEW{next_new}"
        next_new += 1
        rows.append(
            ProposedLesion(name, organs[j - 1], ROLE_NEW, f"L{j}", centroids[j - 1], measurement_id)
        )
        readings[name] = ProposedReading(
            name,
            diameter_mm=_size_mm(les, node=False),
            source_lesion_id=f"L{j}",
            evidence={"kind": "new", "equivocal": not bool(les.get("measurable"))},
            measurement_id=measurement_id,
        )
    return rows


def _link_visit(
    refs: Sequence[LesionRef],
    by_measurement: Mapping[str, tuple[Mapping[str, Any], MeasuredMasks]],
    sources: _Sources,
    timepoint_id: str | None = None,
) -> tuple[dict[str, ProposedReading], list[set[int]], dict[str, Any], dict[str, str]]:
    """Link ``refs`` to one visit's measurements: the measurement of record first (it decides
    what is absent), then those without a liver for what it left absent; a lesion measured twice
    at the visit is one lesion. Readings, the lesion numbers used per source, alignment stats,
    lesions measured twice."""
    taken: list[_Seen] = []
    twice: dict[str, str] = {}
    used = [_duplicates(src, taken, twice) for src in sources.all]
    readings: dict[str, ProposedReading] = {}
    rec = sources.record
    stats = link_refs(
        refs, by_measurement, rec.result, rec.masks, readings, used[0], True, rec.measurement_id
    )
    for src, used_here in zip(sources.extra, used[1:], strict=True):
        still_open = [
            r
            for r in refs
            if r.lesion.lesion_id not in readings or readings[r.lesion.lesion_id].status == "absent"
        ]
        link_refs(
            still_open,
            by_measurement,
            src.result,
            src.masks,
            readings,
            used_here,
            False,
            src.measurement_id,
        )
    if timepoint_id is not None:
        readings = {k: replace(r, timepoint_id=timepoint_id) for k, r in readings.items()}
    return readings, used, stats, twice


def _kinds(readings: Mapping[str, ProposedReading]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in readings.values():
        kind = str(r.evidence.get("kind"))
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def _unlinked(sources: _Sources, used: Sequence[set[int]]) -> list[str]:
    return [
        f"{src.measurement_id or 'this'}:L{j}"
        for src, taken in zip(sources.all, used, strict=True)
        for j in range(1, len(src.result.get("lesions") or []) + 1)
        if j not in taken
    ]


def _plan_follow_up(
    session: Session,
    blobs: BlobStore,
    subject: Subject,
    tp: Timepoint,
    sources: _Sources,
    fingerprint: str,
    screening: bool = False,
) -> TrackingPlan:
    """A follow-up linked to the record (new lesions found); or, ``screening``, a scan before
    the baseline: the record's lesions as they were then (a record lesion not seen is
    ``absent``, a component the record does not have is listed as unlinked, never a new lesion:
    the record starts at the baseline)."""
    lesions = _subject_lesions(session, subject)
    record = [x for x in lesions if x.role in RECORD_ROLES]
    if not record:
        return _skip(
            tp,
            fingerprint,
            "no lesion record yet: the screening scan is linked when the baseline is measured"
            if screening
            else "no lesion record yet: measure the baseline first",
        )
    if any(m.state == CONFIRMED for m in _readings(session, lesions, tp.id)):
        return _skip(
            tp,
            fingerprint,
            "this timepoint's readings were confirmed by a reader; a new measurement does not "
            "replace them",
        )
    timepoints = {t.id: t for t in repo.subject_timepoints(session, subject)}
    earlier_new = [
        x
        for x in lesions
        if not screening
        and x.role == ROLE_NEW
        and x.state != REJECTED
        and x.first_timepoint_id in timepoints
        and timepoints[x.first_timepoint_id].date < tp.date
    ]
    refs, missing = _refs(session, record)
    if missing:
        return _skip(
            tp,
            fingerprint,
            f"lesion(s) {', '.join(missing)} have no measured lesion to follow (recorded by "
            "hand without a mask): link this timepoint by hand",
        )
    new_refs, _ = _refs(session, earlier_new)
    by_measurement: dict[str, tuple[Mapping[str, Any], MeasuredMasks]] = {}
    for mid in {r.measurement_id for r in [*refs, *new_refs]}:
        m = session.get(Measurement, mid)
        kept = None if m is None or m.voided else load_kept_masks(blobs, m.masks_sha256)
        if m is None or kept is None:
            if any(r.measurement_id == mid for r in refs):
                return _skip(
                    tp,
                    fingerprint,
                    f"measurement {mid} the record follows has no kept masks (made before they "
                    "were kept, or voided): measure the baseline again, or link by hand",
                )
            continue
        by_measurement[mid] = (m.result, kept)
    usable_new = [r for r in new_refs if r.measurement_id in by_measurement]
    readings, used, stats, twice = _link_visit([*refs, *usable_new], by_measurement, sources)
    if screening:
        summary: dict[str, Any] = {
            "links": _kinds(readings),
            "references": stats,
            "unlinked": _unlinked(sources, used),
        }
        if sources.extra:
            summary["measured_twice"] = twice
        return TrackingPlan(
            tp.id,
            "screening",
            fingerprint,
            readings=tuple(readings.values()),
            summary=summary,
            record_measurement_id=sources.record.measurement_id,
        )

    numbers = [
        int(x.lesion_id[3:])
        for x in lesions
        if x.role == ROLE_NEW and x.lesion_id[3:].isdigit() and x.first_timepoint_id != tp.id
    ]
    rows: list[ProposedLesion] = []
    for src, used_here in zip(sources.all, used, strict=True):
        first = max(numbers, default=0) + 1 + len(rows)
        rows += new_lesions(src.result, src.masks, used_here, first, readings, src.measurement_id)
    summary = {"links": _kinds(readings), "references": stats}
    if sources.extra:
        summary["measured_twice"] = twice
    return TrackingPlan(
        tp.id,
        "follow_up",
        fingerprint,
        lesions=tuple(rows),
        readings=tuple(readings.values()),
        summary=summary,
        record_measurement_id=sources.record.measurement_id,
    )


# -- plan and apply ----------------------------------------------------------------------------


def _sources(
    session: Session,
    blobs: BlobStore,
    tp: Timepoint,
    result: Mapping[str, Any],
    masks: MeasuredMasks,
) -> _Sources | str:
    """The measurements tracking reads at ``tp`` once ``result`` is stored, or why none."""
    stored = repo.timepoint_measurements(session, tp)
    current = _Source(None, result, masks)
    picked = next((m for m in stored if m.id == tp.record_measurement_id), None)
    if picked is None and (
        repo.has_liver(result) or not any(repo.has_liver(m.result) for m in stored)
    ):
        record_row = None  # the measurement being stored becomes the one of record
    else:
        record_row = picked or next(m for m in stored if repo.has_liver(m.result))
        if repo.has_liver(result):
            return "not the timepoint's measurement of record"

    if record_row is None:
        record = current
    else:
        found = _kept(blobs, record_row)
        if found is None:
            return (
                f"the timepoint's measurement of record {record_row.id} has no kept masks (made "
                "before they were kept): measure it again to track this timepoint"
            )
        record = found
    extra = _liverless_kept(blobs, stored, record_row)
    if record is not current:
        extra.append(current)
    return _Sources(record, tuple(extra))


def _kept(blobs: BlobStore, m: Measurement) -> _Source | None:
    """A stored measurement with its kept masks, or ``None`` when they were not kept."""
    found = load_kept_masks(blobs, m.masks_sha256)
    return None if found is None else _Source(m.id, m.result, found)


def _liverless_kept(
    blobs: BlobStore, stored: Sequence[Measurement], record_row: Measurement | None
) -> list[_Source]:
    """The measurements of a timepoint without a liver, oldest first, that kept their masks
    (``stored`` is newest first, as the repository lists it)."""
    return [
        src
        for m in reversed(stored)
        if m is not record_row and not repo.has_liver(m.result) and (src := _kept(blobs, m))
    ]


def _stored_sources(session: Session, blobs: BlobStore, tp: Timepoint) -> _Sources | None:
    """A timepoint's stored measurement of record and those without a liver (with kept masks),
    or ``None`` when it has no measurement of record with kept masks."""
    record_row = repo.measurement_of_record(session, tp)
    record = None if record_row is None else _kept(blobs, record_row)
    if record is None:
        return None
    extra = _liverless_kept(blobs, repo.timepoint_measurements(session, tp), record_row)
    return _Sources(record, tuple(extra))


def plan(
    session: Session,
    blobs: BlobStore,
    timepoint_id: str,
    result: Mapping[str, Any],
    masks: MeasuredMasks,
) -> TrackingPlan:
    """What tracking will write for a measurement of ``timepoint_id`` (reads only).

    The timepoint is tracked from its measurement of record, joined by its measurements without
    a liver (their lesions are added; they never bring a burden), whichever of them is stored.
    """
    tp = session.get(Timepoint, timepoint_id)
    if tp is None or tp.voided:
        return TrackingPlan(timepoint_id, "skip", "", reason="the timepoint was voided")
    fingerprint = _fingerprint(session, tp)
    sources = _sources(session, blobs, tp, result, masks)
    if isinstance(sources, str):
        return _skip(tp, fingerprint, sources)
    return _plan_for(session, blobs, tp, sources, fingerprint)


def _plan_for(
    session: Session, blobs: BlobStore, tp: Timepoint, sources: _Sources, fingerprint: str
) -> TrackingPlan:
    """The plan of a timepoint read from ``sources``: the baseline's record, or its links."""
    subject = tp.subject
    if tp.baseline:
        return _plan_baseline(session, blobs, subject, tp, sources, fingerprint)
    baselines = [t for t in repo.subject_timepoints(session, subject) if t.baseline]
    if not baselines:
        return _skip(tp, fingerprint, "no baseline timepoint yet")
    if tp.date == baselines[0].date:
        return _skip(tp, fingerprint, "dated as the baseline: neither a follow-up nor a screening")
    screening = tp.date < baselines[0].date
    return _plan_follow_up(session, blobs, subject, tp, sources, fingerprint, screening)


def track_again(
    session: Session, blobs: BlobStore, subject: Subject, tp: Timepoint, actor: str
) -> str:
    """Link a timepoint's stored measurements to the lesion record again (audited as tracking).

    For a record that changed after the timepoint was tracked (a reader changed the baseline's
    roles, say): the proposals are replaced as a new measurement would replace them; readings a
    reader confirmed are never touched.

    Raises
    ------
    ConflictError
        No measurement of record with its masks kept, or nothing to link (the reason says
        why: readings confirmed, no baseline yet, ...).
    """
    record = repo.measurement_of_record(session, tp)
    sources = None if record is None else _stored_sources(session, blobs, tp)
    if record is None or sources is None:
        raise ConflictError(
            f"timepoint {tp.label!r} has no measurement of record with its masks kept; "
            "measure it (again) to track it"
        )
    p = _plan_for(session, blobs, tp, sources, _fingerprint(session, tp, storing=record.id))
    if p.kind == "skip":
        raise ConflictError(f"timepoint {tp.label!r} cannot be linked again: {p.reason}")
    logger.info("subject's timepoint linked again on request")
    return apply(session, p, record, actor)


def _write_reading(
    session: Session, lesion: Lesion, tp_id: str, r: ProposedReading, m: Measurement, actor: str
) -> None:
    session.add(
        LesionMeasurement(
            lesion_pk=lesion.id,
            timepoint_id=tp_id,
            diameter_mm=r.diameter_mm,
            fragments_mm=r.fragments_mm,
            status=r.status,
            source="mask",
            measurement_id=r.measurement_id or m.id,
            source_lesion_id=r.source_lesion_id,
            state=PROPOSED,
            evidence=r.evidence,
            merged_into=r.merged_into,
            merged_from=r.merged_from,
            updated_by=actor,
            updated_at=utcnow(),
        )
    )


def _drop_proposals(session: Session, lesions: Sequence[Lesion], tp: Timepoint) -> None:
    """Remove this timepoint's proposed readings and the proposed lesions it introduced."""
    for row in _readings(session, lesions, tp.id):
        if row.state == PROPOSED:
            session.delete(row)
    for lesion in lesions:
        introduced_here = lesion.role == ROLE_NEW and lesion.first_timepoint_id == tp.id
        baseline_proposal = tp.baseline and lesion.role in RECORD_ROLES
        if lesion.state == PROPOSED and (introduced_here or baseline_proposal):
            for row in session.execute(
                select(LesionMeasurement).where(LesionMeasurement.lesion_pk == lesion.id)
            ).scalars():
                session.delete(row)
            session.delete(lesion)
    session.flush()


def apply(session: Session, p: TrackingPlan, m: Measurement, actor: str) -> str:
    """Write ``p`` for measurement ``m`` (inside its transaction); the outcome in a few words."""
    tp = session.get(Timepoint, p.timepoint_id)
    if tp is None:
        return "skipped: no timepoint"
    subject = tp.subject
    outcome = p.kind
    reason = p.reason
    if p.kind != "skip":
        record = repo.measurement_of_record(session, tp)
        expected = p.record_measurement_id or m.id
        if record is None or record.id != expected:
            outcome = "skip"
            reason = "the timepoint's measurement of record changed while measuring"
        elif _fingerprint(session, tp, storing=m.id) != p.fingerprint:
            outcome = "skip"
            reason = "the lesion record changed while measuring: link this timepoint again"
    if outcome == "skip":
        audit.record(
            session,
            actor,
            "lesions.tracking_skipped",
            "timepoint",
            tp.id,
            {"subject_id": subject.subject_id, "measurement_id": m.id, "reason": reason},
        )
        return f"skipped: {reason}"
    lesions = _subject_lesions(session, subject)
    _drop_proposals(session, lesions, tp)
    created: dict[str, Lesion] = {}
    for row in p.lesions:
        lesion = Lesion(
            subject_pk=subject.id,
            lesion_id=row.lesion_id,
            organ=row.organ,
            lymph_node=False,
            role=row.role,
            state=PROPOSED,
            measurement_id=row.measurement_id or m.id,
            measurement_lesion_id=row.measurement_lesion_id,
            centroid_mm=row.centroid_mm,
            first_timepoint_id=tp.id if row.role == ROLE_NEW else None,
            updated_by=actor,
        )
        session.add(lesion)
        created[row.lesion_id] = lesion
    session.flush()
    by_id = {x.lesion_id: x for x in _subject_lesions(session, subject)}
    for r in p.readings:
        _write_reading(session, by_id[r.lesion_id], r.timepoint_id or tp.id, r, m, actor)
    session.flush()
    audit.record(
        session,
        actor,
        "lesions.tracked",
        "timepoint",
        tp.id,
        {
            "subject_id": subject.subject_id,
            "measurement_id": m.id,
            "kind": p.kind,
            "lesions_created": sorted(created),
            "readings": len(p.readings),
            **p.summary,
        },
    )
    return f"{p.kind}: {len(p.readings)} reading(s), {len(created)} lesion(s) created"


# -- review ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LesionChange:
    """A reader's override while confirming a timepoint's proposal.

    One of: ``role`` (baseline only: ``target``/``non_target``), ``measurement_lesion_id`` (re-link
    to another measured lesion of the timepoint's measurement of record, or of ``measurement_id``,
    another measurement of the timepoint), ``status`` (``absent``,
    ``too_small``, ``present``, ``not_evaluated``), ``reject`` (a new lesion is none), ``equivocal``
    (a new lesion's call).
    """

    lesion_id: str
    role: str | None = None
    measurement_lesion_id: str | None = None
    status: str | None = None
    reject: bool | None = None
    equivocal: bool | None = None
    measurement_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The change as audited (what was given only)."""
        keys = (
            "lesion_id",
            "role",
            "measurement_lesion_id",
            "measurement_id",
            "status",
            "reject",
            "equivocal",
        )
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


def _reading_dict(row: LesionMeasurement) -> dict[str, Any]:
    return {
        "diameter_mm": row.diameter_mm,
        "fragments_mm": row.fragments_mm,
        "status": row.status,
        "source_lesion_id": row.source_lesion_id,
        "state": row.state,
    }


def _relink_target(
    session: Session, tp: Timepoint, lesion: Lesion, change: LesionChange
) -> tuple[Measurement, Mapping[str, Any]]:
    """The measurement and measured lesion a re-link names, checked: a measurement of this
    timepoint (not voided), a lesion it has, of an organ the record lesion can be."""
    if change.measurement_id is None:
        m = repo.measurement_of_record(session, tp)
        where = "the timepoint's measurement of record"
    else:
        stored = repo.timepoint_measurements(session, tp)
        m = next((x for x in stored if x.id == change.measurement_id), None)
        where = f"measurement {change.measurement_id}"
        if m is None:
            ids = ", ".join(x.id for x in stored) or "none"
            raise InvalidRequestError(
                f"{lesion.lesion_id}: {where} is not a measurement of timepoint {tp.label!r}; "
                f"expected one of its measurements not voided ({ids})"
            )
    found = next(
        (
            les
            for les in ([] if m is None else m.result.get("lesions") or [])
            if les.get("lesion_id") == change.measurement_lesion_id
        ),
        None,
    )
    if m is None or found is None:
        raise InvalidRequestError(
            f"{lesion.lesion_id}: {where} has no lesion {change.measurement_lesion_id!r}"
        )
    organ = found.get("organ")
    if not compatible_organs(lesion.organ, organ):
        raise InvalidRequestError(
            f"{lesion.lesion_id} is a lesion of the {lesion.organ}; {change.measurement_lesion_id} "
            f"of {where} was measured in the {organ}: expected a lesion of the same organ"
        )
    return m, found


def _apply_change(
    session: Session,
    tp: Timepoint,
    lesion: Lesion,
    row: LesionMeasurement | None,
    change: LesionChange,
    actor: str,
) -> None:
    if change.role is not None:
        if not tp.baseline or lesion.role not in RECORD_ROLES:
            raise InvalidRequestError(
                f"{lesion.lesion_id}: a role is chosen at the baseline, for a record lesion"
            )
        if change.role not in RECORD_ROLES:
            raise InvalidRequestError(f"{lesion.lesion_id}: role must be target or non_target")
        lesion.role = change.role
    if change.reject is not None or change.equivocal is not None:
        if lesion.role != ROLE_NEW:
            raise InvalidRequestError(f"{lesion.lesion_id} is not a new lesion")
        if change.reject:
            lesion.state = REJECTED
        if change.equivocal is not None and row is not None:
            row.evidence = {**(row.evidence or {}), "equivocal": change.equivocal}
    if change.measurement_lesion_id is not None or change.status is not None:
        if row is None:
            row = LesionMeasurement(lesion_pk=lesion.id, timepoint_id=tp.id, updated_by=actor)
            session.add(row)
        row.diameter_mm = row.fragments_mm = row.merged_into = row.merged_from = None
        row.status = change.status
        row.source_lesion_id = None
        if change.measurement_lesion_id is not None:
            m, found = _relink_target(session, tp, lesion, change)
            row.diameter_mm = _size_mm(found, lesion.lymph_node)
            row.source, row.measurement_id = "mask", m.id
            row.source_lesion_id = change.measurement_lesion_id
        row.evidence = {**(row.evidence or {}), "override": True}
        row.updated_by, row.updated_at = actor, utcnow()


def confirm_timepoint(
    session: Session,
    subject: Subject,
    tp: Timepoint,
    changes: Sequence[LesionChange],
    reason: str | None,
    actor: str,
) -> None:
    """Confirm a timepoint's proposal with the reader's changes (audited; changes need a reason)."""
    if changes and not (reason and reason.strip()):
        raise InvalidRequestError("changes to a proposal need a reason")
    lesions = {x.lesion_id: x for x in _subject_lesions(session, subject)}
    rows = {r.lesion_pk: r for r in _readings(session, list(lesions.values()), tp.id)}
    if not rows and not (tp.baseline and lesions):
        raise InvalidRequestError(
            f"timepoint {tp.label!r} has no lesion readings to confirm; measure it first"
        )
    before = {x.lesion_id: _reading_dict(rows[x.id]) for x in lesions.values() if x.id in rows}
    for change in changes:
        lesion = lesions.get(change.lesion_id)
        if lesion is None:
            raise NotFoundError(f"no lesion {change.lesion_id!r} in the subject's record")
        _apply_change(session, tp, lesion, rows.get(lesion.id), change, actor)
    session.flush()
    check_with_engine(session, subject)  # a change never leaves a record RECIST would refuse
    for row in _readings(session, list(lesions.values()), tp.id):
        row.state = CONFIRMED
    for lesion in lesions.values():
        if lesion.state == PROPOSED and (
            (tp.baseline and lesion.role in RECORD_ROLES) or lesion.first_timepoint_id == tp.id
        ):
            lesion.state = CONFIRMED
    session.flush()
    by_pk = {x.id: x.lesion_id for x in lesions.values()}
    after = {
        by_pk[r.lesion_pk]: _reading_dict(r)
        for r in _readings(session, list(lesions.values()), tp.id)
    }
    audit.record(
        session,
        actor,
        "lesions.confirmed",
        "timepoint",
        tp.id,
        {
            "subject_id": subject.subject_id,
            "reason": reason,
            "changes": [c.as_dict() for c in changes],
            "before": before,
            "after": after,
        },
    )


def provisional_timepoints(session: Session, subject: Subject) -> set[str]:
    """Timepoints whose readings (or, at the baseline, whose record) are still proposals."""
    lesions = _subject_lesions(session, subject)
    out: set[str] = set()
    if not lesions:
        return out
    stmt = select(LesionMeasurement).where(
        LesionMeasurement.lesion_pk.in_([x.id for x in lesions]),
        LesionMeasurement.state == PROPOSED,
    )
    out.update(r.timepoint_id for r in session.execute(stmt).scalars())
    if any(x.state == PROPOSED and x.role in RECORD_ROLES for x in lesions):
        out.update(t.id for t in repo.subject_timepoints(session, subject) if t.baseline)
    return out
