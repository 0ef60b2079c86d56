"""Tests of input validation: RECIST 1.1 baseline rules and contract bookkeeping (§3.1, §4.2)."""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest

from recist import Lesion, LesionRole, assess
from recist.errors import RecistError, RecistInputError

START = dt.date(2020, 1, 1)


def _lesion(
    lesion_id: str, organ: str = "liver", *, node: bool = False, role: str = "target"
) -> dict[str, Any]:
    return {"lesion_id": lesion_id, "organ": organ, "lymph_node": node, "role": role}


def _reading(lesion_id: str, value: Any) -> dict[str, Any]:
    key = "status" if isinstance(value, str) else "diameter_mm"
    return {"lesion_id": lesion_id, key: value}


def _valid() -> dict[str, Any]:
    """A valid subject: two liver targets, one node target, one non-target node, one follow-up."""
    lesions = [
        _lesion("T1"),
        _lesion("T2"),
        _lesion("N1", "lymph node", node=True),
        _lesion("NN1", "lymph node", node=True, role="non_target"),
    ]
    baseline = {"T1": 21.0, "T2": 15.0, "N1": 17.0, "NN1": 12.0}
    follow_up = {"T1": 20.0, "T2": 15.0, "N1": 16.0, "NN1": "present"}
    return {
        "subject_id": "S-TEST",
        "lesions": lesions,
        "timepoints": [
            {"date": "2020-01-01", "baseline": True,
             "measurements": [_reading(k, v) for k, v in baseline.items()]},
            {"date": "2020-03-01",
             "measurements": [_reading(k, v) for k, v in follow_up.items()], "new_lesions": []},
        ],
    }  # fmt: skip


Mutation = Callable[[dict[str, Any]], None]


def _add_targets(*lesions: tuple[str, str, bool, float]) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        for lesion_id, organ, node, size in lesions:
            data["lesions"].append(_lesion(lesion_id, organ, node=node))
            data["timepoints"][0]["measurements"].append(_reading(lesion_id, size))

    return mutate


def _set(path: tuple[Any, ...], value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _baseline_reading(lesion_id: str, **fields: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        for reading in data["timepoints"][0]["measurements"]:
            if reading["lesion_id"] == lesion_id:
                reading.clear()
                reading.update(lesion_id=lesion_id, **fields)

    return mutate


def _follow_up_reading(lesion_id: str, **fields: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data["timepoints"][1]["measurements"].append({"lesion_id": lesion_id, **fields})
        data["timepoints"][1]["measurements"] = [
            r for r in data["timepoints"][1]["measurements"]
            if r["lesion_id"] != lesion_id or r.keys() - {"lesion_id"} == fields.keys()
        ]  # fmt: skip

    return mutate


def _drop_baseline_reading(lesion_id: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        readings = data["timepoints"][0]["measurements"]
        data["timepoints"][0]["measurements"] = [r for r in readings if r["lesion_id"] != lesion_id]

    return mutate


def _apply(*mutations: Mutation) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(data)

    return mutate


CASES: list[tuple[str, Mutation, str]] = [
    (
        "six-targets",
        _add_targets(
            ("T4", "lung", False, 20), ("T5", "lung", False, 20), ("T6", "bone", False, 20)
        ),
        "lesion 'T6': more than 5 target lesions at baseline (got 6); RECIST 1.1 allows at most 5",
    ),
    (
        "three-liver-targets",
        _add_targets(("T3", "liver", False, 20)),
        "lesion 'T3': more than 2 target lesions in organ 'liver' (got 3); RECIST 1.1 allows "
        "at most 2 per organ (all lymph nodes count as one organ)",
    ),
    (
        "organ-names-compared-case-insensitively",
        _add_targets(("T3", " LIVER ", False, 20)),
        "lesion 'T3': more than 2 target lesions in organ ' LIVER ' (got 3)",
    ),
    (
        "all-nodes-one-organ",
        _add_targets(("N2", "axilla", True, 20), ("N3", "groin", True, 20)),
        "lesion 'N3': more than 2 target lesions in organ lymph nodes (got 3)",
    ),
    (
        "target-9.99mm",
        _baseline_reading("T2", diameter_mm=9.99),
        "lesion 'T2': target lesion 9.99 mm at baseline is not measurable; "
        "RECIST 1.1 requires long axis >= 10 mm",
    ),
    (
        "target-15mm-on-8mm-slices",
        _set(("timepoints", 0, "slice_thickness_mm"), 8),
        "lesion 'T2': target lesion 15.0 mm at baseline is not measurable; RECIST 1.1 requires "
        "long axis >= 10 mm and >= 2 x slice thickness (8 mm)",
    ),
    (
        "target-node-14.9mm",
        _baseline_reading("N1", diameter_mm=14.9),
        "lesion 'N1': target lymph node short axis 14.9 mm at baseline is not measurable; "
        "RECIST 1.1 requires >= 15 mm",
    ),
    (
        "non-target-node-9.9mm",
        _baseline_reading("NN1", diameter_mm=9.9),
        "lesion 'NN1': non-target lymph node short axis 9.9 mm at baseline; a node < 10 mm is "
        "normal and is not recorded",
    ),
    (
        "target-too-small-at-baseline",
        _baseline_reading("T1", status="too_small"),
        "lesion 'T1': target lesion not measured at baseline (status 'too_small')",
    ),
    (
        "non-target-absent-at-baseline",
        _baseline_reading("NN1", status="absent"),
        "lesion 'NN1': non-target status 'absent' at baseline; expected 'present'",
    ),
    (
        "lesion-missing-at-baseline",
        _drop_baseline_reading("T2"),
        "lesion 'T2': no reading at baseline (2020-01-01)",
    ),
    (
        "unknown-lesion",
        _follow_up_reading("T9", diameter_mm=10),
        "timepoint 2020-03-01, lesion 'T9': unknown lesion; declare it in 'lesions'",
    ),
    (
        "measured-twice",
        lambda data: data["timepoints"][1]["measurements"].append(_reading("T1", 3)),
        "timepoint 2020-03-01, lesion 'T1': measured twice at the same timepoint",
    ),
    (
        "duplicate-lesion-id",
        _add_targets(("T1", "lung", False, 20)),
        "lesion 'T1': lesion_id given twice",
    ),
    (
        "baseline-missing",
        _set(("timepoints", 0, "baseline"), False),
        "timepoints: baseline missing",
    ),
    (
        "baseline-not-first",
        _apply(
            _set(("timepoints", 0, "baseline"), False), _set(("timepoints", 1, "baseline"), True)
        ),
        "timepoint 2020-03-01: baseline must be the first timepoint (found after 2020-01-01)",
    ),
    (
        "two-baselines",
        _set(("timepoints", 1, "baseline"), True),
        "timepoint 2020-03-01: a second baseline",
    ),
    (
        "dates-out-of-order",
        _set(("timepoints", 1, "date"), "2019-12-31"),
        "timepoint 2019-12-31: dates out of order; expected a date after 2020-01-01",
    ),
    (
        "same-date-twice",
        _set(("timepoints", 1, "date"), "2020-01-01"),
        "timepoint 2020-01-01: dates out of order",
    ),
    (
        "new-lesion-at-baseline",
        _set(("timepoints", 0, "new_lesions"), [{"organ": "lung", "equivocal": False}]),
        "timepoint 2020-01-01: new lesions at baseline",
    ),
    (
        "target-status-present",
        _follow_up_reading("T1", status="present"),
        "lesion 'T1': status 'present' is not valid for a target lesion",
    ),
    (
        "non-target-status-too-small",
        _follow_up_reading("NN1", status="too_small"),
        "lesion 'NN1': status 'too_small' is not valid for a non-target lesion",
    ),
    (
        "size-and-status",
        _follow_up_reading("T1", status="absent", diameter_mm=3),
        "timepoint 2020-03-01, lesion 'T1': give either a size or status 'absent', not both",
    ),
    (
        "diameter-and-fragments",
        _follow_up_reading("T1", diameter_mm=3, fragments_mm=[1, 2]),
        "lesion 'T1': give either diameter_mm or fragments_mm, not both",
    ),
    (
        "empty-fragments",
        _follow_up_reading("T1", fragments_mm=[]),
        "lesion 'T1': fragments_mm: expected a non-empty list",
    ),
    (
        "no-size-no-status",
        _follow_up_reading("T1", diameter=3),
        "timepoint 2020-03-01, lesion 'T1': no size given",
    ),
    (
        "negative-diameter",
        _follow_up_reading("T1", diameter_mm=-3),
        "lesion 'T1': diameter_mm: expected a length >= 0 mm, got -3",
    ),
    (
        "diameter-as-string",
        _follow_up_reading("T1", diameter_mm="21"),
        "lesion 'T1': diameter_mm: expected a number, got a string",
    ),
    (
        "diameter-nan",
        _follow_up_reading("T1", diameter_mm=float("nan")),
        "lesion 'T1': diameter_mm: expected a finite number",
    ),
    (
        "viable-diameter-under-recist",
        _follow_up_reading("T1", viable_diameter_mm=3),
        "lesion 'T1': viable_diameter_mm is only used under mRECIST",
    ),
    (
        "non-target-absent-but-12mm",
        _follow_up_reading("NN1", status="absent", diameter_mm=12),
        "lesion 'NN1': status 'absent' contradicts diameter_mm 12",
    ),
    (
        "unknown-option",
        _set(("options",), {"confirmation_requried": True}),
        "options: unknown option 'confirmation_requried'",
    ),
    (
        "option-wrong-type",
        _set(("options",), {"sd_min_days": "42"}),
        "options.sd_min_days: expected a whole number of days >= 0",
    ),
    (
        "negative-days",
        _set(("options",), {"confirmation_min_days": -1}),
        "options.confirmation_min_days: expected a whole number of days >= 0",
    ),
    (
        "unknown-criteria",
        _set(("options",), {"criteria": "recist1.0"}),
        "options.criteria: 'recist1.0' unknown",
    ),
    (
        "bad-date",
        _set(("timepoints", 1, "date"), "01/03/2020"),
        "timepoints[1].date: expected an ISO date YYYY-MM-DD, got '01/03/2020'",
    ),
    ("bad-reference-date", _set(("reference_date",), "2020-13-01"), "reference_date: expected"),
    ("missing-subject", _set(("subject_id",), ""), "subject_id: expected a non-empty string"),
    ("lesions-not-a-list", _set(("lesions",), {}), "lesions: expected a JSON array, got an object"),
    (
        "no-lesions",
        _apply(
            _set(("lesions",), []),
            _set(("timepoints", 0, "measurements"), []),
            _set(("timepoints", 1, "measurements"), []),
        ),
        "lesions: no lesion given",
    ),
    (
        "bad-role",
        _set(("lesions", 0, "role"), "index"),
        "lesion 'T1'.role: 'index' unknown; expected one of ['target', 'non_target']",
    ),
    (
        "lymph-node-flag-missing",
        lambda data: data["lesions"][0].pop("lymph_node"),
        "lesion 'T1': missing required key 'lymph_node'",
    ),
    (
        "equivocal-not-bool",
        _set(("timepoints", 1, "new_lesions"), [{"organ": "lung", "equivocal": "no"}]),
        "timepoint 2020-03-01: new lesion equivocal: expected true or false",
    ),
]


def test_valid_input_is_accepted() -> None:
    """RECIST 1.1 §4.2: the unmodified subject is valid, so each case below fails for its reason."""
    assert assess(_valid())["timepoints"][1]["overall_response"] == "SD"


@pytest.mark.parametrize(("mutation", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_input_is_refused_with_a_clear_message(mutation: Mutation, message: str) -> None:
    """RECIST 1.1 §3.1, §4.2 and the contract: invalid input is refused naming what is wrong."""
    data = copy.deepcopy(_valid())
    mutation(data)
    with pytest.raises(RecistInputError, match=re.escape(message)):
        assess(data)


@pytest.mark.parametrize(
    "mutation",
    [
        _baseline_reading("NN1", diameter_mm=16),
        _baseline_reading("NN1", diameter_mm=10),
        _baseline_reading("T2", diameter_mm=12, slice_thickness_mm=6),
        _apply(
            _set(("timepoints", 0, "slice_thickness_mm"), 6),
            _baseline_reading("T2", diameter_mm=12),
        ),
        _baseline_reading("T2", diameter_mm=10, slice_thickness_mm=5),
        _add_targets(("T3", "lung", False, 10)),
    ],
    ids=[
        "non-target-node-16mm-excess-measurable",
        "non-target-node-10mm",
        "12mm-at-6mm-on-the-measurement",
        "12mm-at-6mm-on-the-timepoint",
        "10mm-at-5mm",
        "fifth-target-other-organ",
    ],
)
def test_boundary_inputs_are_accepted(mutation: Mutation) -> None:
    """RECIST 1.1 §3.1.1, §4.2: lesions exactly at the measurability limits are accepted."""
    data = copy.deepcopy(_valid())
    mutation(data)
    assert assess(data)["subject_id"] == "S-TEST"


@pytest.mark.parametrize("data", [[], "x", None], ids=["array", "string", "null"])
def test_input_must_be_an_object(data: Any) -> None:
    """Contract recist-assess.md: the input document is a JSON object."""
    with pytest.raises(RecistInputError, match="input: expected a JSON object"):
        assess(data)


def test_error_classes() -> None:
    """STYLE errors: input errors are RecistError and ValueError, raised fail-fast by records."""
    assert issubclass(RecistInputError, RecistError)
    assert issubclass(RecistInputError, ValueError)
    with pytest.raises(RecistInputError, match="lesion 'T1': role 'index' unknown"):
        Lesion("T1", "liver", False, "index")  # type: ignore[arg-type]
    assert Lesion("T1", "liver", False, "target").role is LesionRole.TARGET  # type: ignore[arg-type]
