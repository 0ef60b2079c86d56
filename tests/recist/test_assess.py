"""End-to-end tests of :func:`recist.assess` on the contract's JSON (contracts/recist-assess.md)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from recist import (
    AssessmentInput,
    Lesion,
    LesionRole,
    Measurement,
    ResponseCategory,
    Timepoint,
    assess,
    assess_subject,
)
from recist.errors import RecistInputError

START = dt.date(2020, 1, 1)

CONTRACT_INPUT = """
{
  "subject_id": "S-001",
  "reference_date": "2020-01-01",
  "options": {"confirmation_required": false, "confirmation_min_days": 28,
              "sd_min_days": 42, "continued_pr": true},
  "lesions": [
    {"lesion_id": "T1", "organ": "liver", "lymph_node": false, "role": "target"},
    {"lesion_id": "N1", "organ": "lymph node", "lymph_node": true, "role": "target"},
    {"lesion_id": "NT1", "organ": "liver", "lymph_node": false, "role": "non_target"}
  ],
  "timepoints": [
    {"date": "2020-01-01", "baseline": true,
     "measurements": [{"lesion_id": "T1", "diameter_mm": 21.0},
                      {"lesion_id": "N1", "diameter_mm": 17.0},
                      {"lesion_id": "NT1", "status": "present"}],
     "new_lesions": []},
    {"date": "2020-03-01",
     "measurements": [{"lesion_id": "T1", "status": "too_small"},
                      {"lesion_id": "N1", "diameter_mm": 8.0},
                      {"lesion_id": "NT1", "status": "absent"}],
     "new_lesions": [{"organ": "liver", "equivocal": false}]}
  ]
}
"""
CONTRACT_OUTPUT = """
{
  "subject_id": "S-001",
  "timepoints": [
    {"date": "2020-01-01", "baseline": true, "sum_mm": 38.0, "nadir_mm": null,
     "target_response": null, "non_target_response": null, "new_lesions": false,
     "overall_response": null, "hepatic_response": null},
    {"date": "2020-03-01", "baseline": false, "sum_mm": 13.0, "nadir_mm": 38.0,
     "target_response": "PR", "non_target_response": "CR", "new_lesions": true,
     "overall_response": "PD", "hepatic_response": "PD"}
  ],
  "best_overall_response": "PD",
  "hepatic_progression": {"progressed": true, "date": "2020-03-01"}
}
"""


def _contract_keys(expected: Any, actual: Any) -> Any:
    """Restrict ``actual`` to the keys of ``expected`` (the contract allows added keys)."""
    if isinstance(expected, dict):
        return {key: _contract_keys(expected[key], actual[key]) for key in expected}
    if isinstance(expected, list):
        return [_contract_keys(e, a) for e, a in zip(expected, actual, strict=True)]
    return actual


def _lesion(
    lesion_id: str, organ: str = "liver", *, node: bool = False, role: str = "target"
) -> dict[str, Any]:
    return {"lesion_id": lesion_id, "organ": organ, "lymph_node": node, "role": role}


def _tp(
    day: int, readings: dict[str, Any], new: tuple[str, ...] = (), **extra: Any
) -> dict[str, Any]:
    """A timepoint ``day`` days after START; numbers are diameters, strings statuses.

    New lesions are organ names, with a trailing ``?`` for an equivocal one.
    """
    measurements: list[dict[str, Any]] = []
    for lesion_id, value in readings.items():
        if isinstance(value, dict):
            measurements.append({"lesion_id": lesion_id, **value})
        elif isinstance(value, list):
            measurements.append({"lesion_id": lesion_id, "fragments_mm": value})
        elif isinstance(value, str):
            measurements.append({"lesion_id": lesion_id, "status": value})
        else:
            measurements.append({"lesion_id": lesion_id, "diameter_mm": value})
    new_lesions = [{"organ": o.rstrip("?"), "equivocal": o.endswith("?")} for o in new]
    date = (START + dt.timedelta(days=day)).isoformat()
    return {"date": date, "baseline": day == 0, "measurements": measurements,
            "new_lesions": new_lesions, **extra}  # fmt: skip


def _subject(lesions: list[Any], timepoints: list[Any], **options: Any) -> dict[str, Any]:
    return {
        "subject_id": "S-TEST",
        "reference_date": START.isoformat(),
        "options": options,
        "lesions": lesions,
        "timepoints": timepoints,
    }


def _overall(result: dict[str, Any], key: str = "overall_response") -> list[Any]:
    return [tp[key] for tp in result["timepoints"][1:]]


def test_contract_example() -> None:
    """Contract recist-assess.md: the example input gives exactly the example output."""
    result = assess(json.loads(CONTRACT_INPUT))
    expected = json.loads(CONTRACT_OUTPUT)
    assert _contract_keys(expected, result) == expected


def test_output_is_plain_json() -> None:
    """Contract recist-assess.md: mm as floats, responses as strings, ISO dates, JSON-encodable."""
    result = assess(json.loads(CONTRACT_INPUT))
    assert json.loads(json.dumps(result)) == result
    follow_up = result["timepoints"][1]
    assert type(follow_up["sum_mm"]) is float
    assert type(follow_up["overall_response"]) is str
    assert follow_up["days_from_reference"] == 60
    assert result["criteria"] == "recist1.1"


def test_typed_api() -> None:
    """RECIST 1.1 §4.3.1: the typed API assesses dataclass input (PD: +10 mm, +26 % over nadir)."""
    data = AssessmentInput(
        subject_id="S-001",
        lesions=(
            Lesion("T1", "liver", False, LesionRole.TARGET),
            Lesion("N1", "lymph node", True, LesionRole.TARGET),
        ),
        timepoints=(
            Timepoint(START, True, (Measurement("T1", Decimal(21)),
                                    Measurement("N1", Decimal(17)))),
            Timepoint(START + dt.timedelta(days=60), False, (Measurement("T1", Decimal(30)),
                      Measurement("N1", Decimal(18)))),
        ),
    )  # fmt: skip
    assessment = assess_subject(data)
    assert assessment.timepoints[1].overall_response is ResponseCategory.PD
    assert assessment.timepoints[1].all_lesions.sum_mm == Decimal(48)
    assert assessment.best_overall_response is ResponseCategory.PD
    assert assessment.hepatic_progression.date == START + dt.timedelta(days=60)
    assert assessment.hepatic_best_overall_response is ResponseCategory.PD


@pytest.mark.parametrize(
    ("baseline", "follow_up", "expected"),
    [
        (21.0, 25.2, "SD"),
        (21.0, 26.0, "PD"),
        (25.0, 30.0, "PD"),
        (25.0, 29.9, "SD"),
        (33.7, 40.44, "PD"),
        (100.0, 105.0, "SD"),
        (25.2, 17.64, "PR"),
        (25.2, 17.65, "SD"),
    ],
    ids=[
        "+20%-only-4.2mm",
        "+5mm-and-+23.8%",
        "both-boundaries-exactly",
        "just-below-both",
        "binary-noise-pd",
        "+5mm-only-5%",
        "binary-noise-pr-exactly-30%",
        "29.96%",
    ],
)
def test_thresholds_are_decided_in_decimal(
    baseline: float, follow_up: float, expected: str
) -> None:
    """RECIST 1.1 §4.3.1: PD (>= 20 % and >= 5 mm) and PR (>= 30 %) decided exactly in decimal."""
    data = _subject([_lesion("T1")], [_tp(0, {"T1": baseline}), _tp(56, {"T1": follow_up})])
    assert _overall(assess(data), "target_response") == [expected]


def test_progression_is_measured_from_the_nadir() -> None:
    """RECIST 1.1 §4.3.1: PD is judged against the smallest prior sum, not the baseline."""
    data = _subject(
        [_lesion("T1"), _lesion("T2", "lung")],
        [
            _tp(0, {"T1": 30, "T2": 20}),
            _tp(56, {"T1": 10, "T2": 10}),
            _tp(112, {"T1": 12, "T2": 10}),
            _tp(168, {"T1": 15, "T2": 10}),
        ],
    )
    result = assess(data)
    assert [tp["nadir_mm"] for tp in result["timepoints"]] == [None, 50.0, 20.0, 20.0]
    assert _overall(result, "target_response") == ["PR", "PR", "PD"]


def test_nadir_skips_incomplete_sums() -> None:
    """RECIST 1.1 §4.3.1, §4.4.2: a sum with a target not evaluated is unknown and not a nadir."""
    data = _subject(
        [_lesion("T1"), _lesion("T2", "lung")],
        [_tp(0, {"T1": 30, "T2": 20}), _tp(56, {"T1": 10, "T2": "not_evaluated"}),
         _tp(112, {"T1": 30, "T2": 20})],
    )  # fmt: skip
    result = assess(data)
    follow_up = result["timepoints"][1]
    assert (follow_up["sum_mm"], follow_up["evaluated_sum_mm"]) == (None, 10.0)
    assert result["timepoints"][2]["nadir_mm"] == 50.0
    assert _overall(result) == ["NE", "SD"]
    assert "target lesions not evaluated: T2" in follow_up["notes"]


@pytest.mark.parametrize(
    ("readings", "expected"),
    [
        ({"T1": 40, "T2": "not_evaluated", "NT1": "present"}, "PD"),
        ({"T1": 34, "T2": "not_evaluated", "NT1": "present"}, "NE"),
        ({"T1": 5, "T2": "not_evaluated", "NT1": "unequivocal_progression"}, "PD"),
        ({"T1": 5, "NT1": "present"}, "NE"),
        ({"T1": 0, "T2": 0, "NT1": "not_evaluated"}, "PR"),
        ({"T1": 20, "T2": 12}, "SD"),
    ],
    ids=[
        "pd-from-evaluated-targets",
        "ne-not-enough-for-pd",
        "pd-from-non-target",
        "missing-reading-is-ne",
        "cr-targets-with-ne-non-target-is-pr",
        "missing-non-target-reading-ignored-by-table-1",
    ],
)
def test_not_evaluated_lesions(readings: dict[str, Any], expected: str) -> None:
    """RECIST 1.1 §4.4.2: a lesion not evaluated makes its component NE unless PD is established."""
    data = _subject(
        [_lesion("T1"), _lesion("T2", "lung"), _lesion("NT1", "bone", role="non_target")],
        [_tp(0, {"T1": 20, "T2": 10, "NT1": "present"}), _tp(56, readings)],
    )
    assert _overall(assess(data)) == [expected]


@pytest.mark.parametrize(
    ("third", "expected"),
    [
        ({"T1": "too_small", "N1": 5, "NT1": "absent"}, ["CR", "PD"]),
        ({"T1": 0, "N1": 10, "NT1": "absent"}, ["CR", "PD"]),
        ({"T1": 0, "N1": 9.9, "NT1": "absent"}, ["CR", "CR"]),
        ({"T1": 0, "N1": 5, "NT1": "present"}, ["CR", "PD"]),
        ({"T1": 0, "N1": 5, "NT1": "not_evaluated"}, ["CR", "PR"]),
    ],
    ids=[
        "target-back-too-small",
        "node-back-to-10mm",
        "node-9.9mm-still-normal",
        "non-target-back",
        "non-target-ne-is-pr",
    ],
)
def test_reappearance_after_complete_response(third: dict[str, Any], expected: list[str]) -> None:
    """RECIST 1.1 §4.4.3 Table 3 note: after a CR, any reappearing disease is PD."""
    lesions = [_lesion("T1"), _lesion("N1", "lymph node", node=True),
               _lesion("NT1", "bone", role="non_target")]  # fmt: skip
    data = _subject(
        lesions,
        [_tp(0, {"T1": 30, "N1": 20, "NT1": "present"}),
         _tp(56, {"T1": "absent", "N1": 8, "NT1": "absent"}), _tp(112, third)],
    )  # fmt: skip
    assert _overall(assess(data)) == expected


def test_reappearance_after_partial_response_uses_the_sum() -> None:
    """RECIST 1.1 §4.3.1 special notes: a lesion back while in PR is added to the sum."""
    data = _subject(
        [_lesion("T1"), _lesion("T2", "lung")],
        [_tp(0, {"T1": 30, "T2": 30}), _tp(56, {"T1": 0, "T2": 20}), _tp(112, {"T1": 3, "T2": 20})],
    )
    assert _overall(assess(data)) == ["PR", "PR"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"continued_pr": True}, ["PR", "PR", "PR"]),
        ({"continued_pr": False}, ["PR", "SD", "SD"]),
        ({"continued_pr": True, "confirmation_required": True}, ["PR", "SD", "SD"]),
    ],
    ids=["continued", "switched-off", "unconfirmed-pr-does-not-continue"],
)
def test_continued_partial_response(options: dict[str, Any], expected: list[str]) -> None:
    """EORTC RECIST FAQ: once PR is reached (and confirmed if required), SD stays PR until PD."""
    data = _subject(
        [_lesion("T1")],
        [_tp(0, {"T1": 50}), _tp(56, {"T1": 30}), _tp(112, {"T1": 35.5}), _tp(168, {"T1": 35.9})],
        **options,
    )
    result = assess(data)
    assert _overall(result) == expected
    assert _overall(result, "target_response") == ["PR", "SD", "SD"]


def test_continued_partial_response_after_confirmation() -> None:
    """EORTC RECIST FAQ, RECIST 1.1 §4.6.1: a confirmed PR continues; PD still ends it."""
    data = _subject(
        [_lesion("T1")],
        [_tp(0, {"T1": 50}), _tp(56, {"T1": 30}), _tp(84, {"T1": 30}),
         _tp(140, {"T1": 35.5}), _tp(196, {"T1": 36})],
        confirmation_required=True,
    )  # fmt: skip
    result = assess(data)
    assert _overall(result) == ["PR", "PR", "PR", "PD"]
    assert any("continued PR" in note for note in result["timepoints"][3]["notes"])
    assert result["best_overall_response"] == "PR"


def test_continued_partial_response_ends_at_progression() -> None:
    """EORTC RECIST FAQ: continued PR lasts until PD; after a PD an SD sum is SD again."""
    data = _subject(
        [_lesion("T1", "lung")],
        [_tp(0, {"T1": 50}), _tp(56, {"T1": 30}), _tp(112, {"T1": 30}, new=("bone",)),
         _tp(168, {"T1": 35.5})],
    )  # fmt: skip
    assert _overall(assess(data)) == ["PR", "PD", "SD"]


def test_new_lesion_does_not_hide_reappearance_after_complete_response() -> None:
    """RECIST 1.1 §4.4.3 Table 3 note: CR of all lesions, then a lesion back is PD (new or not)."""
    data = _subject(
        [_lesion("T1"), _lesion("T2", "lung")],
        [_tp(0, {"T1": 40, "T2": 40}), _tp(56, {"T1": 0, "T2": 0}, new=("bone",)),
         _tp(112, {"T1": 3, "T2": 0})],
    )  # fmt: skip
    result = assess(data)
    assert _overall(result, "target_response") == ["CR", "PD"]
    assert _overall(result) == ["PD", "PD"]


@pytest.mark.parametrize(
    ("new", "expected", "hepatic_date"),
    [
        ([(), ("liver?",), ("liver",)], ["SD", "PD", "PD"], "2020-02-26"),
        ([(), ("liver?",), ()], ["SD", "SD", "SD"], None),
        ([(), ("liver?",), ("lung",)], ["SD", "SD", "PD"], None),
        ([("liver?",), ("liver?",), ("Liver",)], ["PD", "PD", "PD"], "2020-01-29"),
        ([("liver?",), (), ("liver",)], ["SD", "SD", "PD"], "2020-03-25"),
    ],
    ids=["confirmed-next-scan", "never-confirmed", "other-organ", "run-of-two", "interrupted"],
)
def test_equivocal_new_lesion_is_dated_back(
    new: list[tuple[str, ...]], expected: list[str], hepatic_date: str | None
) -> None:
    """RECIST 1.1 §4.3.4: a confirmed equivocal new lesion is PD from the scan that first saw it."""
    timepoints = [_tp(0, {"T1": 20})]
    timepoints += [_tp(28 * (i + 1), {"T1": 20}, new=n) for i, n in enumerate(new)]
    result = assess(_subject([_lesion("T1")], timepoints, sd_min_days=0))
    assert _overall(result) == expected
    assert result["hepatic_progression"]["date"] == hepatic_date


def test_hepatic_response_uses_liver_lesions_only() -> None:
    """Trial endpoint: RECIST 1.1 rules on liver lesions and new liver lesions only."""
    data = _subject(
        [_lesion("L1", "Liver"), _lesion("P1", "lung"), _lesion("NT1", "liver", role="non_target")],
        [
            _tp(0, {"L1": 20, "P1": 80, "NT1": "present"}),
            _tp(56, {"L1": 26, "P1": 40, "NT1": "present"}, new=("lung",)),
            _tp(112, {"L1": 30, "P1": 48, "NT1": "present"}),
        ],
    )
    result = assess(data)
    assert _overall(result) == ["PD", "SD"]
    assert _overall(result, "hepatic_response") == ["PD", "PD"]
    hepatic = [tp["hepatic"] for tp in result["timepoints"]]
    assert [h["sum_mm"] for h in hepatic] == [20.0, 26.0, 30.0]
    assert [tp["sum_mm"] for tp in result["timepoints"]] == [100.0, 66.0, 78.0]
    assert [h["new_lesions"] for h in hepatic] == [False, False, False]
    assert result["hepatic_progression"] == {"progressed": True, "date": "2020-02-26"}


def test_hepatic_response_without_liver_lesions() -> None:
    """Trial endpoint: without baseline liver lesions only a new liver lesion is hepatic PD."""
    data = _subject(
        [_lesion("P1", "lung")],
        [_tp(0, {"P1": 30}), _tp(56, {"P1": 30}), _tp(112, {"P1": 30}, new=("liver",))],
    )
    result = assess(data)
    assert _overall(result, "hepatic_response") == [None, "PD"]
    assert result["hepatic_progression"] == {"progressed": True, "date": "2020-04-22"}
    assert result["hepatic_best_overall_response"] == "PD"
    assert result["best_overall_response"] == "SD"


def test_no_hepatic_progression() -> None:
    """Trial endpoint: hepatic_progression is false with a null date when never hepatic PD."""
    data = _subject([_lesion("T1")], [_tp(0, {"T1": 30}), _tp(56, {"T1": 20})])
    assert assess(data)["hepatic_progression"] == {"progressed": False, "date": None}


def test_non_target_only_subject_uses_table_2() -> None:
    """RECIST 1.1 §4.4.1 Table 2: no targets gives null target response and NON_CR_NON_PD."""
    data = _subject(
        [_lesion("NT1", role="non_target"), _lesion("NN1", "lymph node", node=True,
                                                        role="non_target")],
        [_tp(0, {"NT1": "present", "NN1": 12}), _tp(56, {"NT1": "present", "NN1": 9}),
         _tp(112, {"NT1": "absent", "NN1": 9.9})],
    )  # fmt: skip
    result = assess(data)
    assert [tp["sum_mm"] for tp in result["timepoints"]] == [None, None, None]
    assert _overall(result, "target_response") == [None, None]
    assert _overall(result) == ["NON_CR_NON_PD", "CR"]
    assert result["best_overall_response"] == "CR"


def test_split_lesion_fragments_are_added() -> None:
    """RECIST 1.1 §4.3.1 special notes: the diameters of a split lesion's fragments are added."""
    data = _subject([_lesion("T1")], [_tp(0, {"T1": 30}), _tp(56, {"T1": [9, 8.5]})])
    result = assess(data)
    assert result["timepoints"][1]["sum_mm"] == 17.5
    assert _overall(result) == ["PR"]


def test_reference_date_defaults_to_baseline() -> None:
    """RECIST 1.1 §4.4.3: SD duration counts from the reference date (baseline by default)."""
    data = _subject([_lesion("T1")], [_tp(10, {"T1": 30}), _tp(51, {"T1": 30})])
    data["timepoints"][0]["baseline"] = True
    assert assess(data)["best_overall_response"] == "SD"
    del data["reference_date"]
    assert assess(data)["best_overall_response"] == "NE"


@pytest.mark.parametrize(
    ("follow_up", "expected"),
    [
        ({"diameter_mm": 40, "viable_diameter_mm": 14}, "PR"),
        ({"diameter_mm": 40, "viable_diameter_mm": 0}, "CR"),
        ({"diameter_mm": 20, "viable_diameter_mm": 25}, "PD"),
        ({"viable_diameter_mm": 20}, "SD"),
    ],
    ids=["viable-shrinks-30%", "no-enhancement", "viable-grows", "viable-only"],
)
def test_mrecist_uses_viable_diameters(follow_up: dict[str, Any], expected: str) -> None:
    """mRECIST (Lencioni & Llovet 2010): the sum uses viable (enhancing) tumour diameters."""
    data = _subject(
        [_lesion("T1")],
        [_tp(0, {"T1": {"diameter_mm": 40, "viable_diameter_mm": 20}}), _tp(56, {"T1": follow_up})],
        criteria="mrecist",
    )
    result = assess(data)
    assert result["timepoints"][0]["sum_mm"] == 20.0
    assert _overall(result) == [expected]
    assert result["criteria"] == "mrecist"


def test_mrecist_refuses_too_small() -> None:
    """mRECIST (Lencioni & Llovet 2010): no 5 mm too-small default; the timepoint is named."""
    data = _subject(
        [_lesion("T1")],
        [_tp(0, {"T1": {"viable_diameter_mm": 20}}), _tp(56, {"T1": "too_small"})],
        criteria="mrecist",
    )
    with pytest.raises(RecistInputError, match=r"timepoint 2020-02-26, lesion 'T1': .*mRECIST"):
        assess(data)


def test_best_overall_response_with_confirmation() -> None:
    """RECIST 1.1 §4.4.3 Table 3: an unconfirmed PR then PD is SD when SD lasted long enough."""
    timepoints = [_tp(0, {"T1": 50}), _tp(56, {"T1": 30}), _tp(84, {"T1": 40})]
    assert assess(_subject([_lesion("T1")], timepoints))["best_overall_response"] == "PR"
    confirmed = assess(_subject([_lesion("T1")], timepoints, confirmation_required=True))
    assert confirmed["best_overall_response"] == "SD"
