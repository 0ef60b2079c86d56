"""Tests of the RECIST 1.1 numeric criteria and the measurability rule (recist.criteria)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from recist import criteria
from recist.criteria import is_measurable, is_measurable_node
from recist.errors import RecistInputError


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("MIN_MEASURABLE_MM", Decimal("10")),
        ("THICK_SLICE_MM", Decimal("5")),
        ("SLICE_THICKNESS_FACTOR", Decimal("2")),
        ("NODE_TARGET_MIN_SHORT_AXIS_MM", Decimal("15")),
        ("NODE_NORMAL_MAX_MM", Decimal("10")),
        ("MAX_TARGETS", 5),
        ("MAX_TARGETS_PER_ORGAN", 2),
        ("TOO_SMALL_DEFAULT_MM", Decimal("5")),
        ("ABSENT_MM", Decimal("0")),
        ("PD_RELATIVE_INCREASE", Decimal("0.20")),
        ("PD_ABSOLUTE_INCREASE_MM", Decimal("5")),
        ("PR_DECREASE", Decimal("0.30")),
        ("PR_MAX_FRACTION_OF_BASELINE", Decimal("0.70")),
        ("CONFIRMATION_MIN_DAYS_DEFAULT", 28),
        ("SD_MIN_DAYS_DEFAULT", 42),
    ],
    ids=lambda v: str(v),
)
def test_constant_values(name: str, expected: Decimal | int) -> None:
    """RECIST 1.1 §3.1, §4.2, §4.3.1, §4.6: each named constant has the guideline's value."""
    value = getattr(criteria, name)
    assert value == expected
    assert type(value) is type(expected)


def test_every_public_constant_is_exported() -> None:
    """RECIST 1.1 (all sections): every upper-case constant of criteria.py is in ``__all__``."""
    constants = {name for name in vars(criteria) if name.isupper()}
    assert constants <= set(criteria.__all__)


@pytest.mark.parametrize(
    ("long_axis_mm", "thickness_mm", "expected"),
    [
        (10, None, True),
        (10.0, None, True),
        (9.99, None, False),
        (9.999999, None, False),
        (0, None, False),
        (10, 5, True),
        (10, 5.0, True),
        (10, 1.25, True),
        (9.9, 1, False),
        (12, 6, True),
        (11.99, 6, False),
        (10.2, 5.1, True),
        (10.19, 5.1, False),
        (20, 10, True),
        (19.9, 10, False),
        (Decimal("10"), Decimal("5.000001"), False),
        (0.1 + 0.2 + 9.7, None, True),
    ],
    ids=[
        "10mm-no-thickness",
        "10.0mm-float",
        "9.99mm",
        "9.999999mm",
        "zero",
        "10mm-at-5mm-slices",
        "10mm-at-5.0mm-slices",
        "10mm-thin-slices",
        "9.9mm-thin-slices",
        "12mm-at-6mm-exactly-2x",
        "11.99mm-at-6mm",
        "10.2mm-at-5.1mm-exactly-2x",
        "10.19mm-at-5.1mm",
        "20mm-at-10mm",
        "19.9mm-at-10mm",
        "10mm-just-over-5mm-slices",
        "float-noise-10.000000000000002",
    ],
)
def test_is_measurable_boundaries(
    long_axis_mm: float | Decimal, thickness_mm: float | Decimal | None, expected: bool
) -> None:
    """RECIST 1.1 §3.1.1, Appendix II: measurable at >= 10 mm, and >= 2 x slice when > 5 mm."""
    assert is_measurable(long_axis_mm, thickness_mm) is expected


@pytest.mark.parametrize(
    ("short_axis_mm", "expected"),
    [(15, True), (15.0, True), (14.99, False), (10, False), (30, True)],
    ids=["15", "15.0", "14.99", "10", "30"],
)
def test_is_measurable_node_boundaries(short_axis_mm: float, expected: bool) -> None:
    """RECIST 1.1 §3.1.1: a lymph node is a measurable (target) lesion at short axis >= 15 mm."""
    assert is_measurable_node(short_axis_mm) is expected


@pytest.mark.parametrize(
    ("long_axis_mm", "thickness_mm"),
    [
        (float("nan"), None),
        (float("inf"), None),
        (-1, None),
        (12, 0),
        (12, -5),
        (12, float("nan")),
        (True, None),
    ],
    ids=[
        "nan",
        "inf",
        "negative-length",
        "zero-thickness",
        "negative-thickness",
        "nan-thick",
        "bool",
    ],
)
def test_is_measurable_rejects_bad_numbers(long_axis_mm: float, thickness_mm: float | None) -> None:
    """RECIST 1.1 §3.1.1: measurability needs a finite length >= 0 and a thickness > 0."""
    with pytest.raises(RecistInputError):
        is_measurable(long_axis_mm, thickness_mm)
