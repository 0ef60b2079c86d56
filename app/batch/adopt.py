"""Adopt an algorithm version: the service starts serving its reprocessed measurements.

Issue 18: who switches the service to a new version's results is an explicit, audited admin
action, never a side effect of reprocessing. Adopting version X lets the measurements that
``liverburden reprocess`` made under X take part in the timepoints' records (each is the latest
measurement of its timepoint, so it becomes the measurement of record unless a reader picked one
by hand). Each timepoint whose measurement of record changed is linked to the lesion record again,
and so is every later timepoint of that subject (a new baseline proposal replaces the readings
that hung on the old one); timepoints a reader confirmed keep their readings and are named in the
answer, to be confirmed again on the new numbers.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth import audit
from app.db import repo
from app.db.models import Adoption, Measurement, Timepoint
from app.errors import ConflictError, InvalidRequestError
from app.store.blobs import BlobStore
from app.subjects.tracking import track_again
from app.vocab import MeasurementOrigin

__all__ = ["Switched", "adopt_version"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Switched:
    """A timepoint whose record changed with the adoption, or that was linked again after one."""

    subject_id: str
    timepoint: str
    timepoint_id: str
    record_before: str | None
    record_after: str | None
    #: How its lesions were linked afterwards (or why they were kept as they were).
    tracking: str


def _records(session: Session) -> dict[str, tuple[Timepoint, str | None]]:
    """Every live timepoint's measurement of record, by timepoint id, in subject order."""
    out: dict[str, tuple[Timepoint, str | None]] = {}
    for subject in repo.live_subjects(session):
        timepoints = repo.subject_timepoints(session, subject)
        # the baseline first: follow-ups and screenings are linked to its record
        for tp in sorted(timepoints, key=lambda t: (not t.baseline, t.date, t.label)):
            record = repo.measurement_of_record(session, tp)
            out[tp.id] = (tp, None if record is None else record.id)
    return out


def _link_again(session: Session, blobs: BlobStore, tp: Timepoint, actor: str) -> str:
    try:
        with session.begin_nested():
            return track_again(session, blobs, tp.subject, tp, actor)
    except ConflictError as exc:
        return f"kept: {exc}"


def adopt_version(
    session: Session, blobs: BlobStore, version: str, reason: str, actor: str
) -> dict[str, Any]:
    """Adopt ``version`` (audited as ``algorithm.adopted``); what changed, for the answer.

    Raises
    ------
    InvalidRequestError
        No reason given.
    ConflictError
        The version is adopted already, or no measurement was reprocessed under it.
    """
    if not reason.strip():
        raise InvalidRequestError("a reason is required to adopt an algorithm version")
    if session.scalar(select(Adoption).where(Adoption.algorithm_version == version)) is not None:
        raise ConflictError(f"algorithm version {version!r} is adopted already")
    waiting = session.scalar(
        select(func.count())
        .select_from(Measurement)
        .where(
            Measurement.origin == MeasurementOrigin.REPROCESS,
            Measurement.algorithm_version == version,
            Measurement.voided_at.is_(None),
        )
    )
    if not waiting:
        raise ConflictError(
            f"no measurement was reprocessed under algorithm version {version!r}; run "
            "`liverburden reprocess` under that version first"
        )
    before = _records(session)
    row = Adoption(algorithm_version=version, reason=reason.strip(), adopted_by=actor)
    session.add(row)
    session.flush()
    switched: list[Switched] = []
    relink: set[int] = set()  # subjects whose later timepoints are linked again
    for tp_id, (tp, old) in before.items():
        new = repo.measurement_of_record(session, tp)
        new_id = None if new is None else new.id
        if new_id == old and tp.subject_pk not in relink:
            continue
        relink.add(tp.subject_pk)
        outcome = _link_again(session, blobs, tp, actor)
        switched.append(Switched(tp.subject.subject_id, tp.label, tp_id, old, new_id, outcome))
    summary = {
        "algorithm_version": version,
        "reason": row.reason,
        "adopted_by": actor,
        "adopted_at": row.adopted_at.isoformat(),
        "reprocessed_measurements": int(waiting),
        "records_switched": sum(s.record_before != s.record_after for s in switched),
        "timepoints_kept": sum(s.tracking.startswith("kept") for s in switched),
    }
    audit.record(
        session,
        actor,
        "algorithm.adopted",
        "algorithm_version",
        version,
        {
            **{k: summary[k] for k in ("reason", "reprocessed_measurements", "records_switched")},
            "timepoints": [
                {"timepoint_id": s.timepoint_id, "from": s.record_before, "to": s.record_after}
                for s in switched
            ],
        },
    )
    logger.info("algorithm version adopted: %d record(s) switched", summary["records_switched"])
    return {**summary, "timepoints": [asdict(s) for s in switched]}
