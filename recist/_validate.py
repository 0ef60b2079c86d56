"""Validation of an assessment input against RECIST 1.1 baseline and bookkeeping rules.

Every error names the lesion, timepoint or field at fault and states what was expected.

References
----------
.. [1] Eisenhauer EA, et al. Revised RECIST guideline (version 1.1). Eur J Cancer
   2009;45:228-247. Sections 3.1 (measurability), 3.3 (target and non-target selection).
"""

from __future__ import annotations

import itertools
from collections import Counter

from recist.criteria import (
    MAX_TARGETS,
    MAX_TARGETS_PER_ORGAN,
    NODE_NORMAL_MAX_MM,
    NODE_TARGET_MIN_SHORT_AXIS_MM,
    is_measurable,
    is_measurable_node,
)
from recist.errors import RecistInputError
from recist.model import (
    AssessmentInput,
    Criteria,
    Lesion,
    Measurement,
    NonTargetStatus,
    TargetStatus,
    Timepoint,
)
from recist.rules import non_target_status, target_value_mm

__all__ = ["check_lesions", "check_readings", "validate_input"]


def validate_input(data: AssessmentInput) -> None:
    """Check an assessment input; raise :class:`RecistInputError` naming the fault.

    Raises
    ------
    RecistInputError
        Unknown or duplicate lesion, no baseline or baseline not first, dates out of order, more
        than 5 targets or more than 2 per organ, a target not measurable at baseline, a
        non-target node below 10 mm at baseline, a reading inconsistent with its lesion's role.
    """
    if not isinstance(data.subject_id, str) or not data.subject_id.strip():
        raise RecistInputError("subject_id: expected a non-empty string")
    check_lesions(data.lesions)
    _check_timepoint_order(data.timepoints)
    lesions = {lesion.lesion_id: lesion for lesion in data.lesions}
    for timepoint in data.timepoints:
        check_readings(timepoint, lesions, data.options.criteria)
    _check_baseline(data.timepoints[0], data.lesions, data.options.criteria)


def check_lesions(lesions: tuple[Lesion, ...]) -> None:
    if not lesions:
        raise RecistInputError("lesions: no lesion given; at least one baseline lesion is needed")
    seen: set[str] = set()
    for lesion in lesions:
        if lesion.lesion_id in seen:
            raise RecistInputError(f"lesion {lesion.lesion_id!r}: lesion_id given twice")
        seen.add(lesion.lesion_id)
    targets = [lesion for lesion in lesions if lesion.is_target]
    if len(targets) > MAX_TARGETS:
        extra = targets[MAX_TARGETS]
        raise RecistInputError(
            f"lesion {extra.lesion_id!r}: more than {MAX_TARGETS} target lesions at baseline "
            f"(got {len(targets)}); RECIST 1.1 allows at most {MAX_TARGETS}"
        )
    per_organ: Counter[str] = Counter()
    for lesion in targets:
        per_organ[lesion.organ_key] += 1
        if per_organ[lesion.organ_key] > MAX_TARGETS_PER_ORGAN:
            total = sum(1 for t in targets if t.organ_key == lesion.organ_key)
            organ = "lymph nodes" if lesion.lymph_node else repr(lesion.organ)
            raise RecistInputError(
                f"lesion {lesion.lesion_id!r}: more than {MAX_TARGETS_PER_ORGAN} target lesions "
                f"in organ {organ} (got {total}); RECIST 1.1 allows at most "
                f"{MAX_TARGETS_PER_ORGAN} per organ (all lymph nodes count as one organ)"
            )


def _check_timepoint_order(timepoints: tuple[Timepoint, ...]) -> None:
    if not timepoints:
        raise RecistInputError("timepoints: baseline missing; no timepoint given")
    baselines = [tp for tp in timepoints if tp.baseline]
    if not baselines:
        raise RecistInputError("timepoints: baseline missing; mark one timepoint baseline: true")
    if len(baselines) > 1:
        raise RecistInputError(
            f"timepoint {baselines[1].date}: a second baseline; exactly one timepoint is baseline"
        )
    if not timepoints[0].baseline:
        raise RecistInputError(
            f"timepoint {baselines[0].date}: baseline must be the first timepoint "
            f"(found after {timepoints[0].date})"
        )
    for before, after in itertools.pairwise(timepoints):
        if after.date <= before.date:
            raise RecistInputError(
                f"timepoint {after.date}: dates out of order; expected a date after {before.date}"
            )
    if timepoints[0].new_lesions:
        raise RecistInputError(
            f"timepoint {timepoints[0].date}: new lesions at baseline; "
            "new lesions are only recorded at follow-up"
        )


def check_readings(timepoint: Timepoint, lesions: dict[str, Lesion], criteria: Criteria) -> None:
    seen: set[str] = set()
    for reading in timepoint.measurements:
        where = f"timepoint {timepoint.date}, lesion {reading.lesion_id!r}"
        lesion = lesions.get(reading.lesion_id)
        if lesion is None:
            raise RecistInputError(f"{where}: unknown lesion; declare it in 'lesions'")
        if reading.lesion_id in seen:
            raise RecistInputError(f"{where}: measured twice at the same timepoint")
        seen.add(reading.lesion_id)
        try:
            if lesion.is_target:
                _check_target_reading(reading, criteria)
                target_value_mm(lesion, reading, criteria)
            else:
                _check_non_target_reading(lesion, reading)
        except RecistInputError as exc:
            message = str(exc).removeprefix(f"lesion {reading.lesion_id!r}: ")
            raise RecistInputError(f"{where}: {message}") from exc


def _check_target_reading(reading: Measurement, criteria: Criteria) -> None:
    if reading.status is not None and reading.has_size:
        raise RecistInputError(f"give either a size or status {str(reading.status)!r}, not both")
    if reading.diameter_mm is not None and reading.fragments_mm is not None:
        raise RecistInputError("give either diameter_mm or fragments_mm, not both")
    only_viable = reading.diameter_mm is None and reading.fragments_mm is None
    if criteria is Criteria.RECIST_1_1 and reading.viable_diameter_mm is not None and only_viable:
        raise RecistInputError(
            "viable_diameter_mm is only used under mRECIST; give diameter_mm "
            "or set options.criteria to 'mrecist'"
        )
    if reading.status is None and not reading.has_size:
        raise RecistInputError(
            "no size given; expected diameter_mm, fragments_mm or status "
            f"{[s.value for s in TargetStatus]}"
        )


def _check_non_target_reading(lesion: Lesion, reading: Measurement) -> None:
    if reading.fragments_mm is not None or reading.viable_diameter_mm is not None:
        raise RecistInputError(
            "fragments_mm and viable_diameter_mm apply to target lesions only; "
            "give a non-target status"
        )
    if reading.status is not None and reading.status not in NonTargetStatus.__members__.values():
        raise RecistInputError(
            f"status {str(reading.status)!r} is not valid for a non-target lesion; "
            f"expected one of {[s.value for s in NonTargetStatus]}"
        )
    if reading.status is None and reading.diameter_mm is None:
        raise RecistInputError(
            f"no status given; expected one of {[s.value for s in NonTargetStatus]}"
        )
    size = reading.diameter_mm
    if size is not None and reading.status == NonTargetStatus.ABSENT:
        visible = size >= NODE_NORMAL_MAX_MM if lesion.lymph_node else size > 0
        if visible:
            raise RecistInputError(f"status 'absent' contradicts diameter_mm {size}")
    if size == 0 and reading.status == NonTargetStatus.PRESENT and not lesion.lymph_node:
        raise RecistInputError("status 'present' contradicts diameter_mm 0")


def _check_baseline(baseline: Timepoint, lesions: tuple[Lesion, ...], criteria: Criteria) -> None:
    readings = {reading.lesion_id: reading for reading in baseline.measurements}
    for lesion in lesions:
        where = f"lesion {lesion.lesion_id!r}"
        reading = readings.get(lesion.lesion_id)
        if reading is None:
            raise RecistInputError(f"{where}: no reading at baseline ({baseline.date})")
        if lesion.is_target:
            _check_baseline_target(lesion, reading, baseline, criteria)
        elif non_target_status(lesion, reading) != NonTargetStatus.PRESENT:
            status = non_target_status(lesion, reading)
            if lesion.lymph_node and reading.diameter_mm is not None:
                raise RecistInputError(
                    f"{where}: non-target lymph node short axis {reading.diameter_mm} mm at "
                    f"baseline; a node < {NODE_NORMAL_MAX_MM} mm is normal and is not recorded "
                    "(RECIST 1.1 section 3.1.1)"
                )
            raise RecistInputError(
                f"{where}: non-target status {status.value!r} at baseline; expected 'present'"
            )


def _check_baseline_target(
    lesion: Lesion, reading: Measurement, baseline: Timepoint, criteria: Criteria
) -> None:
    where = f"lesion {lesion.lesion_id!r}"
    value = target_value_mm(lesion, reading, criteria) if reading.status is None else None
    if value is None:
        raise RecistInputError(
            f"{where}: target lesion not measured at baseline "
            f"(status {str(reading.status)!r}); a target needs a baseline diameter"
        )
    if lesion.lymph_node:
        if not is_measurable_node(value):
            raise RecistInputError(
                f"{where}: target lymph node short axis {value} mm at baseline is not "
                f"measurable; RECIST 1.1 requires >= {NODE_TARGET_MIN_SHORT_AXIS_MM} mm"
            )
        return
    thickness = reading.slice_thickness_mm
    if thickness is None:
        thickness = baseline.slice_thickness_mm
    if not is_measurable(value, thickness):
        rule = "long axis >= 10 mm"
        if thickness is not None:
            rule += f" and >= 2 x slice thickness ({thickness} mm) when thicker than 5 mm"
        raise RecistInputError(
            f"{where}: target lesion {value} mm at baseline is not measurable; "
            f"RECIST 1.1 requires {rule}"
        )
