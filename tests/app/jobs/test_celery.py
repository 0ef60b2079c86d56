"""Celery engine: service jobs run on real worker processes over the real Redis, exactly once.

No eager mode, no mocks: the service (in this process) sends job ids to Redis;
``liverburden worker`` subprocesses claim them in the shared database (SQLite file in tmp_path,
or PostgreSQL) and measure the bundled sample study.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import time
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from app.db.migrate import migration_lock
from app.db.models import Job, Measurement
from app.db.session import session_scope
from app.jobs.celery.app import make_celery, prepare_database, send_job
from app.measure.submit import submit_measurement
from app.settings import Settings
from app.store.blobs import BlobStore
from tests.app import celery_fixtures
from tests.app.celery_fixtures import (
    WorkerPool,
    claimed_pid,
    measurement_bodies,
    pids_of,
    request_measurements,
    sample_truth,
    wait_until,
)
from tests.app.conftest import running_service, session_factory_for, wait_for_job

pytestmark = pytest.mark.redis
# Fixtures shared by the Celery test modules (pytest finds them in the module namespace).
broker_url = celery_fixtures.broker_url
celery_settings = celery_fixtures.celery_settings
worker_pool = celery_fixtures.worker_pool


def _jobs(settings: Settings, ids: list[str]) -> dict[str, Job]:
    with session_scope(session_factory_for(settings)) as s:
        return {j.id: j for j in s.execute(select(Job).where(Job.id.in_(ids))).scalars()}


def _measurements_per_job(settings: Settings) -> Counter[str | None]:
    with session_scope(session_factory_for(settings)) as s:
        return Counter(s.execute(select(Measurement.job_id)).scalars())


def _gone(pid: int) -> bool:
    """Whether a process no longer runs (absent, or a zombie not reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def flow_settings(request: pytest.FixtureRequest, celery_settings: Settings) -> Settings:
    """The Celery settings on SQLite, then on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return celery_settings
    url = request.getfixturevalue("postgres_url")
    return celery_settings.model_copy(update={"database_url": url})


def test_service_job_runs_on_a_celery_worker(flow_settings: Settings, tmp_path: Path) -> None:
    """With a broker URL the service's measurement job runs on a worker process and succeeds."""
    pool = WorkerPool(flow_settings, tmp_path)
    try:
        with running_service(flow_settings) as svc:
            (worker,) = pool.start(1)
            c = svc.client()
            (job_id,) = request_measurements(c, 1)
            job = wait_for_job(c, f"/v1/jobs/{job_id}", timeout_s=60)
            assert job["status"] == "succeeded", (job, worker.text()[-3000:])
            m = c.get(job["result_url"]).json()
            truth = sample_truth()
            assert m["liver_volume_ml"] == pytest.approx(truth["liver_volume_ml"], abs=1e-6)
            assert m["tumor_volume_ml"] == pytest.approx(truth["tumor_volume_ml"], abs=1e-6)
            assert m["lesions"][0]["long_axis_mm"] == pytest.approx(
                truth["lesions"][0]["long_axis_mm"], abs=1e-3
            )
            row = _jobs(flow_settings, [job_id])[job_id]
            assert claimed_pid(row.claimed_by) in pids_of(worker)  # a worker ran it, not the server
            assert claimed_pid(row.claimed_by) != os.getpid()
            assert row.attempts == 1
    finally:
        pool.stop_all()


def test_job_survives_a_worker_killed_mid_task(
    celery_settings: Settings, worker_pool: WorkerPool
) -> None:
    """A worker SIGKILLed mid-job: Redis re-delivers the job, another worker completes it once."""
    with running_service(celery_settings) as svc:
        (a,) = worker_pool.start(1, delay_s=120)
        c = svc.client()
        (job_id,) = request_measurements(c, 1)

        def running() -> Job | None:
            job = _jobs(celery_settings, [job_id])[job_id]
            return job if job.status == "running" else None

        job = wait_until(running, 30, "worker A to claim the job")
        victim = claimed_pid(job.claimed_by)
        assert victim in pids_of(a)
        a.kill()
        wait_until(lambda: _gone(victim), 10, "the killed pool process to disappear")
        assert _jobs(celery_settings, [job_id])[job_id].status == "running"  # orphaned

        (b,) = worker_pool.start(1)  # no delay: measures at once
        done = wait_for_job(c, f"/v1/jobs/{job_id}", timeout_s=60)
        assert done["status"] == "succeeded", (done, b.text()[-3000:])
        row = _jobs(celery_settings, [job_id])[job_id]
        assert row.attempts == 2  # claimed by A, then by B after the re-delivery
        assert claimed_pid(row.claimed_by) in pids_of(b)
        assert _measurements_per_job(celery_settings) == Counter({job_id: 1})


def test_two_workers_never_run_the_same_job(
    celery_settings: Settings, worker_pool: WorkerPool
) -> None:
    """Ten jobs, each id sent twice in a row to two workers: one claim, one measurement per job."""
    with running_service(celery_settings) as svc:
        a, b = worker_pool.start(2, delay_s=0.3)
        bodies = measurement_bodies(svc.client(), 10)
        blobs = BlobStore(celery_settings.blob_dir)
        with session_scope(svc.server.session_factory) as s:  # queued, not sent by the service
            jobs = [submit_measurement(s, blobs, body, "test:setup")[0] for body in bodies]
            ids = [j.id for j in jobs]
        app = make_celery(celery_settings)
        try:
            for job_id in ids:  # both workers get the same id at the same moment
                send_job(app, job_id)
                send_job(app, job_id)
        finally:
            app.close()

        def all_final() -> dict[str, Any] | None:
            jobs = _jobs(celery_settings, ids)
            return jobs if all(j.status in ("succeeded", "failed") for j in jobs.values()) else None

        jobs = wait_until(all_final, 90, "the ten jobs to finish", interval_s=0.3)
        assert {j.status for j in jobs.values()} == {"succeeded"}
        assert {j.attempts for j in jobs.values()} == {1}  # no job was claimed twice
        assert _measurements_per_job(celery_settings) == Counter(dict.fromkeys(ids, 1))
        runners = {claimed_pid(j.claimed_by) for j in jobs.values()}
        pa, pb = pids_of(a), pids_of(b)
        assert runners <= pa | pb
        assert runners & pa and runners & pb  # both workers took part


def _migrate_at_once(home: str, barrier: Any, delay_s: float, results: Any) -> None:
    """Child process: start with the others (plus ``delay_s``), migrate the shared database."""
    barrier.wait()
    time.sleep(delay_s)
    try:
        prepare_database(Settings(home=Path(home)))
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}")
    else:
        results.put(None)


def _schema_version(db: Path) -> str | None:
    """The Alembic revision recorded in a SQLite file (None before any migration)."""
    if not db.exists():
        return None
    with closing(sqlite3.connect(db)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "alembic_version" not in tables:
            return None
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return str(row[0]) if row else None


def test_workers_starting_together_migrate_a_fresh_database(tmp_path: Path) -> None:
    """Four processes migrating one fresh SQLite file at about the same moment all succeed."""
    ctx = multiprocessing.get_context("fork")
    for round_no in range(4):
        home = tmp_path / f"home{round_no}"
        barrier, results = ctx.Barrier(4), ctx.Queue()
        procs = [
            ctx.Process(target=_migrate_at_once, args=(str(home), barrier, 0.01 * i, results))
            for i in range(4)
        ]
        for p in procs:
            p.start()
        errors = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=30)
        assert errors == [None] * 4, f"round {round_no}: {errors}"
        assert _schema_version(home / "liverburden.db") is not None


def test_migration_waits_while_another_process_holds_the_lock(tmp_path: Path) -> None:
    """A process's migration of a SQLite file waits for the lock another process holds."""
    settings = Settings(home=tmp_path / "home")
    settings.resolved_home.mkdir(parents=True)
    db = Path(str(make_url(settings.resolved_database_url).database))
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(1), ctx.Queue()
    child = ctx.Process(target=_migrate_at_once, args=(str(settings.home), barrier, 0.0, results))
    with migration_lock(settings.resolved_database_url):
        child.start()
        deadline = time.monotonic() + 3.0  # ample time for an unlocked migration to finish
        while time.monotonic() < deadline:
            assert _schema_version(db) is None, "migrated while another process held the lock"
            time.sleep(0.1)
        assert child.is_alive()
    assert results.get(timeout=120) is None
    child.join(timeout=30)
    assert _schema_version(db) is not None
