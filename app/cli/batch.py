"""``liverburden batch MANIFEST.csv``: re-measure many studies, resumably (contracts/http.md)."""

from __future__ import annotations

import enum
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli._common import fail

if TYPE_CHECKING:
    from app.measure.rows import BatchRow


class Engine(enum.StrEnum):
    LOCAL = "local"
    CELERY = "celery"


class _Progress:
    """A rich progress bar on a terminal; plain lines (one per row) otherwise."""

    def __init__(self, total: int, enabled_tty: bool) -> None:
        self.total = total
        self.done = 0
        self.start = time.monotonic()
        self._rich: Any = None
        if enabled_tty:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._rich = Progress(
                TextColumn("[bold]measuring"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                transient=False,
            )
            self._task = self._rich.add_task("rows", total=total, rate="")
            self._rich.start()

    def advance(self, record: dict[str, Any]) -> None:
        self.done += 1
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.done / elapsed
        if self._rich is not None:
            self._rich.update(self._task, advance=1, rate=f"{rate * 60:.1f} rows/min")
        else:
            extra = f": {record['error']}" if record.get("status") == "failed" else ""
            print(
                f"[{self.done}/{self.total}] row {record['row_id']} {record['status']}{extra}",
                file=sys.stderr,
                flush=True,
            )

    def stop(self) -> None:
        if self._rich is not None:
            self._rich.stop()


def batch(
    manifest: Annotated[
        Path,
        typer.Argument(
            help="CSV manifest (row_id, subject_id, timepoint, "
            "series, labels, liver_label, tumor_label)."
        ),
    ],
    workers: Annotated[int, typer.Option("--workers", min=1, help="Local worker processes.")] = 2,
    engine: Annotated[Engine, typer.Option("--engine", help="local or celery.")] = Engine.LOCAL,
    out: Annotated[Path, typer.Option("--out", help="JSON-lines results file (appended).")] = Path(
        "results.jsonl"
    ),
) -> None:
    """Measure every manifest row; rows already done with identical inputs are skipped."""
    from app.batch.local import ManifestError, read_manifest

    try:
        rows = read_manifest(manifest)
    except ManifestError as exc:
        fail(str(exc))
    run = _run_celery if engine is Engine.CELERY else _run_local
    statuses = run(rows, out, workers)
    succeeded, failed, skipped = (statuses.count(s) for s in ("succeeded", "failed", "skipped"))
    print(f"{succeeded} succeeded, {failed} failed, {skipped} skipped")
    raise typer.Exit(0 if failed == 0 else 1)


def _run_celery(rows: list[BatchRow], out: Path, _workers: int) -> list[str]:
    """Rows as jobs for ``liverburden worker`` processes (``--workers`` does not apply).

    The rows' inputs are hashed by helper processes started first, while this process imports the
    database and broker libraries and connects.
    """
    import os

    from app.batch.local import BackgroundKeys

    keys = BackgroundKeys(rows, processes=min(4, max(1, (os.cpu_count() or 2) - 1)))
    try:
        from app.batch.celery import BatchEngineError, run_celery
        from app.cli._db import cli_actor

        progress = _Progress(len(rows), sys.stderr.isatty())
        try:
            return run_celery(rows, out, progress, actor=cli_actor(), keys=keys)
        except BatchEngineError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            print(
                f"interrupted: results so far are in {out.name}; the rows sent keep running on "
                "the workers; run the same command again to collect them",
                file=sys.stderr,
            )
            raise typer.Exit(130) from None
    finally:
        keys.close()


def _run_local(rows: list[BatchRow], out: Path, workers: int) -> list[str]:
    """Rows on a local process pool; results appended to ``out`` as each row finishes."""
    from app.batch.local import ResultsLog, skipped_record
    from app.measure.rows import measure_row

    statuses: list[str] = []
    progress = _Progress(len(rows), sys.stderr.isatty())
    with ResultsLog(out) as log:
        done_keys = frozenset(log.done)
        pool = ProcessPoolExecutor(max_workers=workers)
        pending: set[Future[dict[str, Any]]] = set()
        by_future: dict[Future[dict[str, Any]], Any] = {}
        try:
            for row in rows:
                fut = pool.submit(measure_row, row, done_keys)
                pending.add(fut)
                by_future[fut] = row
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    row = by_future.pop(fut)
                    try:
                        record = fut.result()
                    except Exception as exc:
                        record = {
                            "row_id": row.row_id,
                            "status": "failed",
                            "error": f"worker crashed ({exc.__class__.__name__})",
                        }
                    if record["status"] == "skipped":
                        record = skipped_record(
                            row, record["batch_key"], log.previous(record["batch_key"]) or record
                        )
                    log.append(record)
                    statuses.append(record["status"])
                    progress.advance(record)
        except KeyboardInterrupt:
            progress.stop()
            pool.shutdown(wait=False, cancel_futures=True)
            print(
                f"interrupted: {len(statuses)} of {len(rows)} rows written to {out.name}; "
                "run the same command again to continue",
                file=sys.stderr,
            )
            raise typer.Exit(130) from None
        pool.shutdown(wait=True)
    progress.stop()
    return statuses
