"""``liverburden reprocess``: re-measure what the service holds under this algorithm version.

contracts/trial-record.md (Reprocessing): every measurement of record (and each timepoint's
measurements without a liver) is measured again and stored as a new measurement, held back until
an admin adopts the version. A line per measurement on stderr as it finishes; the report as JSON
(``--report``), with a CSV and an HTML page beside it; the last line on stdout is the contract's
``N re-measured, N skipped, N failed, N changed``. Exit 0 when none failed, 1 when some did, 2 on
bad input (an unknown subject, a bad date, no broker for ``--engine celery``).
"""

from __future__ import annotations

import enum
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli._common import fail, since_date


class Engine(enum.StrEnum):
    """Who runs the re-measurements."""

    LOCAL = "local"
    CELERY = "celery"


class _Lines:
    """One line per finished job on stderr: where the run is."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.start = total, 0, time.monotonic()

    def __call__(self, job_id: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.start
        print(
            f"[{self.done}/{self.total} {elapsed:.0f} s] job {job_id} over",
            file=sys.stderr,
            flush=True,
        )


def _celery_ready(settings: Any) -> Any:
    """The Celery app when a broker is configured and reachable, else exit 2."""
    from app.batch.celery import BatchEngineError, connect_broker
    from app.jobs.celery.app import make_celery

    if not settings.broker_url:
        fail("--engine celery needs LIVERBURDEN_BROKER_URL (e.g. redis://127.0.0.1:6379/0)")
    app = make_celery(settings)
    try:
        connect_broker(app)
    except BatchEngineError as exc:
        app.close()
        fail(str(exc))
    return app


def reprocess(
    subject: Annotated[
        list[str] | None, typer.Option("--subject", help="Only this subject (repeatable).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only measurements made on or after YYYY-MM-DD."),
    ] = None,
    engine: Annotated[
        Engine, typer.Option("--engine", help="local: worker processes here; celery: the workers.")
    ] = Engine.LOCAL,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Local worker processes.")] = 2,
    report_path: Annotated[
        Path,
        typer.Option(
            "--report", help="The JSON report; FILE.csv and FILE.html are written beside it."
        ),
    ] = Path("reprocess.json"),
) -> None:
    """Re-measure every measurement of record under this algorithm version; the results are new
    measurements, served only once an admin adopts the version (``liverburden adopt``)."""
    from app.batch.recheck import measurements_to_check
    from app.batch.reprocess import (
        finish_runs_in_workers,
        jobs_to_run,
        queue_reprocessing,
        report_files,
        report_of,
        run_local,
        summary_line,
        wait_for,
    )
    from app.cli._db import cli_actor, open_database
    from app.errors import InvalidRequestError
    from app.jobs.engine import JobContext
    from app.settings import get_settings
    from app.store.blobs import BlobStore
    from app.version import ALGORITHM_VERSION

    day = since_date(since)
    settings = get_settings()
    celery = _celery_ready(settings) if engine == Engine.CELERY else None
    factory = open_database()
    actor = cli_actor()
    with factory() as session:
        try:
            ids = measurements_to_check(session, subject or (), day)
        except InvalidRequestError as exc:
            fail(str(exc))
    rows = queue_reprocessing(factory, ids, actor)
    jobs = jobs_to_run(rows)
    print(
        f"{len(ids)} measurement(s) of record; {len(jobs)} to re-measure under {ALGORITHM_VERSION}",
        file=sys.stderr,
        flush=True,
    )
    lines = _Lines(len(jobs))
    if celery is not None:
        from app.batch.celery import check_workers_meanwhile
        from app.jobs.celery.app import send_job
        from app.vocab import JobKind

        try:
            for job_id in jobs:
                try:
                    send_job(celery, job_id, JobKind.REPROCESS)
                except Exception as exc:  # kombu raises several classes; all mean "no broker"
                    fail(
                        f"the Celery broker stopped answering ({type(exc).__name__}); the jobs "
                        "stay queued: run the command again to take them up"
                    )
            if jobs:
                check_workers_meanwhile(celery)  # a warning when no worker answers
            wait_for(factory, jobs, lines)
        finally:
            celery.close()
    else:
        finish_runs_in_workers()  # the service's runs waiting for these jobs end with them
        run_local(JobContext.from_settings(settings), jobs, workers, lines)
    done, report = report_of(factory, BlobStore(settings.blob_dir), rows, actor, engine.value)
    report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    csv_text, page = report_files(done, report)
    report_path.with_suffix(".csv").write_text(csv_text, encoding="utf-8")
    report_path.with_suffix(".html").write_text(page, encoding="utf-8")
    for row in done:
        if row.status == "failed":
            print(
                f"{row.subject_id} {row.timepoint} measurement {row.measurement_id}: {row.error}",
                file=sys.stderr,
            )
    print(summary_line(report))
    if report["failed"]:
        raise typer.Exit(1)
