"""The hepatic progression-free interval from an assessment: event, censoring, day counts.

Cases written by hand against recist.endpoint's conventions (FDA 2018 PFS censoring; ADaM's
AVAL = ADT - STARTDT + 1), with the assessment made by the real RECIST engine.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from recist.assessment import assess
from recist.endpoint import hepatic_pfs
from recist.errors import RecistInputError

D = dt.date


def _assessment(readings: list[tuple[str, float | None]]) -> dict[str, Any]:
    """One liver target T1 read at each (date, diameter); ``None`` is not evaluated."""
    timepoints = []
    for n, (date, diameter) in enumerate(readings):
        reading: dict[str, Any] = {"lesion_id": "T1"}
        if diameter is None:
            reading["status"] = "not_evaluated"
        else:
            reading["diameter_mm"] = diameter
        timepoints.append({"date": date, "baseline": n == 0, "measurements": [reading]})
    doc = {
        "subject_id": "S-1",
        "lesions": [{"lesion_id": "T1", "organ": "liver", "lymph_node": False, "role": "target"}],
        "timepoints": timepoints,
    }
    return assess(doc)


def test_first_hepatic_progression_is_the_event_counted_from_randomization() -> None:
    out = _assessment([("2020-01-05", 30.0), ("2020-03-01", 20.0), ("2020-05-01", 36.0)])
    h = hepatic_pfs(randomization_date=D(2020, 1, 10), baseline_date=D(2020, 1, 5), assessment=out)
    assert (h.event, h.date, h.start, h.censor_reason) == (
        True,
        D(2020, 5, 1),
        "randomization",
        None,
    )
    assert h.days == 21 + 29 + 31 + 30 + 1 + 1  # 10 Jan -> 1 May 2020 (leap year), start = day 1


def test_without_progression_censored_at_the_last_adequate_assessment() -> None:
    """A not-evaluable follow-up (NE) is not adequate: the censoring date is the SD visit."""
    out = _assessment([("2020-02-01", 30.0), ("2020-04-01", 29.0), ("2020-06-01", None)])
    assert out["timepoints"][2]["hepatic_response"] == "NE"
    h = hepatic_pfs(randomization_date=None, baseline_date=D(2020, 2, 1), assessment=out)
    assert (h.event, h.date, h.start) == (False, D(2020, 4, 1), "baseline")
    assert h.days == 29 + 31 + 1
    assert h.censor_reason is not None and "last adequate assessment" in h.censor_reason
    assert h.as_dict()["censor_reason"] == h.censor_reason


def test_no_follow_up_or_no_baseline_assessment_censors_at_the_start() -> None:
    only_baseline = _assessment([("2020-03-01", 30.0)])
    h = hepatic_pfs(randomization_date=None, baseline_date=D(2020, 3, 1), assessment=only_baseline)
    assert (h.event, h.date, h.days) == (False, D(2020, 3, 1), 1)
    assert h.censor_reason == "no adequate assessment after the baseline"
    h = hepatic_pfs(randomization_date=D(2020, 3, 5), baseline_date=D(2020, 3, 1), assessment=None)
    assert (h.event, h.date, h.days, h.censor_reason) == (
        False,
        D(2020, 3, 5),
        1,
        "no baseline tumour assessment",
    )


def test_follow_ups_before_randomization_do_not_count() -> None:
    """A stable scan dated before the randomization is no assessment of the interval."""
    out = _assessment([("2020-01-05", 30.0), ("2020-02-01", 29.0)])
    h = hepatic_pfs(randomization_date=D(2020, 2, 15), baseline_date=D(2020, 1, 5), assessment=out)
    assert (h.event, h.date, h.days) == (False, D(2020, 2, 15), 1)


def test_a_progression_before_the_start_or_no_start_is_refused() -> None:
    out = _assessment([("2020-01-05", 30.0), ("2020-03-01", 40.0)])
    with pytest.raises(RecistInputError, match=r"2020-03-01.*before the start.*2020-04-01"):
        hepatic_pfs(randomization_date=D(2020, 4, 1), baseline_date=D(2020, 1, 5), assessment=out)
    with pytest.raises(RecistInputError, match="randomization date or a baseline"):
        hepatic_pfs(randomization_date=None, baseline_date=None, assessment=None)
