"""The trial's primary endpoint as time-to-event data: the hepatic progression-free interval.

H-PFS runs from the start (the subject's randomization date; without one, its baseline scan) to
the first hepatic progression by RECIST 1.1 (the event: the date of the scan that showed it, as
the assessment dates it, an equivocal new liver lesion confirmed later included). Without an
event it is censored; the conventions follow FDA's 2018 guidance for PFS (Clinical Trial
Endpoints for the Approval of Cancer Drugs and Biologics, Table "PFS censoring"):

- no baseline tumour assessment -> censored at the start;
- no adequate assessment after the baseline on or after the start -> censored at the start;
- no progression -> censored at the date of the last adequate assessment (a follow-up whose
  hepatic response is evaluable: CR, PR, SD, non-CR/non-PD or PD; ``NE`` is not adequate).

It is an interval, not a survival: deaths are not events (the service records none); new
anticancer treatment and missed visits, which the guidance also censors, are not recorded here
either, so they are left to the statisticians' programs. A progression dated before the start
is a mistake in the record (a wrong randomization date or a misdated visit) and refused, never
turned into a negative interval.

Days count as ADaM does: ``AVAL = ADT - STARTDT + 1`` (the start is day 1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from recist.errors import RecistInputError

__all__ = ["ADEQUATE_RESPONSES", "HepaticPfs", "hepatic_pfs"]

#: Hepatic responses that make a follow-up an adequate assessment.
ADEQUATE_RESPONSES = frozenset({"CR", "PR", "SD", "NON_CR_NON_PD", "PD"})

_NO_BASELINE = "no baseline tumour assessment"
_NO_FOLLOW_UP = "no adequate assessment after the baseline"
_LAST = "no hepatic progression; censored at the last adequate assessment"


@dataclass(frozen=True, slots=True)
class HepaticPfs:
    """One subject's hepatic progression-free interval."""

    start_date: dt.date
    start: str  #: ``randomization`` or ``baseline``
    event: bool
    date: dt.date  #: the event's date, or the censoring date
    censor_reason: str | None = None
    last_assessment: dt.date | None = None

    @property
    def days(self) -> int:
        """``date - start_date + 1`` (ADaM's AVAL in days)."""
        return (self.date - self.start_date).days + 1

    def as_dict(self) -> dict[str, Any]:
        """Return the ``hpfs`` object of ``GET .../endpoints`` (contracts/trial-record.md)."""
        out: dict[str, Any] = {
            "start_date": self.start_date.isoformat(),
            "start": self.start,
            "event": self.event,
            "date": self.date.isoformat(),
            "days": self.days,
        }
        if self.censor_reason is not None:
            out["censor_reason"] = self.censor_reason
        return out


def _date(value: Any, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise RecistInputError(f"{where}: expected an ISO date, got {value!r}") from exc


def hepatic_pfs(
    *,
    randomization_date: dt.date | None,
    baseline_date: dt.date | None,
    assessment: Mapping[str, Any] | None,
) -> HepaticPfs:
    """Return the hepatic progression-free interval of one subject.

    Parameters
    ----------
    randomization_date
        The subject's randomization date: the start when given.
    baseline_date
        The baseline scan's date: the start without a randomization date.
    assessment
        The subject's assessment output (contracts/recist-assess.md) from its baseline on, or
        ``None`` when there is no baseline tumour assessment.

    Raises
    ------
    RecistInputError
        No start at all, or a progression dated before the start.
    """
    if randomization_date is not None:
        start_date, start = randomization_date, "randomization"
    elif baseline_date is not None:
        start_date, start = baseline_date, "baseline"
    else:
        raise RecistInputError(
            "no start for the hepatic progression-free interval: expected a randomization date "
            "or a baseline timepoint"
        )
    if assessment is None:
        return HepaticPfs(start_date, start, False, start_date, _NO_BASELINE)
    progression = assessment.get("hepatic_progression") or {}
    if progression.get("date") is not None:
        when = _date(progression["date"], "hepatic_progression.date")
        if when < start_date:
            raise RecistInputError(
                f"the hepatic progression ({when.isoformat()}) is dated before the start of the "
                f"interval ({start} {start_date.isoformat()}); check the randomization date and "
                "the visit dates"
            )
        return HepaticPfs(start_date, start, True, when)
    adequate = [
        _date(tp.get("date"), "timepoints[].date")
        for tp in assessment.get("timepoints") or []
        if not tp.get("baseline") and tp.get("hepatic_response") in ADEQUATE_RESPONSES
    ]
    adequate = [d for d in adequate if d >= start_date]
    if not adequate:
        return HepaticPfs(start_date, start, False, start_date, _NO_FOLLOW_UP)
    last = max(adequate)
    return HepaticPfs(start_date, start, False, last, _LAST, last_assessment=last)
