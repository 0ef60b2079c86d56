"""The workers' periodic sweep: jobs whose broker message was lost are sent again.

The job table is the source of truth; a Redis message only says "look at job X". A message can be
lost: the broker was away when the job was created (the row stays ``queued``), Redis restarted
without persistence, a queue was purged. Each ``liverburden worker`` therefore runs
:class:`Sweeper`, a thread of its main process that every ``LIVERBURDEN_CELERY_SWEEP_INTERVAL_S``
seconds calls :func:`sweep_once`:

1. running jobs whose worker died or went silent (:func:`app.jobs.engine.requeue_stale_jobs`, after
   ``LIVERBURDEN_JOB_STALE_S``) go back to ``queued`` and are sent again;
2. when no message waits in the queue, every job still ``queued`` whose last sending is older than
   ``LIVERBURDEN_CELERY_RESEND_AFTER_S`` is sent again. While messages wait, nothing is resent: a
   long queue is not a lost one, and resending it would only double it.

A queued job's ``heartbeat_at`` is the time it was last handed to the broker by a sweep or a
retry (``created_at`` before that); the sweep marks a job with a conditional ``UPDATE`` before
sending it, so of several workers sweeping at once one sends it. Resending is harmless anyway:
the atomic claim runs a job once, and a message for a finished job is dropped
(:mod:`app.jobs.celery.tasks`).

The sweep runs in the worker's main process, which forks the pool processes: it holds no database
connection between two sweeps (the pool's connections are closed after each one) and uses a
broker connection of its own for the duration of a sweep only.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from celery import Celery
from kombu.exceptions import KombuError
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import Job, utcnow
from app.db.session import make_session_factory, session_scope
from app.jobs.celery.app import TASK_BY_KIND, CelerySettings, send_job, waiting_messages
from app.jobs.engine import requeue_stale_jobs
from app.vocab import JobStatus

__all__ = ["SweepReport", "Sweeper", "sweep_once"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one sweep did: the jobs requeued (their worker gone) and all the jobs sent again."""

    requeued: tuple[str, ...]
    sent: tuple[str, ...]
    waiting: int


def _mark_sent(session: Session, job: Job) -> bool:
    """Stamp a queued job as sent now, unless another sweep (or a claim) changed it meanwhile."""
    result = session.execute(
        update(Job)
        .where(
            Job.id == job.id,
            Job.status == JobStatus.QUEUED,
            Job.heartbeat_at.is_(None)
            if job.heartbeat_at is None
            else Job.heartbeat_at == job.heartbeat_at,
        )
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def sweep_once(
    app: Celery,
    factory: sessionmaker[Session],
    tuning: CelerySettings,
    stale_after_s: float,
) -> SweepReport:
    """Requeue and send the jobs of dead workers; send again queued jobs whose message is lost.

    Raises
    ------
    sqlalchemy.exc.SQLAlchemyError, kombu.exceptions.OperationalError
        The database or the broker is away; the next sweep tries again.
    """
    resend_after_s = max(tuning.resend_after_s, tuning.retry_backoff_max_s)
    kinds: dict[str, str] = {}
    with session_scope(factory) as s:
        requeued = requeue_stale_jobs(s, stale_after_s)
        if requeued:
            rows = s.execute(select(Job.id, Job.kind).where(Job.id.in_(requeued))).tuples()
            kinds = {job_id: kind for job_id, kind in rows}
            s.execute(
                update(Job)
                .where(Job.id.in_(requeued), Job.status == JobStatus.QUEUED)
                .values(heartbeat_at=utcnow())
                .execution_options(synchronize_session=False)
            )
    sent: list[str] = []
    with app.connection_for_write() as conn:
        for job_id in requeued:
            if kinds.get(job_id) in TASK_BY_KIND:
                send_job(app, job_id, kinds[job_id], connection=conn)
                sent.append(job_id)
        waiting = waiting_messages(conn, tuning.queue)
        if waiting == 0:
            cutoff = utcnow().timestamp() - resend_after_s
            with session_scope(factory) as s:
                queued = (
                    s.execute(select(Job).where(Job.status == JobStatus.QUEUED)).scalars().all()
                )
                due = [
                    j
                    for j in queued
                    if j.kind in TASK_BY_KIND
                    and (j.heartbeat_at or j.created_at).timestamp() < cutoff
                ]
                marked = [j for j in due if _mark_sent(s, j)]
                resend = [(j.id, j.kind) for j in marked]
            for job_id, kind in resend:
                send_job(app, job_id, kind, connection=conn)
                sent.append(job_id)
    if requeued or sent:
        logger.warning(
            "sweep: %d job(s) of dead workers requeued, %d job(s) sent again",
            len(requeued),
            len(sent),
        )
    return SweepReport(requeued=tuple(requeued), sent=tuple(sent), waiting=waiting)


class Sweeper:
    """A daemon thread that calls :func:`sweep_once` every ``tuning.sweep_interval_s`` seconds."""

    def __init__(
        self, app: Celery, engine: Engine, tuning: CelerySettings, stale_after_s: float
    ) -> None:
        self.app, self.engine, self.tuning = app, engine, tuning
        self.stale_after_s = stale_after_s
        self.factory = make_session_factory(engine)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lb-sweep", daemon=True)

    def start(self) -> Sweeper:
        """Start sweeping in a thread of this process; return this sweeper."""
        self._thread.start()
        logger.info(
            "job sweep every %g s (resend after %g s queued)",
            self.tuning.sweep_interval_s,
            max(self.tuning.resend_after_s, self.tuning.retry_backoff_max_s),
        )
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.tuning.sweep_interval_s):
            try:
                sweep_once(self.app, self.factory, self.tuning, self.stale_after_s)
            except (SQLAlchemyError, OSError, KombuError) as exc:  # away for now: try again later
                logger.warning("sweep failed (%s); trying again later", exc.__class__.__name__)
            except Exception:  # a bug: say where, and keep the thread (and the worker) alive
                logger.exception("sweep failed")
            finally:
                self.engine.pool.dispose()  # no connection of this process is left to a fork

    def stop(self) -> None:
        """Stop sweeping (a sweep under way ends first, for up to ten seconds)."""
        self._stop.set()
        self._thread.join(timeout=10)
