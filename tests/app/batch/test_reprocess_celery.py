"""``liverburden reprocess --engine celery``: the re-measurements run on real Celery workers.

Real Redis and real ``liverburden worker`` processes (tests/app/celery_fixtures.py), on SQLite
and on PostgreSQL: the service measures a baseline on the workers; the row is made to look like
an earlier version's; reprocessing sends the re-measurement to the workers, waits for it and
reports it; a second run re-measures nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app.db.models import Job, Measurement
from app.settings import Settings
from app.vocab import JobKind, MeasurementOrigin
from tests.app import celery_fixtures
from tests.app._http_steps import measured_baseline
from tests.app.batch.test_reprocess import finished_events, wait_for_run_row
from tests.app.celery_fixtures import WorkerPool, claimed_pid, pids_of, worker_env
from tests.app.conftest import SeriesFiles, Service, running_service, session_factory_for
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.redis
broker_url = celery_fixtures.broker_url
celery_settings = celery_fixtures.celery_settings
celery_settings_each_engine = celery_fixtures.celery_settings_each_engine


@pytest.fixture
def workers(celery_settings_each_engine: Settings, tmp_path: Path) -> Iterator[WorkerPool]:
    pool = WorkerPool(celery_settings_each_engine, tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()


def _reprocess(settings: Settings, report: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "reprocess",
            "--engine",
            "celery",
            "--report",
            str(report),
        ],
        cwd=REPO_ROOT,
        env=worker_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _older_baseline(service: Service, subject: str, ct_series: SeriesFiles) -> str:
    """A baseline measured on the workers, then made to look like version 0.1.0's."""
    old_id = measured_baseline(
        service.client(), subject, ct_series.files, ct_series.labels, "2024-05-06"
    )
    with session_factory_for(service.settings)() as s:
        m = s.get(Measurement, old_id)
        assert m is not None
        m.algorithm_version = "0.1.0"
        m.result = {**m.result, "burden_fraction": 0.5, "algorithm_version": "0.1.0"}
        s.commit()
    return old_id


def test_reprocessing_on_the_celery_workers(
    celery_settings_each_engine: Settings,
    workers: WorkerPool,
    ct_series: SeriesFiles,
    tmp_path: Path,
) -> None:
    settings = celery_settings_each_engine
    (worker,) = workers.start(1)
    with running_service(settings) as service:
        _older_baseline(service, "RPC-1", ct_series)
    factory = session_factory_for(settings)

    first = _reprocess(settings, tmp_path / "run1.json")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().splitlines()[-1] == "1 re-measured, 0 skipped, 0 failed, 1 changed"
    report = json.loads((tmp_path / "run1.json").read_text(encoding="utf-8"))
    assert report["engine"] == "celery"
    with factory() as s:
        (job,) = s.scalars(select(Job).where(Job.kind == JobKind.REPROCESS)).all()
        assert claimed_pid(job.claimed_by) in pids_of(worker)  # a worker ran it, not the CLI
        new = s.get(Measurement, job.measurement_id)
        assert new is not None and new.origin == MeasurementOrigin.REPROCESS
    assert report["rows"][0]["new_measurement_id"] == new.id

    second = _reprocess(settings, tmp_path / "run2.json")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().splitlines()[-1] == "0 re-measured, 1 skipped, 0 failed, 0 changed"


def test_a_service_run_ends_on_the_worker_that_ends_its_last_re_measurement(
    celery_settings_each_engine: Settings,
    workers: WorkerPool,
    ct_series: SeriesFiles,
) -> None:
    """POST /v1/reprocess on a service whose jobs go to Celery: nobody reads the run, the
    worker finishes it (the change report stored, its end audited once)."""
    settings = celery_settings_each_engine
    (worker,) = workers.start(1)
    with running_service(settings) as service:
        _older_baseline(service, "RPC-2", ct_series)
        factory = session_factory_for(settings)
        started = service.client("admin").post("/v1/reprocess", json={})
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        run = wait_for_run_row(settings, run_id)
        assert run.status == "succeeded", run.message
        assert run.result["summary"] == "1 re-measured, 0 skipped, 0 failed, 1 changed"
        assert finished_events(settings, run_id) == 1
        with factory() as s:
            (job,) = s.scalars(select(Job).where(Job.kind == JobKind.REPROCESS)).all()
            assert claimed_pid(job.claimed_by) in pids_of(worker)
