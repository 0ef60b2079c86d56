"""The job engine the settings choose: Celery when a broker is configured, else the local pool."""

from __future__ import annotations

from app.jobs.engine import JobContext, JobEngine, LocalJobEngine
from app.settings import Settings

__all__ = ["make_job_engine"]


def make_job_engine(settings: Settings, ctx: JobContext) -> JobEngine:
    """Return the Celery engine when ``LIVERBURDEN_BROKER_URL`` is set, else the in-process pool.

    The Celery engine is imported only then (Celery is a heavy import); a failure to import it is an
    error, never a silent fall-back to in-process workers.
    """
    if settings.broker_url:
        from app.jobs.celery.engine import CeleryJobEngine

        return CeleryJobEngine(settings, ctx)
    return LocalJobEngine(ctx, settings.workers)
