"""Identical measurement requests at the same instant make one job (the in-flight unique index).

Real databases only: the embedded SQLite file and a throw-away PostgreSQL database. No job runs
here (zero workers): the jobs stay queued, which is the state the race is about.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.exc import IntegrityError

from app.db import upgrade_database
from app.db.migrate import alembic_config
from app.db.models import AuditEvent, Job
from app.db.session import dispose_engine, get_engine, make_session_factory, session_scope
from app.measure.submit import submit_measurement
from app.settings import Settings
from app.store.blobs import BlobStore
from app.version import ALGORITHM_VERSION
from tests.app.conftest import (
    BACKENDS,
    SeriesFiles,
    Service,
    dicom_parts,
    running_service,
    session_factory_for,
)

#: Upper bound of a wait for another thread; reached only when something hangs (a failure).
_GENEROUS_S = 30.0


def _url(request: pytest.FixtureRequest) -> str | None:
    """None (the embedded SQLite default) or a fresh PostgreSQL database."""
    return None if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))


@pytest.fixture(params=BACKENDS)
def idle_service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    """A service without job workers, on SQLite, then on PostgreSQL."""
    settings = Settings(home=tmp_path / "home", workers=0, database_url=_url(request))
    with running_service(settings) as svc:
        yield svc


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database: a SQLite file, then a fresh PostgreSQL database."""
    url = _url(request) or f"sqlite:///{tmp_path / 'lb.db'}"
    upgrade_database(url)
    try:
        yield url
    finally:
        dispose_engine(url)


def _request_body(service: Service, ct_series: SeriesFiles) -> dict[str, Any]:
    """An uploaded series and label map, a subject with a baseline: a measurement request."""
    c = service.client()
    up = c.post("/v1/uploads", files=dicom_parts(ct_series.files))
    assert up.status_code == 201, up.text
    series_uid = up.json()["studies"][0]["series"][0]["series_instance_uid"]
    seg = c.post(
        "/v1/segmentations",
        data={"series_instance_uid": series_uid},
        files={"file": ("labels.nii.gz", ct_series.labels.read_bytes())},
    )
    assert seg.status_code == 201, seg.text
    assert c.post("/v1/subjects", json={"subject_id": "D-1"}).status_code == 201
    tp = c.post(
        "/v1/subjects/D-1/timepoints",
        json={"label": "base", "date": "2020-01-01", "baseline": True},
    )
    assert tp.status_code == 201, tp.text
    return {
        "timepoint_id": tp.json()["timepoint_id"],
        "series_instance_uid": series_uid,
        "segmentation_upload_id": seg.json()["segmentation_upload_id"],
    }


def _jobs_and_requested_events(service: Service) -> tuple[list[str], int]:
    with session_scope(session_factory_for(service.settings)) as s:
        jobs = list(s.scalars(select(Job.id).where(Job.kind == "measurement")))
        events = s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "measurement.requested")
        )
    return jobs, int(events or 0)


def test_identical_requests_at_once_make_one_job(
    idle_service: Service, ct_series: SeriesFiles
) -> None:
    """N identical POST /v1/measurements at once: one job row, every caller gets its id."""
    body = _request_body(idle_service, ct_series)
    n = 8
    clients = [idle_service.client() for _ in range(n)]
    barrier = threading.Barrier(n)
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def send(i: int) -> None:
        barrier.wait(_GENEROUS_S)
        r = clients[i].post("/v1/measurements", json=body)
        with lock:
            answers.append((r.status_code, r.json().get("job_id", r.text)))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [status for status, _ in answers] == [202] * n, answers
    job_ids = {job_id for _, job_id in answers}
    assert len(job_ids) == 1
    jobs, requested = _jobs_and_requested_events(idle_service)
    assert jobs == list(job_ids)
    assert requested == 1


@pytest.mark.postgres
def test_request_waiting_on_an_uncommitted_identical_job_joins_it(
    postgres_url: str, tmp_path: Path, ct_series: SeriesFiles
) -> None:
    """A request that cannot see an identical job not yet committed waits for it and joins it."""
    settings = Settings(home=tmp_path / "home", workers=0, database_url=postgres_url)
    with running_service(settings) as svc:
        body = _request_body(svc, ct_series)
        factory = session_factory_for(settings)
        second: dict[str, Any] = {}

        def submit_second() -> None:
            with session_scope(factory) as s:
                job, created = submit_measurement(
                    s, BlobStore(settings.blob_dir), body, "test:second"
                )
                second.update(job_id=job.id, created=created)

        watcher = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
        thread = threading.Thread(target=submit_second)
        try:
            with session_scope(factory) as s:
                first, created = submit_measurement(
                    s, BlobStore(settings.blob_dir), body, "test:first"
                )
                assert created  # flushed, not committed: invisible to the second request
                thread.start()
                # Ordering, not timing: the second request has looked, missed our job, and now
                # waits on a lock that we hold (the index entry of our insert).
                _wait_for_a_lock_wait(watcher)
        finally:  # our commit above lets the second request go on
            thread.join()
            watcher.dispose()
        jobs, requested = _jobs_and_requested_events(svc)
    assert second == {"job_id": first.id, "created": False}
    assert jobs == [first.id]
    assert requested == 1


def _wait_for_a_lock_wait(engine: sa.Engine) -> None:
    deadline = time.monotonic() + _GENEROUS_S
    with engine.connect() as conn:
        while True:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            if waiting:
                return
            if time.monotonic() > deadline:
                pytest.fail("the second request never waited for the first one's lock")
            time.sleep(0.01)


def test_force_and_retry_after_failure_make_new_jobs(
    idle_service: Service, ct_series: SeriesFiles
) -> None:
    """``force`` runs beside an identical queued job; after a failure a request makes a new job."""
    body = _request_body(idle_service, ct_series)
    c = idle_service.client()
    first = c.post("/v1/measurements", json=body).json()["job_id"]
    forced = c.post("/v1/measurements", json={**body, "force": True}).json()["job_id"]
    assert forced != first
    assert c.post("/v1/measurements", json=body).json()["job_id"] in (first, forced)
    with session_scope(session_factory_for(idle_service.settings)) as s:
        s.execute(update(Job).where(Job.id.in_((first, forced))).values(status="failed"))
    retry = c.post("/v1/measurements", json=body)
    assert retry.status_code == 202, retry.text
    assert retry.json()["job_id"] not in (first, forced)
    jobs, requested = _jobs_and_requested_events(idle_service)
    assert len(jobs) == requested == 3


def _job(sha: str = "a" * 64, **attrs: Any) -> Job:
    fields: dict[str, Any] = {
        "kind": "measurement",
        "status": "queued",
        "request_sha256": sha,
        "algorithm_version": ALGORITHM_VERSION,
        "created_by": "test",
        **attrs,
    }
    return Job(**fields)


#: (first job, second job with the same request) -> may both exist
_PAIRS = [
    pytest.param({}, {}, False, id="two-queued"),
    pytest.param({"status": "running"}, {}, False, id="running-then-queued"),
    pytest.param({"status": "running"}, {"status": "running"}, False, id="two-running"),
    pytest.param({"status": "failed"}, {}, True, id="failed-then-retry"),
    pytest.param({"status": "succeeded"}, {}, True, id="succeeded-then-queued"),
    pytest.param({}, {"forced": True}, True, id="queued-then-forced"),
    pytest.param({"forced": True}, {"forced": True}, True, id="two-forced"),
    pytest.param({"kind": "batch"}, {"kind": "batch"}, True, id="two-batch-rows"),
    pytest.param({}, {"kind": "batch"}, True, id="measurement-and-batch"),
    pytest.param({}, {"algorithm_version": "0.0.0-other"}, True, id="other-algorithm"),
]


@pytest.mark.parametrize(("first", "second", "allowed"), _PAIRS)
def test_in_flight_index_admits_one_unforced_queued_or_running_measurement_job(
    db_url: str, first: dict[str, Any], second: dict[str, Any], allowed: bool
) -> None:
    """The database itself refuses a second in-flight job of one request; nothing else."""
    factory = make_session_factory(get_engine(db_url))
    with session_scope(factory) as s:
        s.add(_job(**first))
    if allowed:
        with session_scope(factory) as s:
            s.add(_job(**second))
    else:
        with pytest.raises(IntegrityError), session_scope(factory) as s:
            s.add(_job(**second))
    with session_scope(factory) as s:
        assert s.scalar(select(func.count()).select_from(Job)) == (2 if allowed else 1)


def test_migration_0004_keeps_earlier_duplicates_and_marks_all_but_the_oldest_forced(
    db_url: str,
) -> None:
    """Upgrading a database the race already duplicated succeeds; the oldest job stays joinable."""
    command.downgrade(alembic_config(db_url), "0003")
    jobs = sa.table(
        "jobs",
        *(sa.column(name) for name in ("id", "kind", "status", "progress", "message")),
        *(sa.column(name) for name in ("attempts", "request_sha256", "algorithm_version")),
        sa.column("created_by"),
        sa.column("request", sa.JSON()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows = [  # id, kind, status, request sha, minutes after t0
        ("dup-1", "measurement", "queued", "a", 0),
        ("dup-2", "measurement", "running", "a", 1),
        ("dup-3", "measurement", "queued", "a", 2),
        ("old-failed", "measurement", "failed", "a", -1),
        ("single", "measurement", "queued", "b", 0),
        ("batch-1", "batch", "queued", "c", 0),
        ("batch-2", "batch", "queued", "c", 1),
    ]
    engine = get_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(jobs),
            [
                {
                    "id": job_id,
                    "kind": kind,
                    "status": status,
                    "progress": 0.0,
                    "message": "",
                    "attempts": 0,
                    "request": {},
                    "request_sha256": sha * 64,
                    "algorithm_version": ALGORITHM_VERSION,
                    "created_by": "test",
                    "created_at": t0 + dt.timedelta(minutes=minutes),
                }
                for job_id, kind, status, sha, minutes in rows
            ],
        )
    dispose_engine(db_url)  # the downgrade changed the schema under the pooled connections
    upgrade_database(db_url)
    with session_scope(make_session_factory(get_engine(db_url))) as s:
        forced = {job_id: flag for job_id, flag in s.execute(select(Job.id, Job.forced))}
    assert forced == {
        "dup-1": False,
        "dup-2": True,
        "dup-3": True,
        "old-failed": False,
        "single": False,
        "batch-1": False,
        "batch-2": False,
    }
