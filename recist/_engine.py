"""Sequencing of the RECIST rules over a subject's timepoints, for one scope of lesions.

A *scope* is the set of lesions a response is computed on: all lesions (the subject's response)
or the liver lesions and new liver lesions only (the hepatic response). Follow-ups are assessed
in date order from prior timepoints only -- the nadir, "reappearance after CR" and "continued PR"
look back, never forward -- so adding a timepoint never changes an earlier one, except when it
confirms an equivocal new lesion (:func:`recist.rules.new_lesion_calls`).

References
----------
.. [1] Eisenhauer EA, et al. Revised RECIST guideline (version 1.1). Eur J Cancer
   2009;45:228-247. Sections 4.3-4.4 and 4.6.
.. [2] EORTC RECIST FAQ, "continued PR": once PR is documented (and confirmed when required),
   the response stays PR until the criteria for PD are met.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from recist.model import (
    Assessment,
    AssessmentInput,
    HepaticProgression,
    Lesion,
    NewLesion,
    NewLesionCall,
    NonTargetStatus,
    Options,
    ResponseCategory,
    ScopeResult,
    Timepoint,
    TimepointResult,
)
from recist.rules import (
    best_overall_response,
    is_confirmed,
    is_target_reappearance,
    nadir_mm,
    new_lesion_calls,
    non_target_response,
    non_target_status,
    overall_response,
    sum_of_diameters,
    target_response,
    target_value_mm,
)

__all__ = ["run_assessment"]

R = ResponseCategory
_CR_PR = frozenset({R.CR, R.PR})
_KNOWN_NOT_CR = frozenset({R.PR, R.SD, R.PD, R.NON_CR_NON_PD})


@dataclass(frozen=True, slots=True)
class _Scope:
    lesions: tuple[Lesion, ...]
    calls: tuple[NewLesionCall, ...]

    @property
    def targets(self) -> tuple[Lesion, ...]:
        return tuple(lesion for lesion in self.lesions if lesion.is_target)

    @property
    def non_targets(self) -> tuple[Lesion, ...]:
        return tuple(lesion for lesion in self.lesions if not lesion.is_target)


def run_assessment(data: AssessmentInput) -> Assessment:
    """Assess a validated input: per-timepoint results, best overall and hepatic responses."""
    baseline = data.timepoints[0]
    reference = data.reference_date or baseline.date
    lesions = tuple(sorted(data.lesions, key=lambda lesion: lesion.lesion_id))
    follow_ups = data.timepoints[1:]

    whole = _Scope(lesions, new_lesion_calls([tp.new_lesions for tp in follow_ups]))
    hepatic_new: list[Sequence[NewLesion]] = [
        [found for found in tp.new_lesions if found.is_hepatic] for tp in follow_ups
    ]
    liver = _Scope(
        tuple(lesion for lesion in lesions if lesion.is_hepatic), new_lesion_calls(hepatic_new)
    )
    whole_results = _assess_scope(whole, data.timepoints, data.options)
    liver_results = _assess_scope(liver, data.timepoints, data.options)
    timepoints = tuple(
        TimepointResult(
            date=tp.date,
            baseline=tp.baseline,
            days_from_reference=(tp.date - reference).days,
            all_lesions=all_result,
            hepatic=liver_result,
        )
        for tp, all_result, liver_result in zip(
            data.timepoints, whole_results, liver_results, strict=True
        )
    )
    best = best_overall_response(
        [(tp.date, tp.overall_response) for tp in timepoints[1:]],
        reference_date=reference,
        options=data.options,
        has_targets=bool(whole.targets),
    )
    hepatic_responses = [(tp.date, tp.hepatic_response) for tp in timepoints[1:]]
    hepatic_best: ResponseCategory | None = None
    if liver.lesions or any(r is not None for _, r in hepatic_responses):
        hepatic_best = best_overall_response(
            hepatic_responses,
            reference_date=reference,
            options=data.options,
            has_targets=bool(liver.targets),
        )
    progression_date = next((date for date, r in hepatic_responses if r == R.PD), None)
    return Assessment(
        subject_id=data.subject_id,
        criteria=data.options.criteria,
        timepoints=timepoints,
        best_overall_response=best,
        hepatic_best_overall_response=hepatic_best,
        hepatic_progression=HepaticProgression(
            progressed=progression_date is not None, date=progression_date
        ),
    )


def _assess_scope(
    scope: _Scope, timepoints: Sequence[Timepoint], options: Options
) -> list[ScopeResult]:
    history: list[ScopeResult] = []
    for index, timepoint in enumerate(timepoints):
        readings = {reading.lesion_id: reading for reading in timepoint.measurements}
        values = [
            target_value_mm(lesion, readings.get(lesion.lesion_id), options.criteria)
            for lesion in scope.targets
        ]
        total = sum_of_diameters(values) if scope.targets else None
        evaluated = sum((v for v in values if v is not None), Decimal(0)) if values else None
        if index == 0:
            result = ScopeResult(total, evaluated, None, None, None, False, False, None)
        else:
            nadir = nadir_mm(r.sum_mm for r in history) if scope.targets else None
            after_cr = _was_in_cr(history[1:])
            target, notes = _target_component(scope, values, history[0].sum_mm, nadir, after_cr)
            prior = [
                (tp.date, r.overall_response)
                for tp, r in zip(timepoints[1:index], history[1:], strict=True)
            ]
            result = _follow_up(
                scope,
                timepoint,
                scope.calls[index - 1],
                target,
                notes,
                prior,
                after_cr,
                options,
            )
            result = replace(result, sum_mm=total, evaluated_sum_mm=evaluated, nadir_mm=nadir)
        history.append(result)
    return history


def _target_component(
    scope: _Scope,
    values: list[Decimal | None],
    baseline_sum: Decimal | None,
    nadir: Decimal | None,
    after_cr: bool,
) -> tuple[ResponseCategory | None, list[str]]:
    """Target response of a follow-up and notes on missing or reappearing targets."""
    if not scope.targets:
        return None, []
    assert baseline_sum is not None and nadir is not None  # baseline targets are all measured
    nodes = [lesion.lymph_node for lesion in scope.targets]
    response = target_response(
        list(zip(nodes, values, strict=True)),
        baseline_sum_mm=baseline_sum,
        nadir=nadir,
        after_cr=after_cr,
    )
    rows = list(zip(scope.targets, nodes, values, strict=True))
    notes = []
    missing = [t.lesion_id for t, _, v in rows if v is None]
    if missing:
        notes.append(f"target lesions not evaluated: {', '.join(missing)}")
    back = [t.lesion_id for t, node, v in rows if after_cr and is_target_reappearance(node, v)]
    if back:
        notes.append(f"reappearance after CR (PD): {', '.join(back)}")
    return response, notes


def _follow_up(
    scope: _Scope,
    timepoint: Timepoint,
    call: NewLesionCall,
    target: ResponseCategory | None,
    notes: list[str],
    prior: list[tuple[dt.date, ResponseCategory | None]],
    after_cr: bool,
    options: Options,
) -> ScopeResult:
    """Non-target and overall response of a follow-up, given its target response."""
    readings = {reading.lesion_id: reading for reading in timepoint.measurements}
    non_target: ResponseCategory | None = None
    if scope.non_targets:
        statuses = [non_target_status(n, readings.get(n.lesion_id)) for n in scope.non_targets]
        non_target = non_target_response(statuses, after_cr=after_cr)
        pairs = list(zip(scope.non_targets, statuses, strict=True))
        missing = [n.lesion_id for n, s in pairs if s == NonTargetStatus.NOT_EVALUATED]
        if missing:
            notes.append(f"non-target lesions not evaluated: {', '.join(missing)}")
        back = [n.lesion_id for n, s in pairs if after_cr and s == NonTargetStatus.PRESENT]
        if back:
            notes.append(f"reappearance after CR (PD): {', '.join(back)}")
    for organ in call.backdated_organs:
        notes.append(
            f"equivocal new lesion in {organ!r} confirmed at a later timepoint: "
            "PD dated back to this timepoint"
        )
    if call.equivocal and not call.backdated_organs:
        notes.append("equivocal new lesion: not PD unless a later timepoint confirms it")
    overall = overall_response(target, non_target, call.progression)
    if overall == R.SD and options.continued_pr and _pr_reached(prior, options):
        overall = R.PR
        notes.append("continued PR: PR was reached earlier and PD criteria are not met")
    return ScopeResult(
        sum_mm=None,
        evaluated_sum_mm=None,
        nadir_mm=None,
        target_response=target,
        non_target_response=non_target,
        new_lesions=call.progression,
        equivocal_new_lesions=call.equivocal,
        overall_response=overall,
        notes=tuple(notes),
    )


def _was_in_cr(prior_follow_ups: Sequence[ScopeResult]) -> bool:
    """Whether all of the scope's lesions had gone at its latest evaluable prior follow-up.

    Judged on the lesion components (not on new lesions), so that a new lesion can never turn a
    later reappearance from PD into something better.
    """
    for result in reversed(prior_follow_ups):
        components = [
            r for r in (result.target_response, result.non_target_response) if r is not None
        ]
        if not components or any(r in _KNOWN_NOT_CR for r in components):
            return False
        if all(r == R.CR for r in components):
            return True
    return False


def _pr_reached(prior: Sequence[tuple[dt.date, ResponseCategory | None]], options: Options) -> bool:
    """Whether PR or CR was reached (and confirmed, when required) since the latest PD."""
    evaluated = [(date, r) for date, r in prior if r is not None]
    last_pd = max((i for i, (_, r) in enumerate(evaluated) if r == R.PD), default=-1)
    since = evaluated[last_pd + 1 :]
    if not options.confirmation_required:
        return any(r in _CR_PR for _, r in since)
    return is_confirmed(
        since, first=_CR_PR, confirming=_CR_PR, min_days=options.confirmation_min_days
    )
