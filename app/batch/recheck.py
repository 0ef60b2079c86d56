"""Re-measure what the service holds under this algorithm version and report every difference.

The core lab's reproducibility check, and the first half of reprocessing (issue 18): each
measurement the service uses (a timepoint's measurement of record and its measurements without a
liver) is measured again from its stored series and segmentation with the label choices of the
job that made it, in a scratch folder; nothing is stored. The report names, per measurement,
every number that moved (volumes, burden, each lesion's axes) and every decision that flipped
(the 25 % and 70 % burden flags, a measurable liver lesion, each lesion's measurability, whether
it is hepatic). Under an unchanged version every measurement must come back the same.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.db import repo
from app.db.models import Timepoint
from app.db.session import session_scope
from app.errors import AppError, InvalidRequestError
from app.measure.result import MeasurementResult
from app.measure.sources import measure_request
from app.store.blobs import BlobStore
from app.version import ALGORITHM_VERSION

__all__ = [
    "Recheck",
    "compare",
    "measurements_to_check",
    "recheck",
    "report_json",
]

logger = logging.getLogger(__name__)

#: Numbers of the measure JSON compared, top level.
_NUMBERS = (
    "liver_volume_ml",
    "tumor_volume_ml",
    "burden_fraction",
    "extrahepatic_tumor_volume_ml",
    "hepatic_share",
    "lesion_count",
)
#: Decisions: a change of any of these is a flip, not only a difference.
_FLAGS = (
    "burden_le_70pct",
    "burden_gt_25pct",
    "measurable_liver_lesion",
    "measurable_lesion",
    "burden_dominant_in_liver",
)
_LESION_NUMBERS = ("volume_ml", "long_axis_mm", "short_axis_mm", "slice_index")
_LESION_FLAGS = ("measurable", "hepatic")


@dataclass(frozen=True)
class Recheck:
    """One measurement measured again: ``same``, ``changed`` or ``failed`` (``error`` says why)."""

    measurement_id: str
    subject_id: str
    timepoint: str
    timepoint_date: str
    stored_version: str
    status: str
    differences: tuple[dict[str, Any], ...] = ()
    flips: tuple[str, ...] = ()
    error: str | None = None
    version: str = field(default=ALGORITHM_VERSION)

    def as_dict(self) -> dict[str, Any]:
        """Return the row of the JSON report."""
        return asdict(self)


def _differ(what: str, stored: Any, now: Any, flag: bool, out: list[dict[str, Any]]) -> bool:
    if stored == now:
        return False
    out.append({"what": what, "stored": stored, "now": now, "flip": flag})
    return flag


def compare(
    stored: Mapping[str, Any], now: MeasurementResult
) -> tuple[list[dict[str, Any]], list[str]]:
    """Return every difference between a stored measure JSON and its inputs measured now.

    Exactly (no tolerance: the pipeline is deterministic), with the names of the decisions that
    flipped.

    Lesions are compared by their ids (``L1`` ... by size): a lesion only on one side is a
    difference of ``lesion_count`` and of its own entry.
    """
    doc = now.to_json()
    differences: list[dict[str, Any]] = []
    flips: list[str] = []
    for key in _NUMBERS:
        _differ(key, stored.get(key), doc.get(key), False, differences)
    old_flags, new_flags = stored.get("eligibility") or {}, doc["eligibility"]
    for key in _FLAGS:
        name = f"eligibility.{key}"
        if _differ(name, old_flags.get(key), new_flags.get(key), True, differences):
            flips.append(name)
    old_lesions = {str(x.get("lesion_id")): x for x in stored.get("lesions") or []}
    new_lesions = {x["lesion_id"]: x for x in doc["lesions"]}
    for lesion_id in sorted(set(old_lesions) | set(new_lesions), key=lambda s: (len(s), s)):
        old, new = old_lesions.get(lesion_id), new_lesions.get(lesion_id)
        if old is None or new is None:
            _differ(
                lesion_id,
                None if old is None else "measured",
                None if new is None else "measured",
                False,
                differences,
            )
            continue
        for key in _LESION_NUMBERS:
            _differ(f"{lesion_id}.{key}", old.get(key), new.get(key), False, differences)
        for key in _LESION_FLAGS:
            name = f"{lesion_id}.{key}"
            if _differ(name, old.get(key), new.get(key), True, differences):
                flips.append(name)
    return differences, flips


def measurements_to_check(
    session: Session, subject_ids: Sequence[str] = (), since: dt.date | None = None
) -> list[str]:
    """Ids of the measurements the service uses, by subject, visit and measurement.

    Per live timepoint of each live subject (all, or ``subject_ids``): its measurement of record
    and its measurements without a liver (they add lesions), none voided; with ``since``, those
    made on or after that day only.

    Raises
    ------
    InvalidRequestError
        A subject id is unknown (or voided).
    """
    subjects = repo.live_subjects(session)
    if subject_ids:
        known = {s.subject_id: s for s in subjects}
        missing = [sid for sid in subject_ids if sid not in known]
        if missing:
            raise InvalidRequestError(
                f"no subject {', '.join(repr(m) for m in missing)} (voided subjects are not "
                "rechecked); expected ids as the service lists them"
            )
        subjects = [known[sid] for sid in dict.fromkeys(subject_ids)]
    out: list[str] = []
    for subject in subjects:
        for tp in repo.subject_timepoints(session, subject):
            used = repo.measurements_in_use(session, tp)
            out += [m.id for m in used if since is None or m.created_at.date() >= since]
    return out


def _recheck_one(
    factory: sessionmaker[Session], blobs: BlobStore, scratch: Path, measurement_id: str
) -> Recheck:
    from app.measure.pipeline import measure_series

    with session_scope(factory) as s:
        m = repo.get_measurement(s, measurement_id)
        tp = s.get(Timepoint, m.timepoint_id)
        assert tp is not None  # a foreign key
        head = (
            m.id,
            tp.subject.subject_id,
            tp.label,
            tp.date.isoformat(),
            m.algorithm_version,
        )
        stored = dict(m.result)
        request = dict(repo.get_job(s, m.job_id).request) if m.job_id else None
    if request is None:
        return Recheck(
            *head, status="failed", error="made by no job: its label choices are unknown"
        )
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="recheck-", dir=scratch) as tmp:
            with session_scope(factory) as s:
                req = measure_request(s, blobs, request, Path(tmp))
            now = measure_series(req).result
    except AppError as exc:
        return Recheck(*head, status="failed", error=str(exc))
    except Exception as exc:  # the inputs are the service's own: a failure here is a finding
        logger.exception("recheck of a measurement failed")
        return Recheck(
            *head, status="failed", error=f"could not be measured again ({type(exc).__name__})"
        )
    recorded = (stored.get("inputs") or {}).get("input_sha256")
    if recorded != now.inputs.input_sha256:
        # more instances stored in the series since, say: other inputs, not another algorithm
        return Recheck(
            *head,
            status="failed",
            error="its inputs changed since it was measured (series, segmentation or label "
            "choices hash differently): not comparable; measure it again to compare",
        )
    differences, flips = compare(stored, now)
    return Recheck(
        *head,
        status="changed" if differences else "same",
        differences=tuple(differences),
        flips=tuple(flips),
    )


#: A pool process's database and blob store (made once per process, from its settings).
_WORKER: dict[str, Any] = {}


def _start_worker() -> None:
    from app.db import get_engine, make_session_factory
    from app.settings import get_settings

    settings = get_settings()
    engine = get_engine(settings.resolved_database_url)
    # a forked pool process inherits the parent's pooled connections: never use them here
    engine.dispose(close=False)
    _WORKER["factory"] = make_session_factory(engine)
    _WORKER["blobs"] = BlobStore(settings.blob_dir)
    _WORKER["scratch"] = settings.resolved_home / "tmp"


def _recheck_in_worker(measurement_id: str) -> Recheck:
    return _recheck_one(_WORKER["factory"], _WORKER["blobs"], _WORKER["scratch"], measurement_id)


def recheck(
    factory: sessionmaker[Session],
    blobs: BlobStore,
    scratch: Path,
    measurement_ids: Iterable[str],
    progress: Callable[[Recheck], None] | None = None,
    workers: int = 1,
) -> list[Recheck]:
    """Measure each measurement again and compare; nothing is stored.

    With ``workers`` > 1 the measurements run on a local process pool, each process with its
    own database connection and blob store from this environment's settings (the same service
    home); the rows come back in the order asked, ``progress`` sees them as they finish.
    """
    ids = list(measurement_ids)
    if workers <= 1 or len(ids) <= 1:
        out = []
        for measurement_id in ids:
            row = _recheck_one(factory, blobs, scratch, measurement_id)
            out.append(row)
            if progress is not None:
                progress(row)
        return out
    from concurrent.futures import ProcessPoolExecutor, as_completed

    done: dict[str, Recheck] = {}
    with ProcessPoolExecutor(max_workers=workers, initializer=_start_worker) as pool:
        futures = {pool.submit(_recheck_in_worker, mid): mid for mid in ids}
        for future in as_completed(futures):
            row = future.result()
            done[futures[future]] = row
            if progress is not None:
                progress(row)
    return [done[mid] for mid in ids]


def report_json(rows: Sequence[Recheck], actor: str) -> dict[str, Any]:
    """Return the report: counts, who asked, under which version, and every row."""
    return {
        "algorithm_version": ALGORITHM_VERSION,
        "requested_by": actor,
        "checked": len(rows),
        "same": sum(r.status == "same" for r in rows),
        "changed": sum(r.status == "changed" for r in rows),
        "failed": sum(r.status == "failed" for r in rows),
        "flipped": sum(bool(r.flips) for r in rows),
        "measurements": [r.as_dict() for r in rows],
    }
