"""The service's job engine when ``LIVERBURDEN_BROKER_URL`` is set: job ids go to Celery workers.

:func:`app.jobs.engines.make_job_engine` builds :class:`CeleryJobEngine` instead of the in-process
pool.
The job row is written (``queued``) and committed before its id is sent, so a broker that is
briefly away loses nothing: the row stays ``queued`` and :meth:`CeleryJobEngine.start` sends every
queued measurement job again when a server starts (a duplicate id is harmless: the workers' claim
runs a job once). While the server runs, the workers' periodic sweep (:mod:`app.jobs.celery.sweep`)
sends again the jobs whose message was lost.
"""

from __future__ import annotations

import logging

from app.jobs.celery.app import make_celery, send_job
from app.jobs.engine import JobContext, pending_measurement_jobs
from app.settings import Settings
from app.vocab import JobKind

__all__ = ["CeleryJobEngine"]

logger = logging.getLogger(__name__)


class CeleryJobEngine:
    """Sends measurement job ids to the ``liverburden worker`` processes over the broker."""

    def __init__(self, settings: Settings, ctx: JobContext) -> None:
        self.settings = settings
        self.ctx = ctx
        self.app = make_celery(settings)

    def enqueue(self, job_id: str) -> None:
        """Send ``job_id`` to the workers; on a broker fault it stays queued (sent at start)."""
        try:
            send_job(self.app, job_id, JobKind.MEASUREMENT)
        except Exception:  # the row is the truth; never fail the request over the broker
            logger.exception("could not send job %s to the broker; it stays queued", job_id)

    def start(self, stale_after_s: float) -> None:
        """Requeue jobs of dead workers and send every queued measurement job (again)."""
        queued = pending_measurement_jobs(self.ctx, stale_after_s)
        for job_id in queued:
            self.enqueue(job_id)
        logger.info("celery job engine started; %d queued job(s) sent", len(queued))

    def shutdown(self) -> None:
        """Close the broker connections (running jobs belong to the workers)."""
        self.app.close()
