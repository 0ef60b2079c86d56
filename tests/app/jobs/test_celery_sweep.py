"""The workers' sweep: jobs whose broker message was lost are sent again (real Redis, workers).

A job row written as ``queued`` with no message sent, and a ``running`` job of a process that no
longer exists, both complete on a real worker; in-process sweeps show that nothing is resent
while messages wait in the queue, nor a job handed to the broker a moment ago.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from app.batch.celery import BATCH_KIND
from app.db.models import Job, utcnow
from app.db.session import session_scope
from app.jobs.celery.app import (
    CelerySettings,
    make_celery,
    prepare_database,
    send_job,
    waiting_messages,
)
from app.jobs.celery.sweep import sweep_once
from app.measure.rows import BatchRow, batch_key, row_from_request, row_to_request
from app.settings import Settings
from app.version import ALGORITHM_VERSION
from tests.app import celery_fixtures
from tests.app.celery_fixtures import WorkerPool, claimed_pid, pids_of, sample_truth, wait_until
from tests.app.conftest import session_factory_for
from tests.conftest import SAMPLE_DICOM

pytestmark = pytest.mark.redis
# Fixtures shared by the Celery test modules (pytest finds them in the module namespace).
broker_url = celery_fixtures.broker_url
celery_settings = celery_fixtures.celery_settings
celery_settings_each_engine = celery_fixtures.celery_settings_each_engine

#: Worker settings of the end-to-end test: sweep twice a second, resend after a second.
FAST_SWEEP = {
    "LIVERBURDEN_CELERY_SWEEP_INTERVAL_S": "0.5",
    "LIVERBURDEN_CELERY_RESEND_AFTER_S": "1",
    "LIVERBURDEN_CELERY_RETRY_BACKOFF_MAX_S": "1",
}


@pytest.fixture
def sweep_settings(celery_settings_each_engine: Settings) -> Settings:
    """The Celery settings on SQLite, then on a fresh PostgreSQL database."""
    return celery_settings_each_engine


@pytest.fixture
def factory(sweep_settings: Settings) -> sessionmaker[Session]:
    """Sessions on the migrated database of ``sweep_settings``."""
    prepare_database(sweep_settings)
    return session_factory_for(sweep_settings)


@pytest.fixture
def broker(sweep_settings: Settings) -> Iterator[Celery]:
    app = make_celery(sweep_settings)
    try:
        yield app
    finally:
        app.close()


def _insert_row_job(factory: sessionmaker[Session], row_id: str, **columns: object) -> str:
    """A batch row job for the bundled sample, written straight into the table (no message).

    Its batch key is made up: a worker that takes the key the job carries (rather than hashing
    the inputs again) writes it into the row's result.
    """
    row = BatchRow(
        row_id, "S1", "BL", SAMPLE_DICOM / "ct", SAMPLE_DICOM / "labels.nii.gz", None, ()
    )
    key = hashlib.sha256(f"given key of {row_id}".encode()).hexdigest()
    with session_scope(factory) as s:
        job = Job(
            kind=BATCH_KIND,
            request=row_to_request(row, key),
            request_sha256=key,
            algorithm_version=ALGORITHM_VERSION,
            created_by="test:setup",
            **columns,
        )
        s.add(job)
        s.flush()
        return job.id


def _job(factory: sessionmaker[Session], job_id: str) -> Job:
    with session_scope(factory) as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job


def _dead_pid() -> int:
    """The id of a process of this host that has ended (and was reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_sweep_sends_lost_and_orphaned_jobs_to_a_worker(
    sweep_settings: Settings, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """A queued job never sent, and a job left running by a dead process, both complete once."""
    pool = WorkerPool(sweep_settings, tmp_path)
    try:
        (worker,) = pool.start(1, **FAST_SWEEP)
        lost = _insert_row_job(factory, "lost")
        orphan = _insert_row_job(
            factory,
            "orphan",
            status="running",
            claimed_by=f"{socket.gethostname()}:{_dead_pid()}",
            attempts=1,
            started_at=utcnow(),
            heartbeat_at=utcnow(),  # fresh: only the dead process shows it is orphaned
        )

        def finished() -> bool:
            return all(_job(factory, j).status in ("succeeded", "failed") for j in (lost, orphan))

        wait_until(finished, 60, "the sweep to hand both jobs to the worker", interval_s=0.2)
        truth = sample_truth()
        for job_id, attempts in ((lost, 1), (orphan, 2)):
            job = _job(factory, job_id)
            assert job.status == "succeeded", (job.error, worker.text()[-3000:])
            assert job.attempts == attempts
            assert claimed_pid(job.claimed_by) in pids_of(worker)
            assert job.result is not None
            assert job.result["liver_volume_ml"] == pytest.approx(truth["liver_volume_ml"])
            # the worker took the key the job carries instead of hashing the inputs again
            assert (
                job.result["batch_key"]
                == job.request["batch_key"]
                != batch_key(row_from_request(job.request))
            )
        assert "sent again" in worker.text()
    finally:
        pool.stop_all()


def test_sweep_resends_nothing_while_messages_wait(
    sweep_settings: Settings, factory: sessionmaker[Session], broker: Celery
) -> None:
    """With a message in the queue no queued job is resent; once the queue is empty it is, once."""
    tuning = CelerySettings(resend_after_s=0.01, retry_backoff_max_s=0.01)
    old = utcnow() - dt.timedelta(minutes=5)
    job_id = _insert_row_job(factory, "lost", created_at=old)
    send_job(broker, "some-other-job", BATCH_KIND)

    first = sweep_once(broker, factory, tuning, stale_after_s=600)
    assert (first.sent, first.waiting) == ((), 1)

    with broker.connection_for_write() as conn:
        conn.default_channel.queue_purge(tuning.queue)
    second = sweep_once(broker, factory, tuning, stale_after_s=600)
    assert (second.sent, second.waiting) == ((job_id,), 0)
    with broker.connection_for_write() as conn:
        assert waiting_messages(conn, tuning.queue) == 1

    third = sweep_once(broker, factory, tuning, stale_after_s=600)
    assert third.sent == ()  # its message waits in the queue now
    assert _job(factory, job_id).status == "queued"


def test_sweep_leaves_a_recently_sent_job_alone(
    sweep_settings: Settings, factory: sessionmaker[Session], broker: Celery
) -> None:
    """A queued job handed to the broker a moment ago (a retry's backoff) is not resent yet."""
    tuning = CelerySettings(resend_after_s=60, retry_backoff_max_s=1)
    old = utcnow() - dt.timedelta(minutes=5)
    recent = _insert_row_job(factory, "recent", created_at=old, heartbeat_at=utcnow())
    lost = _insert_row_job(factory, "lost", created_at=old)
    report = sweep_once(broker, factory, tuning, stale_after_s=600)
    assert report.sent == (lost,)
    assert recent not in report.sent
