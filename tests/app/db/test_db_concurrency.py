"""Readers and writers on one database: read-only sessions never queue behind a writer, writers
still queue for each other instead of failing with "database is locked".

Real databases only: a SQLite file in WAL mode, and a throw-away PostgreSQL database. Ordering is
checked with events (a read finished while the writer still held its transaction open), never
with durations; the waits below are generous upper bounds that only turn a hang into a failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.db import upgrade_database
from app.db.models import Subject
from app.db.session import (
    ReadOnlySessionError,
    dispose_engine,
    get_engine,
    is_sqlite,
    make_session_factory,
    session_scope,
)
from tests.app._http_steps import new_subject_with_baseline, upload_labels, upload_series
from tests.app.conftest import (
    BACKENDS,
    SeriesFiles,
    Service,
    session_factory_for,
    wait_for_job,
)

#: Upper bound of any wait for the other thread; reached only when something blocks (a failure).
_GENEROUS_S = 30.0


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'lb.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    upgrade_database(url)
    try:
        yield url
    finally:
        dispose_engine(url)


def _subjects(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Subject)) or 0)


def test_read_only_session_reads_while_a_writer_holds_its_transaction(db_url: str) -> None:
    """A read-only session answers, from the last committed state, while a write is open."""
    engine = get_engine(db_url)
    write = make_session_factory(engine)
    read = make_session_factory(engine, readonly=True)
    holding, read_done = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def writer() -> None:
        with session_scope(write) as s:
            s.add(Subject(subject_id="W-1", created_by="test"))
            s.flush()  # on SQLite the write lock is held from BEGIN IMMEDIATE until commit
            holding.set()
            seen["read_finished_while_held"] = read_done.wait(_GENEROUS_S)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(_GENEROUS_S)
        with session_scope(read) as s:
            seen["subjects_seen"] = _subjects(s)
        read_done.set()
    finally:
        read_done.set()
        thread.join()
    assert seen["read_finished_while_held"], "the read waited until the writer released its lock"
    assert seen["subjects_seen"] == 0  # the uncommitted row is invisible
    with session_scope(read) as s:
        assert _subjects(s) == 1


def test_concurrent_read_then_write_transactions_all_commit(db_url: str) -> None:
    """Writers that read first and then write all commit; none fails with 'database is locked'."""
    engine = get_engine(db_url)
    write = make_session_factory(engine)
    n = 8
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []
    counts: list[int] = []

    def work(i: int) -> None:
        barrier.wait(_GENEROUS_S)
        try:
            with session_scope(write) as s:
                # A read first: a deferred SQLite transaction fails here on its upgrade to write.
                before = _subjects(s)
                time.sleep(0.02)  # let the others start theirs (no timing is asserted)
                s.add(Subject(subject_id=f"C-{i}", created_by="test"))
            counts.append(before)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with session_scope(make_session_factory(engine, readonly=True)) as s:
        assert _subjects(s) == n
    if is_sqlite(db_url):  # serialised: each writer saw every earlier writer's row
        assert sorted(counts) == list(range(n))


def test_read_only_session_refuses_writes_and_leaves_the_connection_writable(
    db_url: str,
) -> None:
    """A write in a read-only session fails and stores nothing; write sessions still write."""
    engine = get_engine(db_url)
    read = make_session_factory(engine, readonly=True)
    write = make_session_factory(engine)
    with pytest.raises(ReadOnlySessionError, match="read-only session"), session_scope(read) as s:
        s.add(Subject(subject_id="R-1", created_by="test"))
    with pytest.raises(DBAPIError, match=r"(?i)read-?only"), session_scope(read) as s:
        s.execute(
            text(
                "INSERT INTO subjects (subject_id, created_at, created_by) "
                "VALUES ('R-2', CURRENT_TIMESTAMP, 'test')"
            )
        )
    for i in range(3):  # pooled connections go back and forth between both kinds of session
        with session_scope(write) as s:
            s.add(Subject(subject_id=f"OK-{i}", created_by="test"))
        with session_scope(read) as s:
            assert _subjects(s) == i + 1
    with session_scope(read) as s:
        assert s.scalars(select(Subject.subject_id).order_by(Subject.subject_id)).all() == [
            "OK-0",
            "OK-1",
            "OK-2",
        ]


def _measured_subject(service: Service, ct_series: SeriesFiles) -> dict[str, str]:
    """Upload, subject S-1 with a baseline, and a succeeded measurement job; its ids."""
    c = service.client()
    stored = upload_series(c, ct_series.files)
    seg = upload_labels(c, stored.series_uid, ct_series.labels)
    tp = new_subject_with_baseline(c, "S-1", stored.study_uid, "2020-01-01", label="base")
    r = c.post(
        "/v1/measurements",
        json={
            "timepoint_id": tp,
            "series_instance_uid": stored.series_uid,
            "segmentation_upload_id": seg,
        },
    )
    assert r.status_code == 202, r.text
    job = wait_for_job(c, r.headers["location"])
    assert job["status"] == "succeeded", job
    return {
        "job_id": r.json()["job_id"],
        "measurement_id": job["result_url"].rsplit("/", 1)[1],
        "study_uid": stored.study_uid,
    }


#: Read-only routes (role, path template, expected status) that must answer during a write.
_READ_ROUTES = [
    ("edc", "/v1/subjects/S-1/eligibility", 200),
    ("edc", "/v1/subjects/S-1/burden", 200),
    ("radiologist", "/v1/jobs/{job_id}", 200),
    ("radiologist", "/v1/measurements/{measurement_id}", 200),
    ("radiologist", "/v1/subjects", 200),
    ("radiologist", "/v1/subjects/S-1", 200),
    ("radiologist", "/v1/subjects/S-1/timepoints", 200),
    ("radiologist", "/v1/subjects/S-1/lesions", 200),
    ("radiologist", "/v1/studies", 200),
    ("radiologist", "/dicomweb/studies/{study_uid}/metadata", 200),
    ("admin", "/v1/keys", 200),
    ("admin", "/v1/audit/events", 200),
    ("admin", "/v1/audit/verify", 200),
]


def test_read_routes_answer_while_a_writer_holds_the_sqlite_lock(
    service: Service, ct_series: SeriesFiles
) -> None:
    """EDC and other GET routes (authentication included) answer while a write is open."""
    ids = _measured_subject(service, ct_series)
    clients = {role: service.client(role) for role in ("edc", "radiologist", "admin")}
    for c in clients.values():
        c.timeout = httpx.Timeout(_GENEROUS_S)  # a blocked read fails instead of hanging
    events_before = clients["admin"].get("/v1/audit/verify").json()["events"]
    answers: dict[str, int] = {}
    with session_scope(session_factory_for(service.settings)) as s:
        s.add(Subject(subject_id="HOLD", created_by="test"))
        s.flush()  # this process now holds the SQLite write lock (BEGIN IMMEDIATE)
        for role, template, _ in _READ_ROUTES:
            path = template.format(**ids)
            answers[path] = clients[role].get(path).status_code
    assert answers == {template.format(**ids): status for _, template, status in _READ_ROUTES}
    assert clients["admin"].get("/v1/audit/verify").json()["events"] == events_before


def test_subject_assessment_still_appends_its_audit_event(backend_service: Service) -> None:
    """GET assessment is a read that writes: it keeps a write session and audits every call."""
    c, admin = backend_service.client(), backend_service.client("admin")
    assert c.post("/v1/subjects", json={"subject_id": "A-1"}).status_code == 201
    tp = c.post(
        "/v1/subjects/A-1/timepoints",
        json={"label": "base", "date": "2020-01-01", "baseline": True},
    )
    assert tp.status_code == 201, tp.text
    lesion = {"lesion_id": "T1", "organ": "liver", "lymph_node": False, "role": "target"}
    r = c.put("/v1/subjects/A-1/lesions", json={"reason": "read", "lesions": [lesion]})
    assert r.status_code == 200, r.text
    r = c.put(
        f"/v1/subjects/A-1/timepoints/{tp.json()['timepoint_id']}/lesions",
        json={"reason": "read", "measurements": [{"lesion_id": "T1", "diameter_mm": 21.0}]},
    )
    assert r.status_code == 200, r.text

    def computed() -> int:
        r = admin.get("/v1/audit/events", params={"action": "assessment.computed"})
        assert r.status_code == 200, r.text
        return len(r.json())

    edc = backend_service.client("edc")
    for calls in (1, 2):
        r = edc.get("/v1/subjects/A-1/assessment")
        assert r.status_code == 200, r.text
        assert computed() == calls
    assert admin.get("/v1/audit/verify").json()["ok"]
