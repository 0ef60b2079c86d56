"""RECIST 1.1 response rules as pure functions on exact decimal millimetres.

Each function implements one rule of the guideline and is tested on its own boundaries; the
subject-level sequencing (nadir over prior timepoints, reappearance after CR, continued PR) lives
in :mod:`recist._engine`.

Design decisions (documented here because the guideline leaves them open):

- **Not evaluated.** A target or non-target with status ``not_evaluated`` (or no reading at a
  follow-up) makes its component NE, unless PD is established anyway: the sum of the evaluated
  targets already meets both PD rules (missing lesions can only add to it), a non-target shows
  unequivocal progression, or a lesion reappears after CR.
- **Equivocal new lesions.** An equivocal new lesion in organ *O* at follow-up *k* counts as PD,
  dated back to *k*, when a later follow-up *j* shows an unequivocal new lesion in the same organ
  *O* (organ names compared case-insensitively) and every follow-up from *k* to *j - 1* still
  shows an equivocal new lesion in *O*. A run of equivocal sightings that is interrupted, or never
  confirmed, never counts. This is the only way a later timepoint changes an earlier one.
- **Reappearance after CR.** When every target and non-target component was CR at the latest
  prior follow-up whose components are known (NE ones are skipped), a target visible again
  (non-nodal > 0 mm, a node >= 10 mm) or a non-target present again is PD (Table 3 footnote).
  This is judged on the lesion components, not on the overall response, so that a new lesion
  never turns a later reappearance into something better.
- **Best overall response** and confirmation: see :mod:`recist._best`.

References
----------
.. [1] Eisenhauer EA, et al. New response evaluation criteria in solid tumours: revised RECIST
   guideline (version 1.1). Eur J Cancer 2009;45:228-247. Sections 4.3-4.4, Tables 1-3.
.. [2] Schwartz LH, et al. RECIST 1.1 -- Update and clarification: From the RECIST committee.
   Eur J Cancer 2016;62:132-137.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from recist._best import best_overall_response, is_confirmed
from recist.criteria import (
    ABSENT_MM,
    NODE_NORMAL_MAX_MM,
    PD_ABSOLUTE_INCREASE_MM,
    PD_RELATIVE_INCREASE,
    PR_MAX_FRACTION_OF_BASELINE,
    TOO_SMALL_DEFAULT_MM,
)
from recist.errors import RecistInputError
from recist.model import (
    Criteria,
    Lesion,
    Measurement,
    NewLesion,
    NewLesionCall,
    NonTargetStatus,
    ResponseCategory,
    TargetStatus,
)

__all__ = [
    "best_overall_response",
    "is_complete_response",
    "is_confirmed",
    "is_partial_response",
    "is_progression",
    "is_target_reappearance",
    "nadir_mm",
    "new_lesion_calls",
    "non_target_response",
    "non_target_status",
    "overall_response",
    "sum_of_diameters",
    "target_response",
    "target_value_mm",
]

R = ResponseCategory
TargetReading = tuple[bool, Decimal | None]
"""A target's ``(lymph_node, value_mm)``; ``value_mm`` is ``None`` when not evaluated."""


def target_value_mm(
    lesion: Lesion, measurement: Measurement | None, criteria: Criteria = Criteria.RECIST_1_1
) -> Decimal | None:
    """Value a target lesion contributes to the sum, or ``None`` when it was not evaluated.

    Parameters
    ----------
    lesion
        The target lesion (long axis for non-nodal lesions, short axis for nodes).
    measurement
        Its reading at the timepoint; ``None`` (no reading) counts as not evaluated.
    criteria
        Under mRECIST ``viable_diameter_mm`` is used when given, and ``too_small`` is refused.

    Returns
    -------
    Decimal or None
        ``too_small`` counts 5 mm, ``absent`` 0 mm, fragments of a split lesion are added.

    References
    ----------
    .. [1] RECIST 1.1 section 4.3.1, special notes on target lesions (lesions "too small to
       measure", lesions that split or coalesce); Lencioni & Llovet 2010 (viable diameter).
    """
    where = f"lesion {lesion.lesion_id!r}"
    if measurement is None or measurement.status == TargetStatus.NOT_EVALUATED:
        return None
    if measurement.status == TargetStatus.TOO_SMALL:
        if criteria is Criteria.MRECIST:
            raise RecistInputError(
                f"{where}: status 'too_small' has no default value under mRECIST; "
                "give viable_diameter_mm (0 when no viable tumour remains)"
            )
        return TOO_SMALL_DEFAULT_MM
    if measurement.status == TargetStatus.ABSENT:
        return ABSENT_MM
    if measurement.status is not None:
        raise RecistInputError(
            f"{where}: status {str(measurement.status)!r} is not valid for a target lesion; "
            f"expected one of {[s.value for s in TargetStatus]} or a diameter"
        )
    if criteria is Criteria.MRECIST and measurement.viable_diameter_mm is not None:
        return measurement.viable_diameter_mm
    if measurement.fragments_mm is not None:
        return sum(measurement.fragments_mm, Decimal(0))
    if measurement.diameter_mm is not None:
        return measurement.diameter_mm
    expected = "viable_diameter_mm, diameter_mm" if criteria is Criteria.MRECIST else "diameter_mm"
    raise RecistInputError(f"{where}: no size given; expected {expected}, fragments_mm or status")


def non_target_status(lesion: Lesion, measurement: Measurement | None) -> NonTargetStatus:
    """Qualitative status of a non-target lesion; a node with short axis < 10 mm is absent.

    References
    ----------
    .. [1] RECIST 1.1 section 4.3.2 ("all lymph nodes must be non-pathological in size
       (< 10 mm short axis)" for non-target CR).
    """
    if measurement is None:
        return NonTargetStatus.NOT_EVALUATED
    status = measurement.status
    if status is not None and status != NonTargetStatus.PRESENT:
        return NonTargetStatus(str(status))
    size = measurement.diameter_mm
    if size is not None and lesion.lymph_node and size < NODE_NORMAL_MAX_MM:
        return NonTargetStatus.ABSENT
    if size is not None and not lesion.lymph_node and size == ABSENT_MM:
        return NonTargetStatus.ABSENT
    return NonTargetStatus.PRESENT


def sum_of_diameters(values: Iterable[Decimal | None]) -> Decimal | None:
    """Sum of target values, or ``None`` when any target was not evaluated.

    References
    ----------
    .. [1] RECIST 1.1 section 4.2 (sum of longest diameters of non-nodal targets plus short
       axes of nodal targets).
    """
    total = Decimal(0)
    for value in values:
        if value is None:
            return None
        total += value
    return total


def nadir_mm(prior_sums: Iterable[Decimal | None]) -> Decimal | None:
    """Smallest complete sum among prior timepoints, baseline included (``None`` if none).

    References
    ----------
    .. [1] RECIST 1.1 section 4.3.1 ("the smallest sum on study ... includes the baseline sum").
    """
    complete = [value for value in prior_sums if value is not None]
    return min(complete) if complete else None


def is_progression(sum_mm: Decimal, nadir: Decimal) -> bool:
    """PD by sum: at least 20 % **and** at least 5 mm above the nadir, both inclusive.

    References
    ----------
    .. [1] RECIST 1.1 section 4.3.1 (progressive disease).
    """
    increase = sum_mm - nadir
    return increase >= PD_RELATIVE_INCREASE * nadir and increase >= PD_ABSOLUTE_INCREASE_MM


def is_partial_response(sum_mm: Decimal, baseline_sum_mm: Decimal) -> bool:
    """PR by sum: at most 70 % of the baseline sum (a decrease of at least 30 %), inclusive.

    References
    ----------
    .. [1] RECIST 1.1 section 4.3.1 (partial response).
    """
    return sum_mm <= PR_MAX_FRACTION_OF_BASELINE * baseline_sum_mm


def is_complete_response(readings: Sequence[TargetReading]) -> bool:
    """CR of targets: every non-nodal target gone and every nodal target below 10 mm.

    References
    ----------
    .. [1] RECIST 1.1 section 4.3.1 (complete response); the sum may stay above 0 because
       normal nodes keep a short axis.
    """
    return all(
        value is not None and (value < NODE_NORMAL_MAX_MM if node else value == ABSENT_MM)
        for node, value in readings
    )


def is_target_reappearance(node: bool, value: Decimal | None) -> bool:
    """Whether a target is visible again: non-nodal > 0 mm, or a node back to >= 10 mm.

    References
    ----------
    .. [1] RECIST 1.1 section 4.4.3, Table 3 footnote (after a true CR "any disease seen at a
       subsequent time point ... makes the disease PD", since it must have reappeared).
    """
    if value is None:
        return False
    return value >= NODE_NORMAL_MAX_MM if node else value > ABSENT_MM


def target_response(
    readings: Sequence[TargetReading],
    *,
    baseline_sum_mm: Decimal,
    nadir: Decimal,
    after_cr: bool = False,
) -> ResponseCategory:
    """Target-lesion response of one follow-up.

    Parameters
    ----------
    readings
        ``(lymph_node, value_mm)`` of every target; ``value_mm`` ``None`` when not evaluated.
    baseline_sum_mm
        Sum at baseline (reference for PR).
    nadir
        Smallest prior complete sum, baseline included (reference for PD).
    after_cr
        The subject was in CR at its latest evaluable prior timepoint: any reappearing target
        is PD.

    Returns
    -------
    ResponseCategory
        PD (checked first, also from a partial sum), NE, CR, PR or SD.

    References
    ----------
    .. [1] RECIST 1.1 sections 4.3.1 and 4.4.2 (PD despite missing lesions).
    """
    if after_cr and any(is_target_reappearance(node, value) for node, value in readings):
        return R.PD
    evaluated = sum((v for _, v in readings if v is not None), Decimal(0))
    if is_progression(evaluated, nadir):
        return R.PD
    if any(value is None for _, value in readings):
        return R.NE
    if is_complete_response(readings):
        return R.CR
    if is_partial_response(evaluated, baseline_sum_mm):
        return R.PR
    return R.SD


def non_target_response(
    statuses: Sequence[NonTargetStatus], *, after_cr: bool = False
) -> ResponseCategory:
    """Non-target response: PD, NE (not all evaluated), CR (all absent) or non-CR/non-PD.

    References
    ----------
    .. [1] RECIST 1.1 sections 4.3.2-4.3.3; Table 3 footnote for reappearance after CR.
    """
    if NonTargetStatus.UNEQUIVOCAL_PROGRESSION in statuses:
        return R.PD
    if after_cr and NonTargetStatus.PRESENT in statuses:
        return R.PD
    if NonTargetStatus.NOT_EVALUATED in statuses:
        return R.NE
    if all(status == NonTargetStatus.ABSENT for status in statuses):
        return R.CR
    return R.NON_CR_NON_PD


_TABLE_1_WITHOUT_PD: dict[tuple[ResponseCategory, ResponseCategory | None], ResponseCategory] = {
    (R.CR, R.CR): R.CR,
    (R.CR, None): R.CR,
    (R.CR, R.NON_CR_NON_PD): R.PR,
    (R.CR, R.NE): R.PR,
    (R.PR, R.CR): R.PR,
    (R.PR, R.NON_CR_NON_PD): R.PR,
    (R.PR, R.NE): R.PR,
    (R.PR, None): R.PR,
    (R.SD, R.CR): R.SD,
    (R.SD, R.NON_CR_NON_PD): R.SD,
    (R.SD, R.NE): R.SD,
    (R.SD, None): R.SD,
    (R.NE, R.CR): R.NE,
    (R.NE, R.NON_CR_NON_PD): R.NE,
    (R.NE, R.NE): R.NE,
    (R.NE, None): R.NE,
}
_TABLE_2_WITHOUT_PD = {R.CR: R.CR, R.NON_CR_NON_PD: R.NON_CR_NON_PD, R.NE: R.NE}
_TARGET_RESPONSES = frozenset({R.CR, R.PR, R.SD, R.PD, R.NE})
_NON_TARGET_RESPONSES = frozenset({R.CR, R.NON_CR_NON_PD, R.PD, R.NE})


def overall_response(
    target: ResponseCategory | None, non_target: ResponseCategory | None, new_lesions: bool
) -> ResponseCategory | None:
    """Overall response of a timepoint by RECIST 1.1 Table 1 (targets) or Table 2 (none).

    Parameters
    ----------
    target
        Target response, ``None`` when the subject (scope) has no target lesions.
    non_target
        Non-target response, ``None`` when there are no non-target lesions.
    new_lesions
        Whether a new lesion counts as PD at this timepoint.

    Returns
    -------
    ResponseCategory or None
        ``None`` only when there are neither targets nor non-targets and no new lesion.

    References
    ----------
    .. [1] RECIST 1.1 section 4.4.1, Table 1 and Table 2.
    """
    if target is not None and target not in _TARGET_RESPONSES:
        raise RecistInputError(f"target response {target!s} is not a target category")
    if non_target is not None and non_target not in _NON_TARGET_RESPONSES:
        raise RecistInputError(f"non-target response {non_target!s} is not a non-target category")
    if target is None and non_target is None:
        return R.PD if new_lesions else None
    if new_lesions or R.PD in (target, non_target):
        return R.PD
    if target is None:
        assert non_target is not None
        return _TABLE_2_WITHOUT_PD[non_target]
    return _TABLE_1_WITHOUT_PD[(target, non_target)]


def new_lesion_calls(new_lesions: Sequence[Sequence[NewLesion]]) -> tuple[NewLesionCall, ...]:
    """Decide, for each follow-up in date order, whether its new lesions count as PD.

    An unequivocal new lesion is PD at its timepoint. An equivocal one in organ *O* is PD, dated
    back to its timepoint, when a later follow-up shows an unequivocal new lesion in *O* and every
    follow-up in between still shows an equivocal new lesion in *O*.

    References
    ----------
    .. [1] RECIST 1.1 section 4.3.4 ("If repeat scans confirm there is definitely a new lesion,
       then progression should be declared using the date of the initial scan").
    """
    equivocal = [{n.organ_key for n in found if n.equivocal} for found in new_lesions]
    unequivocal = [{n.organ_key for n in found if not n.equivocal} for found in new_lesions]
    calls = []
    for k, organs in enumerate(equivocal):
        confirmed = []
        for organ in sorted(organs):
            for later in range(k + 1, len(new_lesions)):
                if organ in unequivocal[later]:
                    confirmed.append(organ)
                    break
                if organ not in equivocal[later]:
                    break
        calls.append(
            NewLesionCall(
                progression=bool(unequivocal[k]) or bool(confirmed),
                equivocal=bool(organs),
                backdated_organs=tuple(confirmed),
            )
        )
    return tuple(calls)
