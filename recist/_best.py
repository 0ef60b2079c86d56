"""Best overall response over all timepoints (RECIST 1.1 section 4.4.3, Table 3; section 4.6).

Design decisions:

- Only follow-ups up to and including the first PD count; nothing after progression can improve
  the best response.
- **Confirmation** (``confirmation_required``): a CR (PR) is confirmed by a later CR (CR or PR)
  at least ``confirmation_min_days`` after it; assessments in between must be at least as good or
  NE -- an unevaluable scan neither confirms nor breaks a response, anything worse breaks it.
  An unconfirmed CR/PR counts as SD when it meets the SD minimum (Table 3).
- **SD minimum**: SD (NON_CR_NON_PD for subjects without targets) counts only at a follow-up at
  least ``sd_min_days`` after the reference date; otherwise the best response is PD when a PD
  follows, else NE (section 4.4.3).

References
----------
.. [1] Eisenhauer EA, et al. New response evaluation criteria in solid tumours: revised RECIST
   guideline (version 1.1). Eur J Cancer 2009;45:228-247.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from recist.model import Options, ResponseCategory

__all__ = ["best_overall_response", "is_confirmed"]

R = ResponseCategory


def is_confirmed(
    responses: Sequence[tuple[dt.date, ResponseCategory]],
    *,
    first: frozenset[ResponseCategory],
    confirming: frozenset[ResponseCategory],
    min_days: int,
) -> bool:
    """Whether a response in ``first`` is confirmed by a later one in ``confirming``.

    The confirming assessment must be at least ``min_days`` later; assessments in between must
    be in ``confirming`` or NE (an unevaluable scan neither confirms nor breaks a response).

    References
    ----------
    .. [1] RECIST 1.1 section 4.6.1 (confirmation no less than 4 weeks after the criteria for
       response are first met) and section 4.4.3, Table 3.
    """
    for i, (first_date, response) in enumerate(responses):
        if response not in first:
            continue
        for later_date, later in responses[i + 1 :]:
            if later in confirming and (later_date - first_date).days >= min_days:
                return True
            if later not in confirming and later != R.NE:
                break
    return False


_CR = frozenset({R.CR})
_CR_PR = frozenset({R.CR, R.PR})
_STABLE = frozenset({R.SD, R.NON_CR_NON_PD})


def best_overall_response(
    responses: Sequence[tuple[dt.date, ResponseCategory | None]],
    *,
    reference_date: dt.date,
    options: Options,
    has_targets: bool = True,
) -> ResponseCategory:
    """Best overall response from the follow-up responses, in date order.

    Only responses up to and including the first PD count. Without confirmation the best of CR,
    PR, SD (at least ``sd_min_days`` after ``reference_date``), PD, NE is taken; with
    confirmation CR and PR need a confirming assessment (:func:`is_confirmed`) and an unconfirmed
    CR/PR counts as SD when it meets the SD minimum (Table 3). For subjects without targets the
    stable category is NON_CR_NON_PD.

    References
    ----------
    .. [1] RECIST 1.1 section 4.4.3 (best overall response, Table 3) and section 4.6.
    """
    evaluated = [(date, r) for date, r in responses if r is not None]
    first_pd = next((i for i, (_, r) in enumerate(evaluated) if r == R.PD), None)
    if first_pd is not None:
        evaluated = evaluated[: first_pd + 1]
    stable = R.SD if has_targets else R.NON_CR_NON_PD
    min_days = options.confirmation_min_days

    def lasted(date: dt.date) -> bool:
        return (date - reference_date).days >= options.sd_min_days

    if options.confirmation_required:
        if is_confirmed(evaluated, first=_CR, confirming=_CR, min_days=min_days):
            return R.CR
        if is_confirmed(evaluated, first=_CR_PR, confirming=_CR_PR, min_days=min_days):
            return R.PR
        counts_as_stable = _CR_PR | _STABLE
    else:
        found = {r for _, r in evaluated}
        if R.CR in found:
            return R.CR
        if R.PR in found:
            return R.PR
        counts_as_stable = _STABLE
    if any(r in counts_as_stable and lasted(date) for date, r in evaluated):
        return stable
    return R.PD if first_pd is not None else R.NE
