"""``liverburden worker``: a Celery worker for measurement jobs and batch rows.

It needs the same ``LIVERBURDEN_BROKER_URL``, database (``LIVERBURDEN_DATABASE_URL``) and blob store
(``LIVERBURDEN_HOME``, a shared folder) as the service; start any number of them on any number of
machines. The database is migrated first, so workers may start before the server.
"""

from __future__ import annotations

import enum
import os
from typing import Annotated

import typer

from app.cli._common import fail


class Pool(enum.StrEnum):
    """Pools that run one task per process (what the tasks' recovery assumes)."""

    PREFORK = "prefork"
    SOLO = "solo"


def worker(
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=64, help="Jobs run at once (processes).")
    ] = 2,
    queues: Annotated[
        str | None,
        typer.Option(
            "--queues", help="Comma-separated queues (default $LIVERBURDEN_CELERY_QUEUE)."
        ),
    ] = None,
    pool: Annotated[
        Pool, typer.Option("--pool", help="prefork, or solo for one job at a time in this process.")
    ] = Pool.PREFORK,
    loglevel: Annotated[str, typer.Option("--loglevel", help="Log level.")] = "INFO",
) -> None:
    """Run jobs sent over LIVERBURDEN_BROKER_URL until stopped (Ctrl-C finishes running jobs)."""
    from app.jobs.celery.app import celery_app, get_celery_settings, prepare_database
    from app.settings import get_settings

    settings = get_settings()
    if not settings.broker_url:
        fail(
            "LIVERBURDEN_BROKER_URL is not set; expected the Redis broker, e.g. "
            "redis://127.0.0.1:6379/0"
        )
    try:
        prepare_database(settings)
    except Exception as exc:  # unreachable or unusable database: one line, no traceback
        fail(
            f"cannot prepare the database ({exc.__class__.__name__}); check "
            "LIVERBURDEN_DATABASE_URL"
        )
    import app.jobs.celery.tasks  # noqa: F401 - registers the tasks on celery_app
    from app.batch.reprocess import finish_runs_in_workers

    finish_runs_in_workers()  # a reprocessing run ends with its last re-measurement

    argv = [
        "worker",
        f"--concurrency={concurrency if pool is Pool.PREFORK else 1}",
        f"--queues={queues or get_celery_settings().queue}",
        f"--pool={pool.value}",
        f"--loglevel={loglevel}",
        f"--hostname=liverburden-{os.getpid()}@%h",
        "--without-gossip",
        "--without-mingle",
    ]
    celery_app.worker_main(argv)
