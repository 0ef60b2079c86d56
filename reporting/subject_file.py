"""A subject described in one JSON file, for the command line and batch scripts.

The file is the RECIST assessment input of contracts/recist-assess.md, with optional extras that
the assessment ignores::

    {
      "subject_id": "S-001", "lesions": [...],           <- the assessment input
      "arm": "A",                                          <- optional: treatment arm
      "timepoints": [
        {"date": "2020-01-01", "baseline": true, "measurements": [...], "new_lesions": [],
         "visit": "BASELINE",                              <- optional: visit label
         "measurement": "baseline-measure.json",           <- optional: measure JSON (path
                                                              relative to this file, or inline)
         "lesion_uids": {"L1": "1.2.826..."}}              <- optional: stable lesion UIDs
      ]
    }

The assessment output is computed with :func:`recist.assess`. A file that already *is* an
assessment output (it has ``best_overall_response`` and no ``lesions``) is accepted as is; it
then has no per-lesion readings (SDTM TU/TR hold only sums and burden).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recist import RecistError, assess
from reporting._parse import as_date
from reporting.errors import ReportingInputError
from reporting.model import SubjectData, TimepointMeasurement

__all__ = ["load_subject_file", "subject_from_document"]

_EXTRA_TIMEPOINT_KEYS = ("visit", "measurement", "lesion_uids")
_EXTRA_TOP_KEYS = ("arm",)


def read_json(path: Path, what: str) -> Any:
    """Decode a JSON file; errors name the file (not its full path)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ReportingInputError(f"{what} {Path(path).name!r} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportingInputError(f"cannot read {what} {Path(path).name!r}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ReportingInputError(
            f"{what} {Path(path).name!r} is not valid JSON: {exc.msg} at line {exc.lineno}"
        ) from exc


def _measurement(value: object, base: Path, where: str) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str) and value:
        doc = read_json(base / value, "measurement file")
        if not isinstance(doc, Mapping):
            raise ReportingInputError(f"{where}: measurement file must hold a JSON object")
        return doc
    raise ReportingInputError(f"{where}.measurement: expected a file name or a JSON object")


def subject_from_document(doc: Mapping[str, Any], base: Path | None = None) -> SubjectData:
    """Return a :class:`SubjectData` from a decoded subject document (see the module docstring).

    ``base`` is the folder that relative measurement file names are resolved against.
    """
    if not isinstance(doc, Mapping):
        raise ReportingInputError("subject file: expected a JSON object")
    folder = Path(".") if base is None else base
    if "lesions" not in doc and "best_overall_response" in doc:
        return SubjectData(assessment=doc)
    raw_timepoints = doc.get("timepoints")
    if not isinstance(raw_timepoints, list):
        raise ReportingInputError("subject file: 'timepoints' must be a list")
    clean_timepoints = []
    measurements = []
    visits: dict[str, str] = {}
    for i, tp in enumerate(raw_timepoints):
        where = f"timepoints[{i}]"
        if not isinstance(tp, Mapping):
            raise ReportingInputError(f"{where}: expected an object")
        clean_timepoints.append({k: v for k, v in tp.items() if k not in _EXTRA_TIMEPOINT_KEYS})
        date = as_date(tp.get("date"), f"{where}.date")
        visit = str(tp.get("visit") or "")
        if visit:
            visits[date.isoformat()] = visit
        if tp.get("measurement") is not None:
            uids = tp.get("lesion_uids") or {}
            if not isinstance(uids, Mapping):
                raise ReportingInputError(f"{where}.lesion_uids: expected an object")
            measurements.append(
                TimepointMeasurement.from_json(
                    date,
                    _measurement(tp["measurement"], folder, where),
                    visit,
                    {str(k): str(v) for k, v in uids.items()},
                )
            )
    assessment_input = {
        **{k: v for k, v in doc.items() if k not in _EXTRA_TOP_KEYS},
        "timepoints": clean_timepoints,
    }
    try:
        assessment = assess(assessment_input)
    except RecistError as exc:
        raise ReportingInputError(f"invalid RECIST input: {exc}") from exc
    arm = doc.get("arm")
    return SubjectData(
        assessment=assessment,
        assessment_input=assessment_input,
        arm=None if arm is None else str(arm),
        timepoints=tuple(measurements),
        visits=visits,
    )


def load_subject_file(path: Path) -> SubjectData:
    """Read a subject file (see the module docstring); measurement paths are relative to it."""
    doc = read_json(path, "subject file")
    return subject_from_document(doc, Path(path).parent)
