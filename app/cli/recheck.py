"""``liverburden recheck``: measure what the service holds again and report what moved.

The reproducibility check of :mod:`app.batch.recheck`: nothing is stored; the report is written
as JSON and CSV (one line per difference). Exit status 0 when it ran (differences are findings,
listed), 2 on bad input (an unknown subject, a bad date).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli._common import fail, since_date

if TYPE_CHECKING:
    from app.batch.recheck import Recheck


class _Lines:
    """One line per measurement on stderr: where the check is, and what it found."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.start = total, 0, time.monotonic()

    def __call__(self, row: Recheck) -> None:
        self.done += 1
        found = (
            f"{len(row.differences)} difference(s), flipped: {', '.join(row.flips) or 'none'}"
            if row.status == "changed"
            else (row.error or "")
        )
        elapsed = time.monotonic() - self.start
        print(
            f"[{self.done}/{self.total} {elapsed:.0f} s] {row.subject_id} {row.timepoint} "
            f"measurement {row.measurement_id}: {row.status} {found}".rstrip(),
            file=sys.stderr,
            flush=True,
        )


def recheck(
    subject: Annotated[
        list[str] | None, typer.Option("--subject", help="Only this subject (repeatable).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only measurements made on or after YYYY-MM-DD.")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Local worker processes.")] = 2,
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Report file stem: STEM.json, STEM.csv and STEM.html are written."
        ),
    ] = Path("recheck"),
) -> None:
    """Measure every measurement the service uses again under this algorithm version (nothing
    is stored) and report every number that moved and every decision that flipped."""
    from app.batch.recheck import measurements_to_check, recheck, report_json
    from app.batch.report import report_csv, report_html
    from app.cli._db import cli_actor, open_database
    from app.errors import InvalidRequestError
    from app.settings import get_settings
    from app.store.blobs import BlobStore

    day = since_date(since)
    factory = open_database()
    settings = get_settings()
    with factory() as session:
        try:
            ids = measurements_to_check(session, subject or (), day)
        except InvalidRequestError as exc:
            fail(str(exc))
    blobs = BlobStore(settings.blob_dir)
    rows = recheck(
        factory, blobs, settings.resolved_home / "tmp", ids, _Lines(len(ids)), workers=workers
    )
    report: dict[str, Any] = report_json(rows, cli_actor())
    json_path, csv_path = out.with_suffix(".json"), out.with_suffix(".csv")
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    csv_path.write_text(report_csv(rows), encoding="utf-8")
    html_path = out.with_suffix(".html")
    page = report_html(
        rows,
        report,
        f"Measurements measured again under {report['algorithm_version']}",
        ("checked", "same", "changed", "failed", "flipped"),
    )
    html_path.write_text(page, encoding="utf-8")
    print(
        f"{report['checked']} measurement(s) measured again under {report['algorithm_version']}: "
        f"{report['same']} the same, {report['changed']} changed ({report['flipped']} with a "
        f"flipped decision), {report['failed']} failed; report in {json_path.name}, "
        f"{csv_path.name} and {html_path.name}"
    )
