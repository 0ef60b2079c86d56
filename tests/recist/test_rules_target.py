"""Tests of target-lesion sums, nadir and target response (RECIST 1.1 §4.2, §4.3.1)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from recist.errors import RecistInputError
from recist.model import Criteria, Lesion, LesionRole, Measurement, TargetStatus
from recist.rules import (
    is_complete_response,
    is_partial_response,
    is_progression,
    is_target_reappearance,
    nadir_mm,
    sum_of_diameters,
    target_response,
    target_value_mm,
)

D = Decimal
TUMOUR = Lesion("T1", "liver", False, LesionRole.TARGET)
NODE = Lesion("N1", "lymph node", True, LesionRole.TARGET)


@pytest.mark.parametrize(
    ("measurement", "expected"),
    [
        (Measurement("T1", diameter_mm=D("21.0")), D("21")),
        (Measurement("T1", status=TargetStatus.TOO_SMALL), D("5")),
        (Measurement("T1", status=TargetStatus.ABSENT), D("0")),
        (Measurement("T1", status=TargetStatus.NOT_EVALUATED), None),
        (None, None),
        (Measurement("T1", fragments_mm=(D(9), D(8))), D("17")),
        (Measurement("T1", fragments_mm=(D("0.1"), D("0.2"))), D("0.3")),
        (Measurement("T1", diameter_mm=D(30), viable_diameter_mm=D(12)), D("30")),
        (Measurement("T1", diameter_mm=0.1 + 0.2), D("0.30000000000000004")),  # type: ignore[arg-type]
    ],
    ids=[
        "diameter",
        "too-small-5mm",
        "absent-0mm",
        "not-evaluated",
        "missing-reading",
        "split-fragments-added",
        "fragments-exact-decimal",
        "recist-ignores-viable",
        "float-kept-as-written",
    ],
)
def test_target_value(measurement: Measurement | None, expected: Decimal | None) -> None:
    """RECIST 1.1 §4.3.1 special notes: too small = 5 mm, absent = 0, split fragments summed."""
    assert target_value_mm(TUMOUR, measurement) == expected


@pytest.mark.parametrize(
    ("measurement", "expected"),
    [
        (Measurement("T1", diameter_mm=D(30), viable_diameter_mm=D(12)), D("12")),
        (Measurement("T1", diameter_mm=D(30), viable_diameter_mm=D(0)), D("0")),
        (Measurement("T1", diameter_mm=D(30)), D("30")),
        (Measurement("T1", status=TargetStatus.ABSENT), D("0")),
    ],
    ids=["viable", "no-viable-tumour", "falls-back-to-diameter", "absent"],
)
def test_target_value_mrecist(measurement: Measurement, expected: Decimal) -> None:
    """mRECIST (Lencioni & Llovet 2010): the viable (enhancing) diameter is summed when given."""
    assert target_value_mm(TUMOUR, measurement, Criteria.MRECIST) == expected


def test_mrecist_has_no_too_small_default() -> None:
    """mRECIST (Lencioni & Llovet 2010): the RECIST 5 mm too-small default does not apply."""
    with pytest.raises(RecistInputError, match="too_small"):
        target_value_mm(TUMOUR, Measurement("T1", status=TargetStatus.TOO_SMALL), Criteria.MRECIST)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([D(21), D(17)], D(38)),
        ([D(5), D(8)], D(13)),
        ([D(0), D(0)], D(0)),
        ([D("10.1"), D("10.2")], D("20.3")),
        ([D(21), None], None),
        ([], D(0)),
    ],
    ids=["contract-baseline", "contract-follow-up", "all-gone", "exact-decimal", "ne", "empty"],
)
def test_sum_of_diameters(values: list[Decimal | None], expected: Decimal | None) -> None:
    """RECIST 1.1 §4.2: the sum adds long axes and node short axes; unknown if one is missing."""
    assert sum_of_diameters(values) == expected


@pytest.mark.parametrize(
    ("prior", "expected"),
    [
        ([D(38)], D(38)),
        ([D(38), D(30), D(35)], D(30)),
        ([D(38), None, D(40)], D(38)),
        ([D(38), D(13)], D(13)),
        ([None], None),
    ],
    ids=["baseline-only", "smallest-prior", "incomplete-sums-skipped", "after-response", "none"],
)
def test_nadir(prior: list[Decimal | None], expected: Decimal | None) -> None:
    """RECIST 1.1 §4.3.1: the nadir is the smallest prior complete sum, baseline included."""
    assert nadir_mm(prior) == expected


@pytest.mark.parametrize(
    ("nadir", "total", "expected"),
    [
        ("21", "25.2", False),
        ("21", "26", True),
        ("25", "30", True),
        ("25", "29.99", False),
        ("35", "42", True),
        ("35", "41.99", False),
        ("20", "25", True),
        ("20", "24.99", False),
        ("100", "105", False),
        ("100", "120", True),
        ("100", "119.99", False),
        ("0", "5", True),
        ("0", "4.9", False),
        ("33.7", "40.44", True),
        ("38", "13", False),
    ],
    ids=[
        "+20%-but-only-4.2mm",
        "21-to-26",
        "both-exactly-at-boundary",
        "both-just-below",
        "exactly-20%-with-7mm",
        "19.97%-with-6.99mm",
        "exactly-5mm-with-25%",
        "4.99mm-with-25%",
        "5mm-but-only-5%",
        "exactly-20%-of-100",
        "19.99%-of-100",
        "from-zero-5mm",
        "from-zero-4.9mm",
        "binary-noise-33.7-to-40.44",
        "decrease",
    ],
)
def test_progression_needs_both_rules(nadir: str, total: str, expected: bool) -> None:
    """RECIST 1.1 §4.3.1: PD needs >= 20 % over the nadir AND >= 5 mm absolute, both inclusive."""
    assert is_progression(D(total), D(nadir)) is expected


@pytest.mark.parametrize(
    ("baseline", "total", "expected"),
    [
        ("38", "26.6", True),
        ("38", "26.61", False),
        ("100", "70", True),
        ("100", "70.01", False),
        ("25.2", "17.64", True),
        ("38", "0", True),
    ],
    ids=["exactly-30%", "29.97%", "100-to-70", "just-under-30%", "binary-noise-25.2", "all-gone"],
)
def test_partial_response_boundary(baseline: str, total: str, expected: bool) -> None:
    """RECIST 1.1 §4.3.1: PR when the sum is at least 30 % below the baseline sum (inclusive)."""
    assert is_partial_response(D(total), D(baseline)) is expected


@pytest.mark.parametrize(
    ("readings", "expected"),
    [
        ([(False, D(0)), (True, D("9.9"))], True),
        ([(False, D(0)), (True, D(10))], False),
        ([(False, D(5)), (True, D(0))], False),
        ([(True, D(8)), (True, D("9.99"))], True),
        ([(False, D(0)), (False, None)], False),
    ],
    ids=["node-9.9mm", "node-10mm", "too-small-not-gone", "nodes-only-sum-17.99", "ne"],
)
def test_complete_response(readings: list[tuple[bool, Decimal | None]], expected: bool) -> None:
    """RECIST 1.1 §4.3.1: CR = non-nodal targets gone and every node < 10 mm (sum may be > 0)."""
    assert is_complete_response(readings) is expected


@pytest.mark.parametrize(
    ("node", "value", "expected"),
    [
        (False, D(0), False),
        (False, D("0.1"), True),
        (False, D(5), True),
        (False, None, False),
        (True, D("9.99"), False),
        (True, D(10), True),
    ],
    ids=["gone", "tiny", "too-small", "ne", "normal-node", "node-10mm"],
)
def test_reappearance(node: bool, value: Decimal | None, expected: bool) -> None:
    """RECIST 1.1 §4.4.3 Table 3 note: a target reappears when visible (a node at >= 10 mm)."""
    assert is_target_reappearance(node, value) is expected


@pytest.mark.parametrize(
    ("readings", "baseline", "nadir", "after_cr", "expected"),
    [
        ([(False, D(0)), (True, D(8))], "38", "38", False, "CR"),
        ([(False, D(5)), (True, D(8))], "38", "38", False, "PR"),
        ([(False, D("26.6"))], "38", "38", False, "PR"),
        ([(False, D("26.61"))], "38", "38", False, "SD"),
        ([(False, D("25.2"))], "21", "21", False, "SD"),
        ([(False, D("26"))], "21", "21", False, "PD"),
        ([(False, D("15"))], "30", "10", False, "PD"),
        ([(False, D(30)), (False, None)], "40", "25", False, "PD"),
        ([(False, D(29)), (False, None)], "40", "25", False, "NE"),
        ([(False, D(0)), (False, None)], "40", "25", False, "NE"),
        ([(False, D(5)), (True, D(5))], "40", "0", True, "PD"),
        ([(False, D(0)), (True, D(10))], "40", "8", True, "PD"),
        ([(False, D(0)), (True, D("9.9"))], "40", "8", True, "CR"),
        ([(False, D(3)), (False, None)], "40", "0", True, "PD"),
        ([(False, D(3))], "40", "0", False, "PR"),
    ],
    ids=[
        "cr-node-8mm",
        "pr-too-small-counts-5mm",
        "pr-exactly-30%",
        "sd-29.97%",
        "sd-+20%-only-4.2mm",
        "pd-over-nadir",
        "pd-over-nadir-while-below-baseline",
        "pd-from-partial-sum",
        "ne-partial-sum-not-pd",
        "ne-not-cr",
        "pd-reappearance-after-cr",
        "pd-node-back-to-10mm-after-cr",
        "cr-node-9.9mm-after-cr",
        "pd-reappearance-despite-ne",
        "small-lesion-without-cr-is-sum-rule",
    ],
)
def test_target_response(
    readings: list[tuple[bool, Decimal | None]],
    baseline: str,
    nadir: str,
    after_cr: bool,
    expected: str,
) -> None:
    """RECIST 1.1 §4.3.1, §4.4.2: PD first (even from a partial sum), then NE, CR, PR, SD."""
    result = target_response(
        readings, baseline_sum_mm=D(baseline), nadir=D(nadir), after_cr=after_cr
    )
    assert result == expected
