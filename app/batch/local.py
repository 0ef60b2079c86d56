"""Batch re-measurement from a manifest (contracts/http.md, Batch).

Each manifest row names a series and its labels; every row runs through the same
:func:`app.measure.pipeline.run_measurement` as ``liverburden measure``. Results are appended to a
JSON-lines file, one line per row, flushed and fsynced as each row finishes, so an interrupted
batch loses at most the rows that were running. A re-run skips rows whose *batch key* (the hashes
of every input file, the label choices and the algorithm version) already has a ``succeeded`` line.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import signal
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from app.measure.rows import BatchRow, batch_key

__all__ = [
    "MANIFEST_COLUMNS",
    "BackgroundKeys",
    "ManifestError",
    "ResultsLog",
    "read_manifest",
]

MANIFEST_COLUMNS = (
    "row_id",
    "subject_id",
    "timepoint",
    "series",
    "labels",
    "liver_label",
    "tumor_label",
    "other_tumor_label",
)
_REQUIRED = ("row_id", "series", "labels")


class ManifestError(ValueError):
    """The manifest itself is unusable (missing columns, duplicate row ids, unreadable)."""


def read_manifest(path: Path) -> list[BatchRow]:
    """Parse a manifest CSV; relative paths are taken relative to the manifest's folder."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read manifest {path.name}: {exc.__class__.__name__}") from exc
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise ManifestError(
            f"manifest {path.name} lacks column(s) {', '.join(missing)}; expected columns: "
            + ", ".join(MANIFEST_COLUMNS)
        )
    rows: list[BatchRow] = []
    seen: set[str] = set()
    base = path.resolve().parent
    for lineno, raw in enumerate(reader, start=2):
        rec = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        row_id = rec.get("row_id", "")
        if not row_id:
            raise ManifestError(f"manifest line {lineno}: empty row_id")
        if row_id in seen:
            raise ManifestError(f"manifest line {lineno}: duplicate row_id {row_id!r}")
        seen.add(row_id)
        if not rec.get("series") or not rec.get("labels"):
            raise ManifestError(
                f"manifest line {lineno} (row {row_id}): series and labels are required"
            )
        tumor = rec.get("tumor_label", "")
        rows.append(
            BatchRow(
                row_id=row_id,
                subject_id=rec.get("subject_id", ""),
                timepoint=rec.get("timepoint", ""),
                series=(base / rec["series"]).resolve(),
                labels=(base / rec["labels"]).resolve(),
                liver_label=rec.get("liver_label") or None,
                tumor_labels=tuple(t.strip() for t in tumor.split("|") if t.strip())
                if tumor
                else (),
                other_tumor_labels=_other_labels(rec.get("other_tumor_label", ""), lineno),
            )
        )
    if not rows:
        raise ManifestError(f"manifest {path.name} has no rows")
    return rows


def _other_labels(value: str, lineno: int) -> tuple[tuple[str, str | None], ...]:
    """Return the optional ``other_tumor_label`` column: ``L=ORGAN|L2=ORGAN2`` (organ optional)."""
    out: list[tuple[str, str | None]] = []
    for item in (v.strip() for v in value.split("|")):
        if not item:
            continue
        label, sep, organ = item.partition("=")
        if not label.strip() or (sep and not organ.strip()):
            raise ManifestError(
                f"manifest line {lineno}: other_tumor_label {item!r}; expected LABEL or "
                "LABEL=ORGAN, several separated by '|'"
            )
        out.append((label.strip(), organ.strip() if sep else None))
    return tuple(out)


def _ignore_sigint() -> None:
    """Ctrl-C is for the parent: it stops the batch and shuts this helper process down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class BackgroundKeys:
    """The batch keys of ``rows``, hashed in helper processes while this process goes on.

    Forked before the celery engine's client imports its database and broker libraries, so that
    hashing the inputs overlaps the client's start-up instead of following it (and competing with
    the workers for the CPU afterwards). Iterating yields the keys in row order, as they are
    ready. A helper process that dies leaves its rows to be hashed here.
    """

    def __init__(self, rows: Sequence[BatchRow], processes: int = 1) -> None:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        self.rows = list(rows)
        self._pool = ProcessPoolExecutor(
            max_workers=max(1, processes), mp_context=context, initializer=_ignore_sigint
        )
        self._futures = [self._pool.submit(batch_key, row) for row in self.rows]

    def __iter__(self) -> Iterator[str | None]:
        for row, future in zip(self.rows, self._futures, strict=True):
            try:
                yield future.result()
            except BrokenProcessPool:
                yield batch_key(row)

    def close(self) -> None:
        """Stop hashing: rows not started are dropped, the row each helper is hashing finishes.

        Waiting for the helpers is what keeps an early exit clean: the interpreter shutting down
        under a pool's queue-feeder thread prints "OSError: Bad file descriptor" after the
        command's own one-line error (seen under load).
        """
        self._pool.shutdown(wait=True, cancel_futures=True)


class ResultsLog:
    """Append-only JSON-lines results file; knows which batch keys already succeeded."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: dict[str, dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a crash mid-write: that row simply runs again
                key = rec.get("batch_key")
                if rec.get("status") in ("succeeded", "skipped") and key:
                    self.done[key] = rec
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        # A crash may have left a partial last line; start ours on a fresh line.
        if path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            self._fh.write("\n")

    def previous(self, key: str | None) -> dict[str, Any] | None:
        """Return the succeeded record of ``key`` from an earlier run, if any."""
        return self.done.get(key) if key else None

    def append(self, record: dict[str, Any]) -> None:
        """Append a record as one JSON line, flushed and synced to disk."""
        self._fh.write(json.dumps(record, sort_keys=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        if record.get("status") == "succeeded" and record.get("batch_key"):
            self.done[record["batch_key"]] = record

    def close(self) -> None:
        """Close the file."""
        self._fh.close()

    def __enter__(self) -> ResultsLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def skipped_record(row: BatchRow, key: str, previous: dict[str, Any]) -> dict[str, Any]:
    """Return the line written for a row whose identical inputs were already measured."""
    return {
        **previous,
        "row_id": row.row_id,
        "subject_id": row.subject_id,
        "timepoint": row.timepoint,
        "batch_key": key,
        "status": "skipped",
    }
