"""Re-measure what the service holds under this algorithm version and keep the new results.

Issue 18, contracts/trial-record.md (Reprocessing). Every measurement the service uses (a live
timepoint's measurement of record and its measurements without a liver) is measured again from
its stored series and segmentation with the label choices of the job that made it. Each
re-measurement is a job of kind ``reprocess`` run by the ordinary measurement code (a local
process pool or the Celery workers), stored as a new immutable measurement (origin
``reprocess``) beside the old one, never over it. The service keeps serving the old numbers
until an admin adopts the new version (:mod:`app.batch.adopt`).

Idempotent and resumable, remembered by the database: a measurement already measured under this
version from the same request (same timepoint, series bytes, segmentation bytes and label
choices; whoever asked, whichever run) is skipped; a job left queued or running by an
interrupted run is taken up again rather than doubled.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.auth import audit
from app.batch.decisions import preview_adoption
from app.batch.recheck import compare, measurements_to_check
from app.batch.report import report_csv, report_html
from app.db import repo
from app.db.models import Job, Measurement, Timepoint, utcnow
from app.db.session import session_scope
from app.jobs.engine import JobContext, after_jobs_of, run_job
from app.measure.result import MeasurementResult
from app.measure.sources import inputs_unchanged
from app.outputs.subject import canonical_sha256
from app.store.blobs import BlobStore
from app.version import ALGORITHM_VERSION
from app.vocab import JobKind, JobStatus

__all__ = [
    "Reprocessed",
    "finish_runs",
    "finish_runs_in_workers",
    "jobs_to_run",
    "outcomes",
    "queue_in",
    "queue_reprocessing",
    "report_files",
    "report_of",
    "reprocess_report",
    "run_local",
    "run_state",
    "start_run",
    "summary_line",
    "wait_for",
]

logger = logging.getLogger(__name__)

#: What happened to one measurement of record.
QUEUED, REMEASURED, SKIPPED, FAILED = "queued", "re-measured", "skipped", "failed"


@dataclass(frozen=True)
class Reprocessed:
    """One measurement of record and what reprocessing did with it.

    ``status`` is ``re-measured`` (``new_measurement_id`` holds the new result), ``skipped``
    (``new_measurement_id`` is the measurement under this version that already exists, maybe
    the same one) or ``failed`` (``error`` says why). ``differences`` and ``flips`` compare the
    old result with the new one (:func:`app.batch.recheck.compare`).
    """

    measurement_id: str
    subject_id: str
    timepoint: str
    timepoint_date: str
    stored_version: str
    status: str
    new_measurement_id: str | None = None
    job_id: str | None = None
    differences: tuple[dict[str, Any], ...] = ()
    flips: tuple[str, ...] = ()
    error: str | None = None
    version: str = field(default=ALGORITHM_VERSION)

    @property
    def changed(self) -> bool:
        """Whether a number or a decision differs from the measurement it re-did."""
        return self.status == REMEASURED and bool(self.differences)

    def as_dict(self) -> dict[str, Any]:
        """Return the row of the JSON report."""
        return {**asdict(self), "changed": self.changed}

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Reprocessed:
        """Return a row of :meth:`as_dict` read back (a run's rows kept in its job row)."""
        return cls(
            measurement_id=str(row["measurement_id"]),
            subject_id=str(row["subject_id"]),
            timepoint=str(row["timepoint"]),
            timepoint_date=str(row["timepoint_date"]),
            stored_version=str(row["stored_version"]),
            status=str(row["status"]),
            new_measurement_id=row.get("new_measurement_id"),
            job_id=row.get("job_id"),
            differences=tuple(row.get("differences") or ()),
            flips=tuple(row.get("flips") or ()),
            error=row.get("error"),
            version=str(row.get("version") or ALGORITHM_VERSION),
        )


def _row(session: Session, m: Measurement) -> Reprocessed:
    """Return the row of ``m``, queued until found otherwise."""
    tp = session.get(Timepoint, m.timepoint_id)
    assert tp is not None  # a foreign key
    return Reprocessed(
        m.id, tp.subject.subject_id, tp.label, tp.date.isoformat(), m.algorithm_version, QUEUED
    )


def _done_under_this_version(session: Session, m: Measurement) -> Measurement | None:
    """Return the newest live measurement of the same request under this version (maybe ``m``)."""
    return session.execute(
        select(Measurement)
        .where(
            Measurement.timepoint_id == m.timepoint_id,
            Measurement.request_sha256 == m.request_sha256,
            Measurement.algorithm_version == ALGORITHM_VERSION,
            Measurement.voided_at.is_(None),
        )
        .order_by(Measurement.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def _in_flight(session: Session, m: Measurement) -> Job | None:
    """Return a re-measurement of ``m`` that an earlier run queued and did not see finish."""
    return session.execute(
        select(Job)
        .where(
            Job.kind == JobKind.REPROCESS,
            Job.request_sha256 == m.request_sha256,
            Job.algorithm_version == ALGORITHM_VERSION,
            Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)),
        )
        .order_by(Job.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def _queue_one(session: Session, m: Measurement, actor: str) -> Reprocessed:
    row = _row(session, m)
    done = _done_under_this_version(session, m)
    if done is not None:
        return replace(row, status=SKIPPED, new_measurement_id=done.id)
    old_job = repo.get_job(session, m.job_id) if m.job_id else None
    if old_job is None:
        return replace(row, status=FAILED, error="made by no job: its label choices are unknown")
    if not inputs_unchanged(session, m):
        return replace(
            row,
            status=FAILED,
            error="its stored series changed since it was measured (instances were added): "
            "not the same inputs; measure the timepoint again on request instead",
        )
    job = _in_flight(session, m)
    if job is None:
        job = Job(
            kind=JobKind.REPROCESS,
            request={**old_job.request, "reprocess_of": m.id},
            request_sha256=m.request_sha256,
            algorithm_version=ALGORITHM_VERSION,
            created_by=actor,
        )
        session.add(job)
        session.flush()
    return replace(row, job_id=job.id)


def queue_reprocessing(
    factory: sessionmaker[Session], measurement_ids: Sequence[str], actor: str
) -> list[Reprocessed]:
    """Return a reprocess job for each measurement not yet done under this version (committed).

    Rows with status ``queued`` name the job to run; the others are final (skipped, failed).
    """
    with session_scope(factory) as s:
        return queue_in(s, measurement_ids, actor)


def queue_in(session: Session, measurement_ids: Sequence[str], actor: str) -> list[Reprocessed]:
    """:func:`queue_reprocessing` in the caller's transaction (the caller commits)."""
    return [
        _queue_one(session, repo.get_measurement(session, mid), actor) for mid in measurement_ids
    ]


#: A pool process's job context (made once per process from its settings).
_WORKER: dict[str, JobContext] = {}


def _start_worker() -> None:
    from app.db import get_engine
    from app.settings import get_settings

    settings = get_settings()
    # a forked pool process inherits the parent's pooled connections: never use them here
    get_engine(settings.resolved_database_url).dispose(close=False)
    _WORKER["ctx"] = JobContext.from_settings(settings)


def _run_in_worker(job_id: str) -> str:
    return run_job(job_id, _WORKER["ctx"])


def run_local(
    ctx: JobContext,
    job_ids: Sequence[str],
    workers: int = 1,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Run the jobs here: in this process, or on ``workers`` local processes.

    ``progress`` is called with each job id as it finishes (in any order). The measurement
    pipeline is imported first (forked pool processes inherit it, as the Celery workers' pool
    does), so that no re-measurement pays for the imports.
    """
    if job_ids:
        from app.measure.pipeline import preload

        preload()
    if workers <= 1 or len(job_ids) <= 1:
        for job_id in job_ids:
            run_job(job_id, ctx)
            if progress is not None:
                progress(job_id)
        return
    with ProcessPoolExecutor(max_workers=workers, initializer=_start_worker) as pool:
        futures = {pool.submit(_run_in_worker, job_id): job_id for job_id in job_ids}
        for future in as_completed(futures):
            future.result()
            if progress is not None:
                progress(futures[future])


def _over(session: Session, job_ids: Iterable[str]) -> set[str]:
    """Those of ``job_ids`` that are over (succeeded or failed)."""
    ids = list(job_ids)
    if not ids:
        return set()
    return set(
        session.scalars(
            select(Job.id).where(
                Job.id.in_(ids), Job.status.in_((JobStatus.SUCCEEDED, JobStatus.FAILED))
            )
        )
    )


def jobs_to_run(rows: Sequence[Reprocessed]) -> list[str]:
    """Return the jobs the queued rows wait for, each once, in row order."""
    return list(dict.fromkeys(r.job_id for r in rows if r.status == QUEUED and r.job_id))


def wait_for(
    factory: sessionmaker[Session],
    job_ids: Sequence[str],
    progress: Callable[[str], None] | None = None,
    poll_s: float = 0.5,
) -> None:
    """Wait until every job is over (the workers of another engine run them)."""
    pending = set(job_ids)
    while pending:
        with session_scope(factory) as s:
            over = _over(s, pending)
        for job_id in sorted(over):
            pending.discard(job_id)
            if progress is not None:
                progress(job_id)
        if pending:
            time.sleep(poll_s)


def _outcome(session: Session, row: Reprocessed) -> Reprocessed:
    """Return a row once its job is over: re-measured or failed; a skipped row compared too."""
    if row.status == SKIPPED and row.new_measurement_id == row.measurement_id:
        return row  # measured under this version already: nothing to compare
    if row.status == QUEUED and row.job_id is not None:
        job = repo.get_job(session, row.job_id)
        if job.status != JobStatus.SUCCEEDED or job.measurement_id is None:
            return replace(row, status=FAILED, error=job.error or f"the job is {job.status}")
        row = replace(row, status=REMEASURED, new_measurement_id=job.measurement_id)
    if row.new_measurement_id is None:
        return row
    old = repo.get_measurement(session, row.measurement_id)
    new = repo.get_measurement(session, row.new_measurement_id)
    differences, flips = compare(old.result, MeasurementResult.from_json(new.result))
    return replace(row, differences=tuple(differences), flips=tuple(flips))


def outcomes(factory: sessionmaker[Session], rows: Sequence[Reprocessed]) -> list[Reprocessed]:
    """Each row as it ended (after :func:`run_local` or :func:`wait_for`)."""
    with session_scope(factory) as s:
        return [_outcome(s, row) for row in rows]


def decisions_in(
    session: Session, blobs: BlobStore, rows: Sequence[Reprocessed], actor: str
) -> dict[str, list[dict[str, Any]]] | None:
    """Return what adopting this version would flip for the subjects of ``rows`` (nothing kept)."""
    subjects = list(dict.fromkeys(r.subject_id for r in rows))
    if not subjects:
        return None
    return preview_adoption(session, blobs, ALGORITHM_VERSION, subjects, actor)


def report_of(
    factory: sessionmaker[Session],
    blobs: BlobStore,
    rows: Sequence[Reprocessed],
    actor: str,
    engine: str,
) -> tuple[list[Reprocessed], dict[str, Any]]:
    """Return the rows as they ended and the JSON report, with the decisions adopting would flip."""
    done = outcomes(factory, rows)
    with factory() as s:
        try:
            decisions = decisions_in(s, blobs, done, actor)
        finally:
            s.rollback()  # the preview keeps nothing
    return done, reprocess_report(done, actor, engine, decisions)


# -- a run the service runs (POST /v1/reprocess) ----------------------------------------------


def start_run(
    session: Session,
    subject_ids: Sequence[str],
    since: dt.date | None,
    actor: str,
) -> tuple[Job, list[str]]:
    """Queue a reprocessing of the service's measurements of record as one run.

    The caller commits, then hands the returned job ids to its engine.

    The run is a job row of kind ``reprocess_run`` holding its rows; its progress and change
    report are read from its re-measurement jobs (:func:`run_state`).

    Raises
    ------
    InvalidRequestError
        A subject id is unknown.
    """
    ids = measurements_to_check(session, subject_ids, since)
    rows = queue_in(session, ids, actor)
    request = {
        "subject_ids": list(subject_ids),
        "since": None if since is None else since.isoformat(),
        "rows": [r.as_dict() for r in rows],
    }
    run = Job(
        kind=JobKind.REPROCESS_RUN,
        status=JobStatus.RUNNING,
        request=request,
        request_sha256=canonical_sha256(request),
        algorithm_version=ALGORITHM_VERSION,
        created_by=actor,
        message=f"{len(rows)} measurement(s) of record",
    )
    session.add(run)
    session.flush()
    audit.record(
        session,
        actor,
        "reprocess.started",
        "job",
        run.id,
        {"algorithm_version": ALGORITHM_VERSION, "measurements": len(rows), **request},
    )
    return run, jobs_to_run(rows)


def _rows_of(run: Job) -> list[Reprocessed]:
    return [Reprocessed.from_dict(row) for row in run.request.get("rows") or []]


def run_state(session: Session, blobs: BlobStore, run: Job) -> dict[str, Any]:
    """Return a run's progress; once every job is over, its report (stored in the run's row).

    The first to see the run over (the worker that ends its last re-measurement, or a read of
    the run) writes the report and audits it; anyone else at the same time reads theirs.
    """
    if run.status == JobStatus.SUCCEEDED and run.result is not None:
        return run.result
    rows = _rows_of(run)
    waiting = set(jobs_to_run(rows))  # a job two rows share (taken up again) counts once here
    over = _over(session, waiting)
    if over != waiting:
        finished = sum(r.job_id not in waiting or r.job_id in over for r in rows)
        run.progress = finished / len(rows)
        run.message = f"{finished} of {len(rows)} measurement(s) done"
        return {"run_id": run.id, "status": JobStatus.RUNNING, "progress": run.progress}
    done = [_outcome(session, r) for r in rows]
    decisions = decisions_in(session, blobs, done, run.created_by)
    report = {
        "run_id": run.id,
        "status": JobStatus.SUCCEEDED,
        "progress": 1.0,
        **reprocess_report(done, run.created_by, "service", decisions),
    }
    report["summary"] = summary_line(report)
    finished_now = session.execute(
        update(Job)
        .where(Job.id == run.id, Job.status == JobStatus.RUNNING)
        .values(
            status=JobStatus.SUCCEEDED,
            result=report,
            progress=1.0,
            message=f"{len(rows)} of {len(rows)} measurement(s) done",
            finished_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(run)
    if getattr(finished_now, "rowcount", 0) != 1:  # finished by someone else: theirs stands
        return run.result or report
    audit.record(
        session,
        run.created_by,
        "reprocess.finished",
        "job",
        run.id,
        {k: report[k] for k in ("re_measured", "skipped", "failed", "changed", "flipped")},
    )
    return report


def finish_runs(
    factory: sessionmaker[Session],
    blobs: BlobStore,
    reads: sessionmaker[Session] | None = None,
) -> list[str]:
    """Finish every running run whose re-measurements are all over; return their ids.

    Nothing to do while any re-measurement is queued or running (the last one to end calls
    again), so that the many jobs of a large run cost one cheap query each, in a read-only
    session (``reads``, when given: on SQLite it does not queue for the write lock).
    """
    with session_scope(reads or factory) as s:
        busy = s.scalar(
            select(Job.id)
            .where(
                Job.kind == JobKind.REPROCESS,
                Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)),
            )
            .limit(1)
        )
    if busy is not None:
        return []
    with session_scope(factory) as s:
        runs = s.scalars(
            select(Job).where(Job.kind == JobKind.REPROCESS_RUN, Job.status == JobStatus.RUNNING)
        ).all()
        for run in runs:
            run_state(s, blobs, run)
        return [run.id for run in runs]


def _finish_runs_after(ctx: JobContext, job_id: str) -> None:
    finished = finish_runs(ctx.session_factory, ctx.blobstore, ctx.reads)
    if finished:
        logger.info("re-measurement %s was the last: run(s) %s finished", job_id, finished)


def finish_runs_in_workers() -> None:
    """Have this process's job workers finish the runs as their last re-measurement ends.

    :func:`finish_runs`, for the server, ``liverburden worker`` and ``liverburden reprocess``.
    """
    after_jobs_of(JobKind.REPROCESS, _finish_runs_after)


def reprocess_report(
    rows: Sequence[Reprocessed],
    actor: str,
    engine: str,
    decisions: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Return the JSON report.

    The counts of the summary line, who asked, the version, every row, and per subject the
    decisions adopting the version would flip (``None``: nothing to adopt).
    """
    return {
        "decisions": decisions,
        "subjects_flipped": sum(bool(f) for f in (decisions or {}).values()),
        "algorithm_version": ALGORITHM_VERSION,
        "requested_by": actor,
        "engine": engine,
        "measurements": len(rows),
        "re_measured": sum(r.status == REMEASURED for r in rows),
        "skipped": sum(r.status == SKIPPED for r in rows),
        "failed": sum(r.status == FAILED for r in rows),
        "changed": sum(r.changed for r in rows),
        "flipped": sum(r.changed and bool(r.flips) for r in rows),
        "rows": [r.as_dict() for r in rows],
    }


def summary_line(report: dict[str, Any]) -> str:
    """Return the command's last line (contracts/trial-record.md, Reprocessing)."""
    return (
        f"{report['re_measured']} re-measured, {report['skipped']} skipped, "
        f"{report['failed']} failed, {report['changed']} changed"
    )


#: The report's counts, in the order the page shows them.
_COUNTS = ("measurements", "re_measured", "skipped", "failed", "changed", "flipped")


def report_files(rows: Sequence[Reprocessed], report: dict[str, Any]) -> tuple[str, str]:
    """Return the change report's CSV and HTML page (the command's files, the route's answers)."""
    page = report_html(
        rows,
        report,
        f"Measurements of record re-measured under {report['algorithm_version']}",
        _COUNTS,
        report["decisions"],
    )
    return report_csv(rows, report["decisions"]), page
