"""The Celery application: Redis carries job ids, the database job table stays the source of truth.

:func:`make_celery` builds an app from :class:`~app.settings.Settings` (broker =
``LIVERBURDEN_BROKER_URL``). Delivery is *at least once*:

- ``task_acks_late``: a message is acknowledged when its task ends, not when it starts, so a job
  whose worker dies mid-task is delivered again;
- ``task_reject_on_worker_lost``: a pool process killed mid-task puts its message back at once;
- with Redis, a message whose whole worker (host) died comes back after the transport's
  ``visibility_timeout_s`` (``LIVERBURDEN_CELERY_VISIBILITY_TIMEOUT_S``, default one hour; it must
  exceed the longest job, else a job still running is delivered a second time -- harmless, see
  below, but wasted);
- ``worker_prefetch_multiplier = 1``: a worker holds no more messages than it has processes, so a
  long job never keeps others waiting behind it.

Duplicates are harmless because every task starts with the job table's atomic claim
(:func:`app.jobs.engine.claim_job`). No result backend: results are rows in the database.

``celery_app`` is the module-level app the workers run (``celery -A app.jobs.celery.app worker`` or
``liverburden worker``); it reads the settings lazily, on first use, not at import.

References
----------
Celery user guide, "Tasks": "Should I use retry or acks_late?" and the Redis broker's
"Visibility timeout" caveats.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Celery
from kombu.connection import Connection
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.settings import Settings, get_settings, renamed_setting
from app.vocab import JobKind

__all__ = [
    "TASK_BATCH_ROW",
    "TASK_BY_KIND",
    "TASK_RUN_JOB",
    "CelerySettings",
    "celery_app",
    "celery_config",
    "get_celery_settings",
    "make_celery",
    "prepare_database",
    "send_job",
    "waiting_messages",
]

logger = logging.getLogger(__name__)

#: Task names (stable: they travel in the broker's messages).
TASK_RUN_JOB = "liverburden.run_job"
TASK_BATCH_ROW = "liverburden.run_batch_row"
#: The task that runs a job of each ``Job.kind``.
TASK_BY_KIND: dict[str, str] = {
    JobKind.MEASUREMENT: TASK_RUN_JOB,
    JobKind.REPROCESS: TASK_RUN_JOB,  # a measurement job too, stored held back
    JobKind.BATCH: TASK_BATCH_ROW,
}

_PREFIX = "LIVERBURDEN_CELERY_"


class CelerySettings(BaseSettings):
    """Broker tuning, from ``LIVERBURDEN_CELERY_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix=_PREFIX, extra="ignore")

    queue: str = Field(default="liverburden", description="Queue the jobs are sent to.")
    visibility_timeout_s: float = Field(
        validation_alias=renamed_setting(_PREFIX, "visibility_timeout_s", "visibility_timeout"),
        default=3600.0,
        gt=0,
        description="Seconds before Redis re-delivers an unacknowledged message (longest job).",
    )
    max_retries: int = Field(
        default=8, ge=0, description="Retries of a task after a transient fault (database, disk)."
    )
    retry_backoff_max_s: float = Field(
        validation_alias=renamed_setting(_PREFIX, "retry_backoff_max_s", "retry_backoff_max"),
        default=300.0,
        gt=0,
        description="Longest wait between two retries, seconds.",
    )
    sweep_interval_s: float = Field(
        validation_alias=renamed_setting(_PREFIX, "sweep_interval_s", "sweep_interval"),
        default=30.0,
        ge=0,
        description="Seconds between two sweeps of the job table by a worker (0: no sweeps).",
    )
    resend_after_s: float = Field(
        validation_alias=renamed_setting(_PREFIX, "resend_after_s", "resend_after"),
        default=600.0,
        gt=0,
        description="Seconds a job may stay queued, no message waiting, before it is sent again "
        "(at least retry_backoff_max_s, so that a retry's backoff is never cut short).",
    )


def get_celery_settings() -> CelerySettings:
    """Return the broker tuning of this process's environment (read on each call; it is cheap)."""
    return CelerySettings()


def celery_config(settings: Settings, tuning: CelerySettings | None = None) -> dict[str, Any]:
    """Return the Celery configuration for ``settings``.

    Raises
    ------
    ValueError
        When no broker URL is configured.
    """
    if not settings.broker_url:
        raise ValueError(
            "no Celery broker configured; set LIVERBURDEN_BROKER_URL (e.g. redis://host:6379/0)"
        )
    tuning = tuning or get_celery_settings()
    vis = tuning.visibility_timeout_s
    return {
        "broker_url": settings.broker_url,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": vis,
            # Scan for messages of dead workers often enough for the visibility timeout in use.
            "unacked_restore_interval": max(1.0, min(60.0, vis / 4)),
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": 10,
        },
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # A running job keeps running when the broker connection drops; its message comes back
        # and the claim in the database keeps the second delivery from running it again.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "task_default_queue": tuning.queue,
        "task_create_missing_queues": True,
        "worker_hijack_root_logger": True,
        "worker_send_task_events": False,
        "task_send_sent_event": False,
        "enable_utc": True,
        "timezone": "UTC",
    }


def make_celery(settings: Settings | None = None) -> Celery:
    """Make a Celery app for ``settings`` (``None``: the process's, read on first use)."""
    app = Celery("liverburden", include=["app.jobs.celery.tasks"], set_as_current=False)
    if settings is None:
        app.add_defaults(lambda: celery_config(get_settings()))
    else:
        app.conf.update(celery_config(settings))
    return app


def send_job(
    app: Celery, job_id: str, kind: str = JobKind.MEASUREMENT, connection: Connection | None = None
) -> None:
    """Send a job id to the workers (a few quick retries while the broker is unreachable).

    ``connection``: a broker connection to send it on (else one of the app's pool).

    Raises
    ------
    kombu.exceptions.OperationalError
        When the broker stays unreachable; the job row stays ``queued`` and is sent again later.
    """
    app.send_task(
        TASK_BY_KIND[kind],
        args=[job_id],
        queue=app.conf.task_default_queue,
        connection=connection,
        retry=True,
        retry_policy={
            "max_retries": 3,
            "interval_start": 0.2,
            "interval_step": 0.5,
            "interval_max": 2.0,
        },
    )


def waiting_messages(connection: Connection, queue: str) -> int:
    """How many messages wait in ``queue`` (taken by no worker yet); 0 for a queue never used."""
    from kombu.exceptions import ChannelError

    try:
        channel: Any = connection.default_channel  # kombu's channels carry no type hints
        declared = channel.queue_declare(queue=queue, passive=True)
    except ChannelError:  # Redis: an empty list does not exist, so the passive declare fails
        return 0
    return int(declared.message_count)


def prepare_database(settings: Settings, attempts: int = 10) -> None:
    """Migrate the shared database, retrying while another process (a worker, the server) does.

    Processes of one host take turns (:func:`app.db.migrate.migration_lock`, taken by
    ``upgrade_database``); processes of other hosts sharing a database, or a platform without
    ``fcntl``, may still race: the loser sees ``database is locked``, ``table already exists`` or
    (Alembic's ``CommandError``) a revision another process has just recorded, and on its next
    try the schema is at the newest revision, so the upgrade is a no-op.
    """
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from app.db import upgrade_database

    settings.resolved_home.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, attempts + 1):
        try:
            upgrade_database(settings.resolved_database_url)
            return
        except (SQLAlchemyError, CommandError) as exc:
            if attempt == attempts:
                raise
            logger.info("database busy (%s); migrating again", exc.__class__.__name__)
            time.sleep(0.2 * attempt)


#: The workers' app: ``celery -A app.jobs.celery.app worker`` / ``liverburden worker``.
celery_app = make_celery()
