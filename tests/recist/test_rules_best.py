"""Tests of best overall response, with and without confirmation (RECIST 1.1 §4.4.3, §4.6)."""

from __future__ import annotations

import datetime as dt

import pytest

from recist.model import Options, ResponseCategory
from recist.rules import best_overall_response, is_confirmed

R = ResponseCategory
START = dt.date(2020, 1, 1)
UNCONFIRMED = Options(confirmation_required=False, sd_min_days=42)
CONFIRMED = Options(confirmation_required=True, confirmation_min_days=28, sd_min_days=42)


def _dated(*pairs: tuple[int, R | None]) -> list[tuple[dt.date, R | None]]:
    return [(START + dt.timedelta(days=day), response) for day, response in pairs]


@pytest.mark.parametrize(
    ("responses", "expected"),
    [
        ([(56, R.PR), (112, R.CR)], R.CR),
        ([(56, R.SD), (112, R.PR), (168, R.SD)], R.PR),
        ([(56, R.SD)], R.SD),
        ([(42, R.SD)], R.SD),
        ([(41, R.SD)], R.NE),
        ([(41, R.SD), (84, R.PD)], R.PD),
        ([(41, R.SD), (84, R.NE)], R.NE),
        ([(30, R.PD), (60, R.CR)], R.PD),
        ([(56, R.SD), (84, R.PD), (112, R.CR)], R.SD),
        ([(56, R.NE), (84, R.NE)], R.NE),
        ([], R.NE),
        ([(30, R.CR)], R.CR),
        ([(30, R.PR), (60, R.PD)], R.PR),
    ],
    ids=[
        "pr-then-cr",
        "best-is-pr",
        "sd-after-6-weeks",
        "sd-exactly-42-days",
        "sd-41-days-then-nothing",
        "sd-too-early-then-pd",
        "sd-too-early-then-ne",
        "pd-first-ignores-later-cr",
        "after-pd-ignored",
        "all-ne",
        "no-follow-up",
        "cr-needs-no-duration",
        "pr-then-pd",
    ],
)
def test_best_response_without_confirmation(responses: list[tuple[int, R]], expected: R) -> None:
    """RECIST 1.1 §4.4.3: best of CR, PR, SD (after its minimum duration), PD, NE until PD."""
    result = best_overall_response(_dated(*responses), reference_date=START, options=UNCONFIRMED)
    assert result == expected


# RECIST 1.1 Table 3: (first, subsequent) -> best overall response, with the first response at
# day 56 (SD minimum met) or day 28 (not met) and the subsequent one 28 days later.
TABLE_3 = [
    (R.CR, R.CR, 56, R.CR),
    (R.CR, R.PR, 56, R.PR),
    (R.CR, R.SD, 56, R.SD),
    (R.CR, R.SD, 28, R.SD),
    (R.CR, R.PD, 56, R.SD),
    (R.CR, R.PD, 28, R.PD),
    (R.CR, R.NE, 56, R.SD),
    (R.CR, R.NE, 28, R.NE),
    (R.PR, R.CR, 56, R.PR),
    (R.PR, R.PR, 56, R.PR),
    (R.PR, R.SD, 56, R.SD),
    (R.PR, R.PD, 56, R.SD),
    (R.PR, R.PD, 28, R.PD),
    (R.PR, R.NE, 56, R.SD),
    (R.PR, R.NE, 28, R.NE),
    (R.NE, R.NE, 56, R.NE),
]


@pytest.mark.parametrize("row", TABLE_3, ids=[f"{a}-{b}-day{d}" for a, b, d, _ in TABLE_3])
def test_table_3(row: tuple[R, R, int, R]) -> None:
    """RECIST 1.1 §4.4.3 Table 3: best response when CR/PR must be confirmed (>= 4 weeks)."""
    first, subsequent, day, expected = row
    responses = _dated((day, first), (day + 28, subsequent))
    assert best_overall_response(responses, reference_date=START, options=CONFIRMED) == expected


@pytest.mark.parametrize(
    ("responses", "min_days", "expected"),
    [
        ([(56, R.PR), (83, R.PR)], 28, R.SD),
        ([(56, R.PR), (84, R.PR)], 28, R.PR),
        ([(56, R.PR), (70, R.PR), (84, R.PR)], 28, R.PR),
        ([(56, R.PR), (70, R.NE), (84, R.PR)], 28, R.PR),
        ([(56, R.PR), (70, R.SD), (84, R.PR)], 28, R.SD),
        ([(56, R.CR), (70, R.CR)], 14, R.CR),
        ([(56, R.CR), (70, R.CR)], 15, R.SD),
        ([(56, R.CR), (70, R.CR)], 0, R.CR),
    ],
    ids=[
        "27-days-too-early",
        "28-days-confirms",
        "early-pr-then-confirmed",
        "ne-in-between-allowed",
        "sd-in-between-breaks",
        "custom-interval-14",
        "custom-interval-15",
        "interval-0",
    ],
)
def test_confirmation_interval(responses: list[tuple[int, R]], min_days: int, expected: R) -> None:
    """RECIST 1.1 §4.6.1: confirmation no less than the configured interval after the response."""
    options = Options(confirmation_required=True, confirmation_min_days=min_days)
    result = best_overall_response(_dated(*responses), reference_date=START, options=options)
    assert result == expected


@pytest.mark.parametrize(
    ("responses", "confirmation", "expected"),
    [
        ([(56, R.NON_CR_NON_PD)], False, R.NON_CR_NON_PD),
        ([(28, R.NON_CR_NON_PD)], False, R.NE),
        ([(56, R.CR)], True, R.NON_CR_NON_PD),
        ([(56, R.CR), (84, R.CR)], True, R.CR),
        ([(28, R.NON_CR_NON_PD), (56, R.PD)], False, R.PD),
    ],
    ids=["non-cr-non-pd", "too-early", "unconfirmed-cr", "confirmed-cr", "early-then-pd"],
)
def test_best_response_non_target_only(
    responses: list[tuple[int, R]], confirmation: bool, expected: R
) -> None:
    """RECIST 1.1 §4.4.3, Table 2: without targets the stable category is NON_CR_NON_PD."""
    options = Options(confirmation_required=confirmation)
    result = best_overall_response(
        _dated(*responses), reference_date=START, options=options, has_targets=False
    )
    assert result == expected


@pytest.mark.parametrize(
    ("reference_offset", "expected"),
    [(0, R.SD), (14, R.SD), (15, R.NE), (-10, R.SD)],
    ids=["reference-at-baseline", "42-days-after-reference", "41-days", "reference-before"],
)
def test_sd_minimum_counts_from_reference_date(reference_offset: int, expected: R) -> None:
    """RECIST 1.1 §4.4.3: SD counts only at least ``sd_min_days`` after the reference date."""
    reference = START + dt.timedelta(days=reference_offset)
    result = best_overall_response(
        _dated((56, R.SD)), reference_date=reference, options=UNCONFIRMED
    )
    assert result == expected


def test_none_responses_are_skipped() -> None:
    """RECIST 1.1 §4.4.3: timepoints without a response in scope do not count."""
    responses = _dated((56, None), (84, R.PD))
    assert best_overall_response(responses, reference_date=START, options=UNCONFIRMED) == R.PD


def test_is_confirmed_needs_a_later_assessment() -> None:
    """RECIST 1.1 §4.6.1: a response is confirmed only by a later assessment, never by itself."""
    first = frozenset({R.PR})
    alone = [(START, R.PR)]
    assert not is_confirmed(alone, first=first, confirming=first, min_days=0)
    assert is_confirmed([*alone, (START, R.PR)], first=first, confirming=first, min_days=0)
