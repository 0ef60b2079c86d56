"""Measurement jobs: the job table is the source of truth; engines only carry job ids.

:func:`app.measure.submit.submit_measurement` writes a ``queued`` row. :func:`run_job` is what any
engine calls with a job id: it claims the job atomically (``UPDATE jobs SET status='running'
... WHERE status='queued'``), so a job delivered twice runs once; it materialises the stored
series and segmentation from the blob store into a temporary folder, calls
:func:`app.measure.pipeline.measure_series` and stores an immutable, versioned
:class:`~app.db.models.Measurement`. The embedded engine is :class:`LocalJobEngine` (a thread
pool in the server process). A Celery engine only needs to call ``run_job(job_id)`` in its task
(acks late; a redelivered id is harmless) and to provide
``app.jobs.celery.engine.CeleryJobEngine(settings, ctx)`` with the :class:`JobEngine` methods;
:func:`app.jobs.engines.make_job_engine` picks it when ``LIVERBURDEN_BROKER_URL`` is set.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.auth import audit
from app.db import repo
from app.db.models import Job, Measurement, utcnow
from app.db.session import get_engine, make_session_factory, session_scope
from app.errors import AppError, problem_for
from app.measure.masks import MeasuredMasks
from app.measure.result import MeasurementResult
from app.measure.sources import measure_request
from app.settings import Settings, get_settings
from app.store.blobs import BlobStore
from app.subjects import tracking
from app.vocab import JobKind, JobStatus, MeasurementOrigin
from dicomio.errors import DicomIOError
from recist.errors import RecistError
from volumetrics.errors import VolumetricsError

__all__ = [
    "JobContext",
    "JobEngine",
    "LocalJobEngine",
    "after_jobs_of",
    "claim_job",
    "pending_measurement_jobs",
    "requeue_stale_jobs",
    "run_job",
    "worker_id",
]

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
_PROGRESS_INTERVAL_S = 0.5

#: Per job kind, what runs in the worker once a job of that kind is over (see after_jobs_of).
_AFTER: dict[str, list[Callable[[JobContext, str], None]]] = {}


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a worker needs: sessions, the blob store, a scratch folder and its own name."""

    session_factory: sessionmaker[Session]
    blobstore: BlobStore
    scratch_dir: Path
    worker_id: str
    #: Sessions for a job's reads (on SQLite they never queue for the write lock); None: the
    #: write sessions serve.
    read_factory: sessionmaker[Session] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> JobContext:
        """Make a context for the database and home folder of ``settings``."""
        return cls.for_engine(
            get_engine(settings.resolved_database_url),
            BlobStore(settings.blob_dir),
            settings.resolved_home / "tmp",
        )

    @classmethod
    def for_engine(cls, engine: Engine, blobstore: BlobStore, scratch_dir: Path) -> JobContext:
        """Make a context whose sessions (write and read-only) use ``engine``."""
        return cls(
            session_factory=make_session_factory(engine),
            blobstore=blobstore,
            scratch_dir=scratch_dir,
            worker_id=worker_id(),
            read_factory=make_session_factory(engine, readonly=True),
        )

    @property
    def reads(self) -> sessionmaker[Session]:
        """The sessions for work that only reads."""
        return self.read_factory or self.session_factory


def claim_job(session: Session, job_id: str, worker_id: str) -> bool:
    """Atomically move a queued job to running for ``worker_id``; False if someone else has it."""
    now = utcnow()
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
        .values(
            status=JobStatus.RUNNING,
            claimed_by=worker_id,
            attempts=Job.attempts + 1,
            started_at=now,
            heartbeat_at=now,
            progress=0.0,
            message="claimed",
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def _dead_local_worker(claimed_by: str | None) -> bool:
    """Whether a job was claimed by a process of this host that no longer exists."""
    host, _, pid = (claimed_by or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def requeue_stale_jobs(session: Session, stale_after_s: float) -> list[str]:
    """Put running jobs whose worker died or went silent back in the queue (fail after retries).

    A worker is dead when its heartbeat is older than ``stale_after_s``, or at once when it was a
    process of this host that no longer exists (a server killed and restarted).
    """
    cutoff = utcnow().timestamp() - stale_after_s
    stale = [
        j
        for j in session.execute(
            # a reprocessing run is no work of a worker: its jobs are (app.batch.reprocess)
            select(Job).where(Job.status == JobStatus.RUNNING, Job.kind != JobKind.REPROCESS_RUN)
        ).scalars()
        if j.heartbeat_at is None
        or j.heartbeat_at.timestamp() < cutoff
        or _dead_local_worker(j.claimed_by)
    ]
    requeued = []
    for job in stale:
        if job.attempts >= MAX_ATTEMPTS:
            job.status, job.finished_at = JobStatus.FAILED, utcnow()
            job.error = f"the worker stopped responding {job.attempts} times; giving up"
            job.error_type = "internal-error"
        else:
            job.status, job.claimed_by, job.message = JobStatus.QUEUED, None, "requeued"
            requeued.append(job.id)
    return requeued


class _Progress:
    """Writes progress to the job row, at most every half second (also the heartbeat)."""

    def __init__(self, ctx: JobContext, job_id: str) -> None:
        # the claim has just written the heartbeat: the first write is due an interval later
        self.ctx, self.job_id, self.last = ctx, job_id, time.monotonic()

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - self.last < _PROGRESS_INTERVAL_S and fraction < 1.0:
            return
        self.last = now
        with session_scope(self.ctx.session_factory) as s:
            s.execute(
                update(Job)
                .where(
                    Job.id == self.job_id,
                    Job.status == JobStatus.RUNNING,
                    Job.claimed_by == self.ctx.worker_id,
                )
                .values(
                    progress=min(max(float(fraction), 0.0), 0.99),
                    message=message[:200],
                    heartbeat_at=utcnow(),
                )
                .execution_options(synchronize_session=False)
            )


def _fail(ctx: JobContext, job_id: str, error: str, error_type: str) -> bool:
    """Mark a job failed (if this worker still holds it) and audit it."""
    with session_scope(ctx.session_factory) as s:
        result = s.execute(
            update(Job)
            .where(
                Job.id == job_id, Job.status == JobStatus.RUNNING, Job.claimed_by == ctx.worker_id
            )
            .values(
                finished_at=utcnow(), status=JobStatus.FAILED, error=error, error_type=error_type
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            return False
        job = repo.get_job(s, job_id)
        audit.record(
            s,
            job.created_by,
            "measurement.failed",
            "job",
            job_id,
            {"error_type": error_type, "request_sha256": job.request_sha256},
        )
        return True


def _store_result(
    ctx: JobContext,
    job_id: str,
    result: MeasurementResult,
    masks_sha256: str | None,
    plan: tracking.TrackingPlan | None = None,
) -> str:
    for _attempt in range(5):  # a concurrent version number is retried
        try:
            with session_scope(ctx.session_factory) as s:
                job = repo.get_job(s, job_id)
                if job.status != JobStatus.RUNNING or job.claimed_by != ctx.worker_id:
                    raise RuntimeError("the job was taken away from this worker")
                req = job.request
                m = Measurement(
                    timepoint_id=req["timepoint_id"],
                    series_instance_uid=req["series_instance_uid"],
                    segmentation_ref=req["segmentation_ref"],
                    version=repo.next_version(
                        s, req["timepoint_id"], req["series_instance_uid"], req["segmentation_ref"]
                    ),
                    input_sha256=result.inputs.input_sha256,
                    request_sha256=job.request_sha256,
                    algorithm_version=result.algorithm_version,
                    result=result.to_json(),
                    masks_sha256=masks_sha256,
                    job_id=job.id,
                    created_by=job.created_by,
                    origin=(
                        MeasurementOrigin.REPROCESS
                        if job.kind == JobKind.REPROCESS
                        else MeasurementOrigin.REQUEST
                    ),
                )
                s.add(m)
                s.flush()
                job.status, job.progress, job.message = JobStatus.SUCCEEDED, 1.0, "done"
                job.measurement_id, job.finished_at = m.id, utcnow()
                audit.record(
                    s,
                    job.created_by,
                    "measurement.created",
                    "measurement",
                    m.id,
                    {
                        "job_id": job.id,
                        "input_sha256": m.input_sha256,
                        "request_sha256": m.request_sha256,
                        "version": m.version,
                        "algorithm_version": m.algorithm_version,
                        "timepoint_id": m.timepoint_id,
                        "origin": m.origin,
                        **({"reprocess_of": req["reprocess_of"]} if "reprocess_of" in req else {}),
                    },
                )
                if plan is not None:
                    _track(s, plan, m, job.created_by)
                return m.id
        except IntegrityError:
            continue
    raise RuntimeError("could not allocate a measurement version")


def _plan_tracking(
    ctx: JobContext, job_id: str, result: dict[str, Any], masks: MeasuredMasks
) -> tracking.TrackingPlan | None:
    """Link the measured lesions into the subject's record (computed before the write)."""
    try:
        with session_scope(ctx.reads) as s:
            timepoint_id = str(repo.get_job(s, job_id).request["timepoint_id"])
            return tracking.plan(s, ctx.blobstore, timepoint_id, result, masks)
    except Exception:  # tracking must never cost the measurement itself
        logger.exception("job %s: lesion tracking could not be planned", job_id)
        return None


def _track(s: Session, plan: tracking.TrackingPlan, m: Measurement, actor: str) -> None:
    """Apply a tracking plan in the measurement's transaction; a failure leaves a note only."""
    try:
        with s.begin_nested():
            outcome = tracking.apply(s, plan, m, actor)
        logger.info("measurement %s: lesion tracking %s", m.id, outcome)
    except Exception:
        logger.exception("measurement %s: lesion tracking failed", m.id)
        audit.record(
            s,
            actor,
            "lesions.tracking_failed",
            "timepoint",
            m.timepoint_id,
            {"measurement_id": m.id, "reason": "internal error while linking lesions"},
        )


def after_jobs_of(kind: JobKind, hook: Callable[[JobContext, str], None]) -> None:
    """Run ``hook(ctx, job_id)`` in the worker each time a job of ``kind`` is over.

    Over: succeeded or failed, its row committed. For the packages above this one (a
    reprocessing run is finished by the worker that ends its last re-measurement); a hook that
    fails is logged and changes nothing of the job. Registering the same hook again does nothing.
    """
    hooks = _AFTER.setdefault(kind, [])
    if hook not in hooks:
        hooks.append(hook)


def _after(ctx: JobContext, kind: str, job_id: str) -> None:
    for hook in _AFTER.get(kind, ()):
        try:
            hook(ctx, job_id)
        except Exception:
            logger.exception("job %s: what follows a %s job failed", job_id, kind)


def run_job(job_id: str, ctx: JobContext | None = None) -> str:
    """Run one job if it is still queued (idempotent); return its final status.

    Domain errors (bad input) fail the job with their message and problem type; anything else
    fails it with a generic message (the details go to the server log only).
    """
    ctx = ctx or JobContext.from_settings(get_settings())
    with session_scope(ctx.session_factory) as s:
        if not claim_job(s, job_id, ctx.worker_id):
            return repo.get_job(s, job_id).status
        kind = repo.get_job(s, job_id).kind
    logger.info("job %s claimed by %s", job_id, ctx.worker_id)
    status = _measure(ctx, job_id)
    _after(ctx, kind, job_id)
    return status


def _measure(ctx: JobContext, job_id: str) -> str:
    """Measure a claimed job and store its result (or its failure); return its final status."""
    from app.measure.pipeline import measure_series

    try:
        ctx.scratch_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="job-", dir=ctx.scratch_dir) as tmp:
            with session_scope(ctx.reads) as s:
                job = repo.get_job(s, job_id)
                # A re-measurement is held back until its version is adopted: nothing to link.
                links = job.kind != JobKind.REPROCESS
                request = measure_request(s, ctx.blobstore, dict(job.request), Path(tmp))
            progress = _Progress(ctx, job_id)
            measured = measure_series(request, progress=lambda f, msg: progress(0.9 * f, msg))
        # The masks blob first: content-addressed, so a row that fails to commit leaves at most
        # an unreferenced blob, never a row without its masks.
        masks = ctx.blobstore.put_bytes(measured.masks.to_bytes())
        plan = None
        if links:
            progress(0.95, "linking lesions")
            plan = _plan_tracking(ctx, job_id, measured.result.to_json(), measured.masks)
        _store_result(ctx, job_id, measured.result, masks.sha256, plan)
        logger.info("job %s succeeded", job_id)
        return JobStatus.SUCCEEDED
    except (DicomIOError, VolumetricsError, RecistError, AppError) as exc:
        problem = problem_for(exc)
        logger.info("job %s failed: %s", job_id, problem.slug)
        _fail(ctx, job_id, str(exc), problem.type)
        return JobStatus.FAILED
    except Exception:
        logger.exception("job %s failed unexpectedly", job_id)
        _fail(ctx, job_id, "internal error while measuring", problem_for(Exception()).type)
        return JobStatus.FAILED


def pending_measurement_jobs(ctx: JobContext, stale_after_s: float) -> list[str]:
    """After a (re)start: requeue the jobs of dead workers, then list every queued measurement job.

    Batch rows are left out: they belong to the Celery engine's workers, not to a server.
    """
    with session_scope(ctx.session_factory) as s:
        requeue_stale_jobs(s, stale_after_s)
    with session_scope(ctx.session_factory) as s:
        return list(
            s.execute(
                select(Job.id)
                .where(
                    Job.status == JobStatus.QUEUED,
                    Job.kind.in_((JobKind.MEASUREMENT, JobKind.REPROCESS)),
                )
                .order_by(Job.created_at)
            ).scalars()
        )


class LocalJobEngine:
    """The embedded engine: a thread pool in the server process, fed by job ids."""

    def __init__(self, ctx: JobContext, workers: int) -> None:
        self.ctx = ctx
        self.workers = workers
        self._pool = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lb-job")
            if workers
            else None
        )
        self._lock = threading.Lock()

    def enqueue(self, job_id: str) -> None:
        """Run ``job_id`` on a worker thread (no-op with zero workers: the job stays queued)."""
        with self._lock:
            if self._pool is not None:
                self._pool.submit(self._run, job_id)

    def _run(self, job_id: str) -> None:
        try:
            run_job(job_id, self.ctx)
        except Exception:  # never let a worker thread die silently
            logger.exception("worker crashed on job %s", job_id)

    def start(self, stale_after_s: float) -> None:
        """Requeue jobs of dead workers and enqueue everything queued (after a restart)."""
        for job_id in pending_measurement_jobs(self.ctx, stale_after_s):
            self.enqueue(job_id)

    def shutdown(self) -> None:
        """Finish running jobs, drop queued futures (their rows stay queued for next start)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


class JobEngine(Protocol):
    """What the service needs from an engine: enqueue ids, start (recover), shut down."""

    def enqueue(self, job_id: str) -> None:
        """Have the job run (it is queued in the database already)."""
        ...

    def start(self, stale_after_s: float) -> None:
        """Start; take up again the jobs of workers silent for ``stale_after_s``."""
        ...

    def shutdown(self) -> None:
        """Stop taking jobs; let the running ones end."""
        ...


def worker_id() -> str:
    """Return this process's name in ``jobs.claimed_by``: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"
