"""Tests of new-lesion calls, including equivocal lesions dated back (RECIST 1.1 §4.3.4)."""

from __future__ import annotations

import pytest

from recist.model import NewLesion
from recist.rules import new_lesion_calls

LIVER = NewLesion("liver")
LIVER_EQ = NewLesion("liver", equivocal=True)
LUNG = NewLesion("lung")
LUNG_EQ = NewLesion("lung", equivocal=True)

# Each row: new lesions per follow-up -> expected "progression" flag per follow-up.
CASES = [
    ([[], [LIVER]], [False, True]),
    ([[LIVER_EQ]], [False]),
    ([[LIVER_EQ], []], [False, False]),
    ([[LIVER_EQ], [LIVER]], [True, True]),
    ([[LIVER_EQ], [LIVER_EQ], [LIVER]], [True, True, True]),
    ([[LIVER_EQ], [], [LIVER]], [False, False, True]),
    ([[LIVER_EQ], [LUNG]], [False, True]),
    ([[LUNG_EQ, LIVER_EQ], [LIVER]], [True, True]),
    ([[LIVER_EQ], [NewLesion(" Liver ")]], [True, True]),
    ([[LIVER_EQ, LIVER], []], [True, False]),
    ([[LIVER], [LIVER_EQ]], [True, False]),
    ([[LIVER_EQ], [LIVER_EQ]], [False, False]),
]
IDS = [
    "unequivocal-is-pd",
    "equivocal-alone-is-not-pd",
    "equivocal-then-nothing",
    "equivocal-confirmed-next-scan",
    "equivocal-run-confirmed",
    "interrupted-run-not-backdated",
    "other-organ-does-not-confirm",
    "only-matching-organ-confirmed",
    "organ-compared-case-insensitively",
    "unequivocal-with-equivocal",
    "unequivocal-then-equivocal",
    "never-confirmed",
]


@pytest.mark.parametrize(("found", "expected"), CASES, ids=IDS)
def test_new_lesion_progression(found: list[list[NewLesion]], expected: list[bool]) -> None:
    """RECIST 1.1 §4.3.4: equivocal new lesions are PD, dated to first sight, once confirmed."""
    assert [call.progression for call in new_lesion_calls(found)] == expected


def test_backdated_organs_are_reported() -> None:
    """RECIST 1.1 §4.3.4: a back-dated PD names the organ whose equivocal lesion was confirmed."""
    calls = new_lesion_calls([[LUNG_EQ, LIVER_EQ], [LIVER]])
    assert calls[0].backdated_organs == ("liver",)
    assert calls[0].equivocal is True
    assert calls[1].backdated_organs == ()
    assert calls[1].equivocal is False
