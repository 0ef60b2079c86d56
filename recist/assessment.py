"""Assess one subject by RECIST 1.1 (or mRECIST): the engine behind ``liverburden recist assess``.

Two entry points: :func:`assess` takes and returns the contract's JSON documents
(``shared/contracts/recist-assess.md``); :func:`assess_subject` works on the typed records of
:mod:`recist.model`. Both validate the input first and raise :class:`RecistInputError` with a
message naming the lesion, timepoint or field at fault.

References
----------
.. [1] Eisenhauer EA, et al. New response evaluation criteria in solid tumours: revised RECIST
   guideline (version 1.1). Eur J Cancer 2009;45:228-247.
.. [2] Lencioni R, Llovet JM. Modified RECIST (mRECIST) assessment for hepatocellular carcinoma.
   Semin Liver Dis 2010;30:52-60.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from recist._engine import run_assessment
from recist._json import parse_input, to_json_dict
from recist._validate import check_lesions, check_readings, validate_input
from recist.model import Assessment, AssessmentInput

__all__ = ["assess", "assess_subject", "check_record"]


def assess_subject(data: AssessmentInput) -> Assessment:
    """Validate and assess one subject's lesions over its timepoints.

    Parameters
    ----------
    data
        Lesions chosen at baseline, timepoints in date order (baseline first) and options.

    Returns
    -------
    Assessment
        Per-timepoint sums and responses (all lesions and liver only), best overall response and
        the hepatic progression endpoint.

    Raises
    ------
    RecistInputError
        If the input breaks a RECIST 1.1 baseline rule or is inconsistent.

    References
    ----------
    .. [1] RECIST 1.1 sections 3 and 4.2 (baseline), 4.3-4.4.1 (time point response),
       4.4.3 and 4.6 (best overall response).
    """
    validate_input(data)
    return run_assessment(data)


def assess(data: Mapping[str, Any]) -> dict[str, Any]:
    """Assess one subject given as the contract's input JSON; return the output JSON.

    Parameters
    ----------
    data
        Decoded input document (``json.load``).

    Returns
    -------
    dict
        The output document: millimetres as floats, responses as strings, ISO dates.

    Raises
    ------
    RecistInputError
        If the document is malformed or breaks a RECIST 1.1 rule; the message names the lesion,
        timepoint or field.
    """
    return to_json_dict(assess_subject(parse_input(data)))


def check_record(
    lesions: Sequence[Mapping[str, Any]],
    measurements: Sequence[Mapping[str, Any]] = (),
    *,
    options: Mapping[str, Any] | None = None,
) -> None:
    """Check a lesion table, and one timepoint's readings, by the assessment's own rules.

    For the moment a reader records them, so that a table the engine would refuse later (more
    than 5 targets or 2 per organ, an unknown status, a size and a status together) is refused
    at once. Rules that need the whole timeline (the baseline's completeness, dates in order)
    are left to :func:`assess`.

    Raises
    ------
    RecistInputError
        Naming the lesion and the rule, as :func:`assess` would.
    """
    doc = {
        "subject_id": "record",
        "lesions": list(lesions),
        "timepoints": [{"date": "2000-01-01", "measurements": list(measurements)}],
        "options": dict(options or {}),
    }
    data = parse_input(doc)
    check_lesions(data.lesions)
    check_readings(
        data.timepoints[0], {x.lesion_id: x for x in data.lesions}, data.options.criteria
    )
