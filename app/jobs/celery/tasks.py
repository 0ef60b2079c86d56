"""Celery tasks: they carry job ids only; the job table decides what runs.

- ``liverburden.run_job(job_id)``: a measurement job of the service
  (:func:`app.jobs.engine.run_job`).
- ``liverburden.run_batch_row(job_id)``: one manifest row of ``liverburden batch --engine celery``
  (:func:`app.measure.rows.measure_row`; its result line is stored in ``jobs.result``).

Delivery is at least once (:mod:`app.jobs.celery.app`); a job still runs once, because a run starts
with the atomic claim (``UPDATE jobs SET status='running' ... WHERE status='queued'``). Before
claiming, a task reads the job's row:

==========================================  ==================================================
row                                         task
==========================================  ==================================================
``succeeded`` / ``failed``                  nothing to do (a duplicate delivery)
``queued``                                  claims and runs it
``running``, its worker gone                back to ``queued`` (``requeue_stale_jobs``:
(dead process of this host, or no           attempts are counted, the job fails after
heartbeat for ``job_stale_s``)        ``MAX_ATTEMPTS``), then claims and runs it
``running`` by a live worker                retried later to watch it (never run twice; taken
                                            over if that worker dies)
==========================================  ==================================================

Transient faults -- the database unreachable (SQLAlchemy ``OperationalError``), the blob store
unreadable (``OSError``) -- release the claim and retry the task with exponential backoff and
jitter, up to ``LIVERBURDEN_CELERY_MAX_RETRIES`` times. Bad input is not retried: the job fails
with the domain error's message (:func:`app.jobs.engine.run_job`,
:func:`app.measure.rows.measure_row`).
Workers must run one task per process (``prefork`` or ``solo`` pool, as ``liverburden worker``
does): a job claimed by this very process and still running was left by an earlier attempt.

A worker is warm before its first task: its main process imports the measurement pipeline
(:func:`app.measure.pipeline.preload`) before forking the pool, and each pool process builds its job
context when it starts. The main process also runs the periodic sweep of
:mod:`app.jobs.celery.sweep` (jobs of dead workers requeued, queued jobs whose message was lost
sent again).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from celery import Task
from celery.exceptions import Retry
from celery.signals import worker_init, worker_process_init, worker_ready, worker_shutdown
from sqlalchemy import update
from sqlalchemy.exc import InterfaceError, OperationalError

from app.db.models import Job, utcnow
from app.db.session import get_engine, session_scope
from app.jobs.celery.app import (
    TASK_BATCH_ROW,
    TASK_RUN_JOB,
    CelerySettings,
    celery_app,
    get_celery_settings,
)
from app.jobs.engine import JobContext, claim_job, requeue_stale_jobs, run_job
from app.settings import get_settings
from app.vocab import JobStatus

__all__ = ["TRANSIENT_ERRORS", "run_batch_row_task", "run_job_task"]

logger = logging.getLogger(__name__)

#: Faults worth retrying: the database or the shared disk is away for a moment.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, OSError)
_FINAL = (JobStatus.SUCCEEDED, JobStatus.FAILED)
_process: dict[str, Any] = {}  # this process's pid, JobContext and stale-after seconds
_sweep: dict[str, Any] = {}  # the main process's Sweeper (app.jobs.celery.sweep), preload time


@worker_init.connect  # type: ignore[untyped-decorator]
def _warm_up(**_: Any) -> None:
    """Import the measurement pipeline as the worker's main process starts, before the pool.

    The pool processes inherit the imported modules, so a process's first task measures at once
    instead of importing numpy, SimpleITK, pydicom and highdicom first.
    """
    from app.measure.pipeline import preload

    started = time.perf_counter()
    try:
        preload()
    except ImportError:  # a reader library missing: the rows that need it fail with the reason
        logger.warning("could not load the whole measurement pipeline", exc_info=True)
        return
    _sweep["preload_s"] = time.perf_counter() - started  # logged when ready (logging is set up)


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _after_fork(**_: Any) -> None:
    """Forget the parent's context and pooled connections as a pool process starts; build its own.

    The context (session factory, blob store, worker id) is built here rather than by the first
    task; it opens no connection yet (the first task does).
    """
    _process.clear()
    get_engine(get_settings().resolved_database_url).dispose(close=False)
    try:
        _context()
    except Exception:  # bad settings: the first task reports them (and retries or fails)
        logger.warning("could not prepare this pool process's job context", exc_info=True)


@worker_ready.connect  # type: ignore[untyped-decorator]
def _start_sweep(**_: Any) -> None:
    """Start sending again the jobs whose message was lost, once the worker is ready."""
    from app.jobs.celery.app import make_celery
    from app.jobs.celery.sweep import Sweeper

    if "preload_s" in _sweep:
        logger.info("measurement pipeline loaded in %.2f s", _sweep.pop("preload_s"))
    tuning = get_celery_settings()
    if tuning.sweep_interval_s <= 0 or "sweeper" in _sweep:
        return
    settings = get_settings()
    _sweep["sweeper"] = Sweeper(
        make_celery(settings),
        get_engine(settings.resolved_database_url),
        tuning,
        settings.job_stale_s,
    ).start()


@worker_shutdown.connect  # type: ignore[untyped-decorator]
def _stop_sweep(**_: Any) -> None:
    sweeper = _sweep.pop("sweeper", None)
    if sweeper is not None:
        sweeper.stop()


def _context() -> tuple[JobContext, float]:
    if _process.get("pid") != os.getpid():
        settings = get_settings()
        _process.clear()
        _process.update(
            pid=os.getpid(),
            ctx=JobContext.from_settings(settings),
            stale=settings.job_stale_s,
        )
    return _process["ctx"], _process["stale"]


def _prepare(ctx: JobContext, job_id: str, stale_after_s: float) -> str:
    """``run``, ``wait`` (a live worker has it), ``missing``, or the job's final status."""
    with session_scope(ctx.session_factory) as s:
        job = s.get(Job, job_id)
        if job is None:
            return "missing"
        if job.status in _FINAL:
            return job.status
        if job.status == JobStatus.QUEUED:
            return "run"
        if job.claimed_by == ctx.worker_id:  # left by an earlier attempt of this very process
            job.status, job.claimed_by = JobStatus.QUEUED, None
            job.message = "requeued after a fault"
            return "run"
    with session_scope(ctx.session_factory) as s:
        requeued = requeue_stale_jobs(s, stale_after_s)
    if requeued:
        logger.warning("requeued %d job(s) of dead workers", len(requeued))
    with session_scope(ctx.session_factory) as s:
        job = s.get(Job, job_id)
        status = job.status if job is not None else "missing"
    next_step: dict[str, str] = {JobStatus.QUEUED: "run", JobStatus.RUNNING: "wait"}
    return next_step.get(status, status)


def _release(ctx: JobContext, job_id: str) -> None:
    """Best effort: give a job this process claimed back to the queue after a transient fault."""
    try:
        with session_scope(ctx.session_factory) as s:
            s.execute(
                update(Job)
                .where(
                    Job.id == job_id,
                    Job.status == JobStatus.RUNNING,
                    Job.claimed_by == ctx.worker_id,
                )
                # heartbeat_at of a queued job: when it was last handed to the broker (here: the
                # retry), so that the sweep does not cut the retry's backoff short.
                .values(
                    status=JobStatus.QUEUED,
                    claimed_by=None,
                    message="released after a fault",
                    heartbeat_at=utcnow(),
                )
                .execution_options(synchronize_session=False)
            )
    except TRANSIENT_ERRORS:
        logger.warning(
            "could not release job %s; it is requeued when its heartbeat is stale", job_id
        )


def _give_up(ctx: JobContext, job_id: str, exc: BaseException, tries: int) -> None:
    """Best effort: fail a job after its last retry (left as is when the database is away)."""
    message = f"gave up after {tries} transient faults ({exc.__class__.__name__})"
    try:
        with session_scope(ctx.session_factory) as s:
            s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.QUEUED)
                .values(
                    status=JobStatus.FAILED,
                    error=message,
                    error_type="internal-error",
                    finished_at=utcnow(),
                )
                .execution_options(synchronize_session=False)
            )
    except TRANSIENT_ERRORS:
        logger.error(
            "job %s: %s; the database is unreachable, the row stays queued", job_id, message
        )


def _backoff(tries: int, tuning: CelerySettings) -> float:
    """Exponential backoff with jitter: about 1, 2, 4, ... seconds, capped."""
    return float(min(tuning.retry_backoff_max_s, 2.0**tries) * random.uniform(0.5, 1.0))


def _watch_countdown(stale_after_s: float, tuning: CelerySettings) -> float:
    """How long to wait before looking again at a job a live worker runs."""
    return max(0.5, min(30.0, stale_after_s / 4, tuning.visibility_timeout_s / 2))


def _execute(
    task: Task, job_id: str, transient: int, runner: Callable[[JobContext, str], str]
) -> str:
    tuning = get_celery_settings()
    ctx: JobContext | None = None
    try:
        ctx, stale = _context()
        state = _prepare(ctx, job_id, stale)
        if state == "run":
            state = runner(ctx, job_id)
        if state == "missing":
            logger.warning("job %s is not in the database; message dropped", job_id)
        elif state in ("running", "wait"):
            raise task.retry(
                countdown=_watch_countdown(stale, tuning),
                kwargs={"transient": transient},
                max_retries=None,
            )
        return state
    except Retry:
        raise
    except TRANSIENT_ERRORS as exc:
        if ctx is not None:
            _release(ctx, job_id)
        if transient >= tuning.max_retries:
            logger.error("job %s: transient fault, no retries left: %r", job_id, exc)
            if ctx is not None:
                _give_up(ctx, job_id, exc, transient + 1)
            raise
        countdown = _backoff(transient, tuning)
        logger.warning(
            "job %s: transient fault (%s); retry in %.1f s",
            job_id,
            exc.__class__.__name__,
            countdown,
        )
        raise task.retry(
            exc=exc, countdown=countdown, kwargs={"transient": transient + 1}, max_retries=None
        ) from exc


def _preflight(ctx: JobContext, job_id: str) -> None:
    """Raise OSError while the blob store (a shared mount, say) cannot serve this job's files."""
    from app.db import repo

    if not ctx.blobstore.root.is_dir():
        raise FileNotFoundError("the blob store folder is not available")
    with session_scope(ctx.session_factory) as s:
        seg = (repo.get_job(s, job_id).request or {}).get("segmentation") or {}
    sha = seg.get("sha256")
    if isinstance(sha, str) and not ctx.blobstore.exists(sha):
        raise FileNotFoundError("the segmentation's blob is not available")


def _measure(ctx: JobContext, job_id: str) -> str:
    _preflight(ctx, job_id)
    return run_job(job_id, ctx)


class _Heartbeat:
    """Refreshes a running job's heartbeat from a thread while a batch row is measured."""

    def __init__(self, ctx: JobContext, job_id: str, interval_s: float) -> None:
        self.ctx, self.job_id, self.interval_s = ctx, job_id, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="lb-heartbeat", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                with session_scope(self.ctx.session_factory) as s:
                    s.execute(
                        update(Job)
                        .where(Job.id == self.job_id, Job.claimed_by == self.ctx.worker_id)
                        .values(heartbeat_at=utcnow())
                        .execution_options(synchronize_session=False)
                    )
            except Exception:  # a missed beat is not fatal; the next one may pass
                logger.warning("heartbeat of job %s failed", self.job_id, exc_info=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _measure_batch_row(ctx: JobContext, job_id: str) -> str:
    from app.db import repo
    from app.measure.rows import measure_row, row_from_request

    with session_scope(ctx.session_factory) as s:
        if not claim_job(s, job_id, ctx.worker_id):
            return repo.get_job(s, job_id).status
        request = dict(repo.get_job(s, job_id).request)
    logger.info("batch row job %s claimed by %s", job_id, ctx.worker_id)
    stale = float(_process.get("stale", 600.0))
    with _Heartbeat(ctx, job_id, max(1.0, min(60.0, stale / 4))):
        # The client hashed the inputs to create the job: its key is not computed a second time.
        record = measure_row(row_from_request(request), key=request.get("batch_key"))  # no raise
    status = JobStatus.SUCCEEDED if record.get("status") == "succeeded" else JobStatus.FAILED
    with session_scope(ctx.session_factory) as s:
        s.execute(
            update(Job)
            .where(
                Job.id == job_id, Job.status == JobStatus.RUNNING, Job.claimed_by == ctx.worker_id
            )
            .values(
                status=status,
                progress=1.0,
                message="done",
                result=record,
                error=record.get("error"),
                finished_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
    logger.info("batch row job %s %s", job_id, status)
    return status


@celery_app.task(name=TASK_RUN_JOB, bind=True, max_retries=None)  # type: ignore[untyped-decorator]
def run_job_task(self: Task, job_id: str, transient: int = 0) -> str:
    """Run measurement job ``job_id`` unless it already ran or runs; its final status."""
    return _execute(self, job_id, transient, _measure)


@celery_app.task(name=TASK_BATCH_ROW, bind=True, max_retries=None)  # type: ignore[untyped-decorator]
def run_batch_row_task(self: Task, job_id: str, transient: int = 0) -> str:
    """Measure the batch row of job ``job_id`` unless it already ran or runs; its final status."""
    return _execute(self, job_id, transient, _measure_batch_row)
