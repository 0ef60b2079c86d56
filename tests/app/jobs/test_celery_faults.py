"""Celery engine faults: a killed pool process, a blob store away for a moment, bad input.

Real Redis, real worker processes (see celery_fixtures.py); the service runs in this process.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

import pytest
from sqlalchemy import select

from app.db.models import Job, Measurement
from app.db.session import session_scope
from app.settings import Settings
from tests.app import celery_fixtures
from tests.app.celery_fixtures import (
    WorkerPool,
    claimed_pid,
    measurement_bodies,
    pids_of,
    request_measurements,
    wait_until,
)
from tests.app.conftest import running_service, session_factory_for, wait_for_job

pytestmark = pytest.mark.redis
# Fixtures shared by the Celery test modules (pytest finds them in the module namespace).
broker_url = celery_fixtures.broker_url
celery_settings = celery_fixtures.celery_settings
worker_pool = celery_fixtures.worker_pool


def _job(settings: Settings, job_id: str) -> Job:
    with session_scope(session_factory_for(settings)) as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job


def _measurements(settings: Settings) -> Counter[str | None]:
    with session_scope(session_factory_for(settings)) as s:
        return Counter(s.execute(select(Measurement.job_id)).scalars())


def test_job_survives_its_pool_process_killed(
    celery_settings: Settings, worker_pool: WorkerPool
) -> None:
    """A pool process SIGKILLed mid-job: the message comes back at once; the job runs once more."""
    with running_service(celery_settings) as svc:
        (w,) = worker_pool.start(1, delay_s=3)
        c = svc.client()
        (job_id,) = request_measurements(c, 1)
        job = wait_until(
            lambda: (j := _job(celery_settings, job_id)).status == "running" and j,
            30,
            "the worker to claim the job",
        )
        child = claimed_pid(job.claimed_by)
        assert child != w.pid and child in pids_of(w)
        os.kill(child, signal.SIGKILL)
        done = wait_for_job(c, f"/v1/jobs/{job_id}", timeout_s=60)
        assert done["status"] == "succeeded", (done, w.text()[-3000:])
        assert w.proc.poll() is None  # the worker itself lives on
        row = _job(celery_settings, job_id)
        assert row.attempts == 2
        assert claimed_pid(row.claimed_by) != child
        assert _measurements(celery_settings) == Counter({job_id: 1})


def test_transient_fault_is_retried_and_bad_input_is_not(
    celery_settings: Settings, worker_pool: WorkerPool
) -> None:
    """A missing blob store is retried with backoff until it is back; bad input (a liver label
    the label map lacks) is not."""
    with running_service(celery_settings) as svc:
        (w,) = worker_pool.start(1)
        c = svc.client()
        good, other = measurement_bodies(c, 2)

        # Bad input: a liver label the (fitting) label map does not hold.
        bad = {**other, "liver_label": "7"}
        bad_id = c.post("/v1/measurements", json=bad).json()["job_id"]
        failed = wait_for_job(c, f"/v1/jobs/{bad_id}", timeout_s=60)
        assert failed["status"] == "failed", failed
        assert _job(celery_settings, bad_id).attempts == 1
        assert "transient fault" not in w.text()

        blobs = celery_settings.home / "blobs"
        blobs.rename(blobs.with_name("blobs.away"))
        try:
            good_id = c.post("/v1/measurements", json=good).json()["job_id"]
            wait_until(
                lambda: w.text().count("transient fault (FileNotFoundError)") >= 2,
                30,
                "two retries of the job",
            )
            assert _job(celery_settings, good_id).status == "queued"  # never claimed meanwhile
        finally:
            blobs.with_name("blobs.away").rename(blobs)
        done = wait_for_job(c, f"/v1/jobs/{good_id}", timeout_s=60)
        assert done["status"] == "succeeded", (done, w.text()[-3000:])
        assert _job(celery_settings, good_id).attempts == 1
        assert _measurements(celery_settings) == Counter({good_id: 1})
