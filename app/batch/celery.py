"""``liverburden batch --engine celery``: manifest rows as jobs for Celery workers.

Every row that is not done yet becomes a ``batch`` job in the database (the row's paths, label
choices and batch key in ``jobs.request``), its id goes to the workers
(``liverburden.run_batch_row``), and this process polls the job table until every row has
finished, appending each row's line to the results file as it comes in -- the same lines,
statuses and summary as the local engine (contracts/http.md, Batch). The workers must see the
manifest's paths (a shared file system) and share the database (``LIVERBURDEN_DATABASE_URL``)
and the broker (``LIVERBURDEN_BROKER_URL``).

A row is *done* when its batch key (input hashes, label choices, algorithm version) has a
``succeeded`` line in the results file or a ``succeeded`` batch job in the database; it is then
written as ``skipped`` with the earlier result. A row whose key has a ``queued`` or ``running`` job
(an interrupted run) waits for that job instead of creating another, so a batch is safe to
interrupt and re-run: jobs already sent keep running on the workers, and the re-run collects them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.batch.local import ResultsLog, skipped_record
from app.db.models import Job
from app.db.session import session_scope
from app.measure.rows import BatchRow, batch_key, row_to_request
from app.settings import Settings, get_settings
from app.version import ALGORITHM_VERSION
from app.vocab import JobKind, JobStatus

__all__ = [
    "BATCH_KIND",
    "BatchEngineError",
    "ProgressSink",
    "check_workers_meanwhile",
    "connect_broker",
    "run_celery",
]

logger = logging.getLogger(__name__)

BATCH_KIND = JobKind.BATCH
_POLL_CHUNK = 500  # job ids per status query


class BatchEngineError(RuntimeError):
    """The celery engine cannot start (no broker configured or reachable, no database)."""


class ProgressSink(Protocol):
    """What the command's progress display offers."""

    def advance(self, record: dict[str, Any]) -> None:
        """Count one finished row."""
        ...

    def stop(self) -> None:
        """End the display."""
        ...


def _request_sha(row: BatchRow, key: str | None) -> str:
    """Return the key itself (a row whose inputs cannot be hashed: a unique digest of the row)."""
    if key is not None:
        return key
    text = json.dumps(row_to_request(row, None), sort_keys=True) + f"|{time.time_ns()}"
    return hashlib.sha256(text.encode()).hexdigest()


def _find_job(session: Session, key: str) -> Job | None:
    """Return the newest succeeded, else running or queued, batch job of this key."""
    jobs = session.execute(
        select(Job)
        .where(
            Job.kind == BATCH_KIND,
            Job.request_sha256 == key,
            Job.algorithm_version == ALGORITHM_VERSION,
            Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.SUCCEEDED)),
        )
        .order_by(Job.created_at.desc())
    ).scalars()
    found = list(jobs)
    done = [j for j in found if j.status == JobStatus.SUCCEEDED and j.result]
    return done[0] if done else (found[0] if found else None)


def _failed_record(row: BatchRow, key: str | None, job: Job) -> dict[str, Any]:
    """Return the line of a row whose job failed without a result (its worker died too often)."""
    return {
        "row_id": row.row_id,
        "subject_id": row.subject_id,
        "timepoint": row.timepoint,
        "batch_key": key,
        "algorithm_version": ALGORITHM_VERSION,
        "status": "failed",
        "error": job.error or "the job failed",
    }


def connect_broker(app: Any) -> None:
    """Check that the broker answers (else :class:`BatchEngineError`, a one-line reason)."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=2, interval_start=0.5, interval_step=0.5)
    except Exception as exc:  # kombu raises several classes; all mean "no broker"
        raise BatchEngineError(
            f"cannot reach the Celery broker ({exc.__class__.__name__}); is Redis running at "
            "LIVERBURDEN_BROKER_URL?"
        ) from exc


def _warn_without_workers(app: Any) -> None:
    try:
        answers = app.control.ping(timeout=1.0, limit=1)  # returns at the first answer
    except Exception:  # only a hint; the jobs wait in the queue either way
        answers = []
    if not answers:
        print(
            "warning: no Celery worker answered; the jobs wait in the queue until one is started "
            "with `liverburden worker`",
            file=sys.stderr,
            flush=True,
        )


def check_workers_meanwhile(app: Any) -> threading.Thread:
    """Ping the workers from a thread: the rows are sent meanwhile, whatever the answer."""
    thread = threading.Thread(
        target=_warn_without_workers, args=(app,), name="lb-ping", daemon=True
    )
    thread.start()
    return thread


def _open(settings: Settings) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
    """Sessions that write (new jobs) and read-only ones (polls: no write lock on SQLite)."""
    from app.db import get_engine, make_session_factory
    from app.jobs.celery.app import prepare_database

    prepare_database(settings)
    engine = get_engine(settings.resolved_database_url)
    return make_session_factory(engine), make_session_factory(engine, readonly=True)


def _dispatch(
    factory: sessionmaker[Session],
    log: ResultsLog,
    row: BatchRow,
    key: str | None,
    actor: str,
    write: Callable[[dict[str, Any]], None],
) -> str | None:
    """Write a done row as skipped (None); else the id of its queued/running or new job."""
    previous = log.previous(key)
    if key is not None and previous is not None:
        write(skipped_record(row, key, previous))
        return None
    with session_scope(factory) as s:
        job = _find_job(s, key) if key is not None else None
        if key is not None and job is not None and job.status == JobStatus.SUCCEEDED:
            write(skipped_record(row, key, dict(job.result or {})))
            return None
        if job is None:
            job = Job(
                kind=BATCH_KIND,
                request=row_to_request(row, key),
                request_sha256=_request_sha(row, key),
                algorithm_version=ALGORITHM_VERSION,
                created_by=actor,
            )
            s.add(job)
            s.flush()
        return job.id


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(ids), _POLL_CHUNK):
        yield ids[i : i + _POLL_CHUNK]


def run_celery(
    rows: Sequence[BatchRow],
    out: Path,
    progress: ProgressSink,
    *,
    actor: str = "cli",
    settings: Settings | None = None,
    keys: Iterable[str | None] | None = None,
    poll_interval_s: tuple[float, float] = (0.05, 1.0),
) -> list[str]:
    """Run ``rows`` on the Celery workers; return each row's status in the order written.

    ``keys``: the rows' batch keys in row order, when the caller hashes them already
    (:class:`app.batch.local.BackgroundKeys`); else a few threads hash them here.
    ``poll_interval_s``: the shortest and longest wait between two looks at the job table (see
    :func:`_collect`).

    Raises
    ------
    BatchEngineError
        No broker is configured or reachable.
    KeyboardInterrupt
        Ctrl-C: the lines written so far stay; the jobs sent keep running on the workers.
    """
    from app.jobs.celery.app import make_celery, send_job

    settings = settings or get_settings()
    if not settings.broker_url:
        raise BatchEngineError(
            "the celery engine needs LIVERBURDEN_BROKER_URL (e.g. redis://127.0.0.1:6379/0)"
        )
    app = make_celery(settings)
    with ExitStack() as stack:
        stack.callback(app.close)
        stack.callback(progress.stop)
        connect_broker(app)
        factory, reader = _open(settings)
        statuses: list[str] = []
        if keys is None:
            # Keys are hashed by a few threads (hashing releases the GIL) and each new job is
            # sent at once, so the workers start while the later rows are still being hashed.
            hasher = ThreadPoolExecutor(4, thread_name_prefix="lb-hash")
            stack.callback(hasher.shutdown, wait=False, cancel_futures=True)  # Ctrl-C: stop
            keys = hasher.map(batch_key, rows)
        with ResultsLog(out) as log:

            def write(record: dict[str, Any]) -> None:
                log.append(record)
                statuses.append(str(record["status"]))
                progress.advance(record)

            pending: dict[str, list[tuple[BatchRow, str | None]]] = {}
            for row, key in zip(rows, keys, strict=True):
                job_id = _dispatch(factory, log, row, key, actor, write)
                if job_id is None:
                    continue
                if job_id not in pending:
                    send_job(app, job_id, BATCH_KIND)
                    if not pending:
                        check_workers_meanwhile(app)
                pending.setdefault(job_id, []).append((row, key))
            logger.info("%d batch job(s) sent to the workers", len(pending))
            _collect(reader, pending, write, poll_interval_s)
        return statuses


def _collect(
    factory: sessionmaker[Session],
    pending: dict[str, list[tuple[BatchRow, str | None]]],
    write: Callable[[dict[str, Any]], None],
    poll_interval_s: tuple[float, float],
) -> None:
    """Poll the job table; write each finished job's rows (shared keys: the others skipped).

    The wait between two polls adapts: the shortest while rows keep finishing (a finished row is
    seen within ``poll_interval_s[0]``), growing by half up to ``poll_interval_s[1]`` while none
    does (long rows cost a handful of queries each). Polls are read-only transactions.
    """
    shortest, longest = poll_interval_s
    wait_s = shortest
    while pending:
        finished: list[Job] = []
        with session_scope(factory) as s:
            for ids in _chunks(list(pending)):
                finished.extend(
                    s.execute(
                        select(Job).where(
                            Job.id.in_(ids), Job.status.in_((JobStatus.SUCCEEDED, JobStatus.FAILED))
                        )
                    ).scalars()
                )
        for job in finished:
            for n, (row, key) in enumerate(pending.pop(job.id)):
                if job.result is None:
                    record = _failed_record(row, key, job)
                elif n and job.status == JobStatus.SUCCEEDED and key is not None:
                    record = skipped_record(row, key, dict(job.result))
                else:
                    record = {
                        **job.result,
                        "row_id": row.row_id,
                        "subject_id": row.subject_id,
                        "timepoint": row.timepoint,
                    }
                write(record)
        if finished:
            wait_s = shortest
        else:
            time.sleep(wait_s)
            wait_s = min(longest, wait_s * 1.5)
