"""Tests of the timepoint overall response: RECIST 1.1 Table 1 and Table 2, every cell."""

from __future__ import annotations

import pytest

from recist.errors import RecistInputError
from recist.model import ResponseCategory
from recist.rules import overall_response

R = ResponseCategory

# RECIST 1.1 Table 1 (target lesions, with or without non-target lesions): (target, non-target,
# new lesions) -> overall. ``None`` as non-target: the subject has no non-target lesions.
TABLE_1 = [
    (R.CR, R.CR, False, R.CR),
    (R.CR, None, False, R.CR),
    (R.CR, R.NON_CR_NON_PD, False, R.PR),
    (R.CR, R.NE, False, R.PR),
    (R.PR, R.CR, False, R.PR),
    (R.PR, R.NON_CR_NON_PD, False, R.PR),
    (R.PR, R.NE, False, R.PR),
    (R.PR, None, False, R.PR),
    (R.SD, R.CR, False, R.SD),
    (R.SD, R.NON_CR_NON_PD, False, R.SD),
    (R.SD, R.NE, False, R.SD),
    (R.SD, None, False, R.SD),
    (R.NE, R.CR, False, R.NE),
    (R.NE, R.NON_CR_NON_PD, False, R.NE),
    (R.NE, R.NE, False, R.NE),
    (R.NE, None, False, R.NE),
]
TABLE_1 += [(t, nt, True, R.PD) for t, nt, _, _ in TABLE_1]
TABLE_1 += [
    (R.PD, nt, new, R.PD)
    for nt in (R.CR, R.NON_CR_NON_PD, R.NE, R.PD, None)
    for new in (False, True)
]
TABLE_1 += [(t, R.PD, new, R.PD) for t in (R.CR, R.PR, R.SD, R.NE) for new in (False, True)]

# RECIST 1.1 Table 2 (non-target lesions only).
TABLE_2 = [
    (None, R.CR, False, R.CR),
    (None, R.NON_CR_NON_PD, False, R.NON_CR_NON_PD),
    (None, R.NE, False, R.NE),
    (None, R.PD, False, R.PD),
    (None, R.PD, True, R.PD),
    (None, R.CR, True, R.PD),
    (None, R.NON_CR_NON_PD, True, R.PD),
    (None, R.NE, True, R.PD),
]


def _id(row: tuple[object, ...]) -> str:
    target, non_target, new, _ = row
    return f"{target or 'none'}/{non_target or 'none'}/{'new' if new else 'no-new'}"


@pytest.mark.parametrize("row", TABLE_1, ids=[_id(row) for row in TABLE_1])
def test_table_1(row: tuple[R, R | None, bool, R]) -> None:
    """RECIST 1.1 §4.4.1 Table 1: overall response from target, non-target and new lesions."""
    target, non_target, new, expected = row
    assert overall_response(target, non_target, new) == expected


@pytest.mark.parametrize("row", TABLE_2, ids=[_id(row) for row in TABLE_2])
def test_table_2(row: tuple[None, R, bool, R]) -> None:
    """RECIST 1.1 §4.4.1 Table 2: overall response with non-target lesions only."""
    target, non_target, new, expected = row
    assert overall_response(target, non_target, new) == expected


@pytest.mark.parametrize(
    ("new", "expected"), [(False, None), (True, R.PD)], ids=["nothing", "new-lesion"]
)
def test_no_lesions_in_scope(new: bool, expected: R | None) -> None:
    """RECIST 1.1 §4.3.4: without baseline lesions in scope only a new lesion gives a response."""
    assert overall_response(None, None, new) == expected


@pytest.mark.parametrize(
    ("target", "non_target"),
    [(R.NON_CR_NON_PD, R.CR), (R.CR, R.PR), (R.CR, R.SD)],
    ids=["non-cr-non-pd-as-target", "pr-as-non-target", "sd-as-non-target"],
)
def test_rejects_category_of_the_wrong_component(target: R, non_target: R) -> None:
    """RECIST 1.1 §4.3.1-4.3.2: target and non-target responses have their own categories."""
    with pytest.raises(RecistInputError):
        overall_response(target, non_target, False)
