"""One manifest row measured: the work shared by ``liverburden batch`` and the Celery workers.

A :class:`BatchRow` names a series and its labels; :func:`batch_key` hashes every input file, the
label choices and the algorithm version; :func:`measure_row` runs the row through
:func:`app.measure.pipeline.run_measurement` and answers one JSON-able record, never raising for
bad input. :func:`row_to_request` and :func:`row_from_request` carry a row in a job's request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.version import ALGORITHM_VERSION
from dicomio.hashing import sha256_file

__all__ = ["BatchRow", "batch_key", "measure_row", "row_from_request", "row_to_request"]


@dataclass(frozen=True, slots=True)
class BatchRow:
    """One manifest row, with paths resolved against the manifest's folder."""

    row_id: str
    subject_id: str
    timepoint: str
    series: Path
    labels: Path
    liver_label: str | None
    tumor_labels: tuple[str, ...]
    #: ``(label, organ or None)`` of tumours outside the liver (manifest ``other_tumor_label``).
    other_tumor_labels: tuple[tuple[str, str | None], ...] = ()


def _files_under(path: Path) -> Iterator[Path]:
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file() and not p.name.startswith("."):
                yield p
    elif path.is_file():
        yield path


def batch_key(row: BatchRow) -> str | None:
    """Hash of every input file, the label choices and the algorithm version; None if unreadable."""
    h = hashlib.sha256()
    try:
        for part, root in (("series", row.series), ("labels", row.labels)):
            digests = sorted(sha256_file(p) for p in _files_under(root))
            if not digests:
                return None
            h.update(f"{part}:{','.join(digests)}\n".encode())
    except OSError:
        return None
    h.update(f"liver:{row.liver_label}\ntumor:{'|'.join(row.tumor_labels)}\n".encode())
    if row.other_tumor_labels:  # only then: earlier rows keep their key
        others = "|".join(f"{label}={organ or ''}" for label, organ in row.other_tumor_labels)
        h.update(f"other:{others}\n".encode())
    h.update(f"algorithm:{ALGORITHM_VERSION}\n".encode())
    return h.hexdigest()


def measure_row(
    row: BatchRow, done_keys: frozenset[str] = frozenset(), key: str | None = None
) -> dict[str, Any]:
    """Measure one row unless its batch key is in ``done_keys``; never raises for bad input.

    Runs in a worker process. ``key`` is the row's batch key when the caller already has it (the
    celery engine's client hashed the inputs to create the job); without it the inputs are hashed
    here, in the worker, in parallel with the other rows. A row whose key is already done comes
    back as ``{"status": "skipped", "batch_key": ...}`` without measuring.
    """
    from app.measure.pipeline import MeasureRequest, run_measurement
    from dicomio.errors import DicomIOError
    from recist.errors import RecistError
    from volumetrics.errors import VolumetricsError

    if key is None:
        key = batch_key(row)
    base: dict[str, Any] = {
        "row_id": row.row_id,
        "subject_id": row.subject_id,
        "timepoint": row.timepoint,
        "batch_key": key,
        "algorithm_version": ALGORITHM_VERSION,
    }
    if key is not None and key in done_keys:
        return {**base, "status": "skipped"}
    try:
        result = run_measurement(
            MeasureRequest(
                series=row.series,
                labels=row.labels,
                liver_label=row.liver_label,
                tumor_labels=row.tumor_labels,
                other_tumor_labels=row.other_tumor_labels,
            )
        )
    except (DicomIOError, VolumetricsError, RecistError) as exc:
        return {**base, "status": "failed", "error": " ".join(str(exc).split())}
    except MemoryError:
        return {**base, "status": "failed", "error": "out of memory measuring this row"}
    except Exception as exc:
        return {**base, "status": "failed", "error": f"internal error ({exc.__class__.__name__})"}
    return {**result, **base, "status": "succeeded"}


def row_to_request(row: BatchRow, key: str | None) -> dict[str, Any]:
    """Return a batch row as the JSON ``jobs.request`` of its job."""
    return {
        "row_id": row.row_id,
        "subject_id": row.subject_id,
        "timepoint": row.timepoint,
        "series": str(row.series),
        "labels": str(row.labels),
        "liver_label": row.liver_label,
        "tumor_labels": list(row.tumor_labels),
        "other_tumor_labels": [list(o) for o in row.other_tumor_labels],
        "batch_key": key,
    }


def row_from_request(request: dict[str, Any]) -> BatchRow:
    """Return the batch row stored in a job's ``request``."""
    return BatchRow(
        row_id=str(request["row_id"]),
        subject_id=str(request.get("subject_id") or ""),
        timepoint=str(request.get("timepoint") or ""),
        series=Path(request["series"]),
        labels=Path(request["labels"]),
        liver_label=request.get("liver_label"),
        tumor_labels=tuple(request.get("tumor_labels") or ()),
        other_tumor_labels=tuple(
            (str(label), organ) for label, organ in request.get("other_tumor_labels") or ()
        ),
    )
