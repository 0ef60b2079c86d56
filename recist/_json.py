"""Conversion between the contract's JSON documents and the domain records.

The contract is ``shared/contracts/recist-assess.md``: input keys are checked strictly (type,
presence, option names) and every error names the field, lesion or timepoint at fault; output
holds the contract's keys in the contract's order, then additions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

from recist._decimal import to_decimal
from recist.errors import RecistInputError
from recist.model import (
    Assessment,
    AssessmentInput,
    Lesion,
    LesionRole,
    Measurement,
    NewLesion,
    NonTargetStatus,
    Options,
    ScopeResult,
    TargetStatus,
    Timepoint,
    TimepointResult,
)

__all__ = ["parse_input", "to_json_dict"]

T = TypeVar("T")
_OPTION_KEYS = frozenset(
    {"confirmation_required", "confirmation_min_days", "sd_min_days", "continued_pr", "criteria"}
)


def parse_input(data: Mapping[str, Any]) -> AssessmentInput:
    """Build an :class:`AssessmentInput` from the contract's input JSON (already decoded)."""
    obj = _mapping(data, "input")
    subject_id = _get(obj, "subject_id", "input", _text)
    reference = obj.get("reference_date")
    reference_date = None if reference is None else _date(reference, "reference_date")
    options = _options(obj.get("options", {}))
    raw_lesions = _get(obj, "lesions", "input", _list)
    lesions = tuple(_lesion(raw, f"lesions[{i}]") for i, raw in enumerate(raw_lesions))
    roles = {lesion.lesion_id: lesion for lesion in lesions}
    raw_timepoints = _get(obj, "timepoints", "input", _list)
    timepoints = tuple(
        _timepoint(raw, f"timepoints[{i}]", roles) for i, raw in enumerate(raw_timepoints)
    )
    return AssessmentInput(subject_id, lesions, timepoints, options, reference_date)


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RecistInputError(f"{where}: expected a JSON object, got {_kind(value)}")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise RecistInputError(f"{where}: expected a JSON array, got {_kind(value)}")
    return value


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RecistInputError(f"{where}: expected a non-empty string, got {_kind(value)}")
    return value


def _flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise RecistInputError(f"{where}: expected true or false, got {_kind(value)}")
    return value


def _number(value: object, where: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, float | int):
        raise RecistInputError(f"{where}: expected a number, got {_kind(value)}")
    return value


def _length(value: object, where: str) -> Decimal | None:
    if value is None:
        return None
    return to_decimal(_number(value, where), what=where)


def _date(value: object, where: str) -> dt.date:
    text = _text(value, where)
    try:
        if len(text) != len("YYYY-MM-DD"):
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise RecistInputError(f"{where}: expected an ISO date YYYY-MM-DD, got {text!r}") from exc


def _kind(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             int: "a number", float: "a number"}  # fmt: skip
    if value is None:
        return "null"
    return names.get(type(value), f"a {type(value).__name__}")


def _get(obj: Mapping[str, Any], key: str, where: str, check: Callable[[object, str], T]) -> T:
    if key not in obj:
        raise RecistInputError(f"{where}: missing required key {key!r}")
    return check(obj[key], f"{where}.{key}" if where != "input" else key)


def _role(value: object, where: str) -> LesionRole:
    allowed = [role.value for role in LesionRole]
    if value not in allowed:
        raise RecistInputError(f"{where}: {value!r} unknown; expected one of {allowed}")
    return LesionRole(value)


def _options(value: object) -> Options:
    obj = _mapping(value, "options")
    unknown = sorted(set(obj) - _OPTION_KEYS)
    if unknown:
        raise RecistInputError(
            f"options: unknown option {unknown[0]!r}; expected some of {sorted(_OPTION_KEYS)}"
        )
    return Options(**obj)


def _lesion(value: object, where: str) -> Lesion:
    obj = _mapping(value, where)
    lesion_id = _get(obj, "lesion_id", where, _text)
    where = f"lesion {lesion_id!r}"
    return Lesion(
        lesion_id=lesion_id,
        organ=_get(obj, "organ", where, _text),
        lymph_node=_get(obj, "lymph_node", where, _flag),
        role=_get(obj, "role", where, _role),
    )


def _timepoint(value: object, where: str, lesions: Mapping[str, Lesion]) -> Timepoint:
    obj = _mapping(value, where)
    date = _get(obj, "date", where, _date)
    where = f"timepoint {date}"
    raw_readings = _list(obj.get("measurements", []), f"{where}: measurements")
    raw_new = _list(obj.get("new_lesions", []), f"{where}: new_lesions")
    thickness = obj.get("slice_thickness_mm")
    try:
        return Timepoint(
            date=date,
            baseline=_flag(obj.get("baseline", False), f"{where}: baseline"),
            measurements=tuple(_measurement(raw, where, lesions) for raw in raw_readings),
            new_lesions=tuple(_new_lesion(raw, where) for raw in raw_new),
            slice_thickness_mm=_length(thickness, f"{where}: slice_thickness_mm"),
        )
    except RecistInputError as exc:
        message = str(exc)
        if not message.startswith(where):
            message = (
                f"{where}, {message}" if message.startswith("lesion ") else f"{where}: {message}"
            )
        raise RecistInputError(message) from exc


_SIZE_KEYS = ("diameter_mm", "viable_diameter_mm", "slice_thickness_mm")


def _measurement(value: object, where: str, lesions: Mapping[str, Lesion]) -> Measurement:
    obj = _mapping(value, f"{where}: measurement")
    lesion_id = _get(obj, "lesion_id", f"{where}: measurement", _text)
    lesion = lesions.get(lesion_id)
    where = f"lesion {lesion_id!r}"
    if lesion is None:
        raise RecistInputError(f"{where}: unknown lesion; declare it in 'lesions'")
    sizes = {key: _length(obj[key], f"{where}: {key}") for key in _SIZE_KEYS if key in obj}
    fragments = None
    if obj.get("fragments_mm") is not None:
        raw_fragments = _list(obj["fragments_mm"], f"{where}: fragments_mm")
        fragments = tuple(
            to_decimal(_number(v, f"{where}: fragments_mm"), what=f"{where}: fragments_mm")
            for v in raw_fragments
        )
    raw_status = obj.get("status")
    status: TargetStatus | NonTargetStatus | None = None
    if raw_status is not None:
        enum = TargetStatus if lesion.is_target else NonTargetStatus
        allowed = [s.value for s in enum]
        if raw_status not in allowed:
            role = "target" if lesion.is_target else "non-target"
            raise RecistInputError(
                f"{where}: status {raw_status!r} is not valid for a {role} lesion; "
                f"expected one of {allowed}"
            )
        status = enum(raw_status)
    return Measurement(lesion_id=lesion_id, status=status, fragments_mm=fragments, **sizes)


def _new_lesion(value: object, where: str) -> NewLesion:
    obj = _mapping(value, f"{where}: new lesion")
    return NewLesion(
        organ=_get(obj, "organ", f"{where}: new lesion", _text),
        equivocal=_flag(obj.get("equivocal", False), f"{where}: new lesion equivocal"),
    )


def _mm(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _response(value: object) -> str | None:
    return None if value is None else str(value)


def _scope_dict(result: ScopeResult) -> dict[str, Any]:
    return {
        "sum_mm": _mm(result.sum_mm),
        "evaluated_sum_mm": _mm(result.evaluated_sum_mm),
        "nadir_mm": _mm(result.nadir_mm),
        "target_response": _response(result.target_response),
        "non_target_response": _response(result.non_target_response),
        "new_lesions": result.new_lesions,
        "equivocal_new_lesions": result.equivocal_new_lesions,
        "overall_response": _response(result.overall_response),
        "notes": list(result.notes),
    }


def _timepoint_dict(result: TimepointResult) -> dict[str, Any]:
    whole = result.all_lesions
    return {
        "date": result.date.isoformat(),
        "baseline": result.baseline,
        "sum_mm": _mm(whole.sum_mm),
        "nadir_mm": _mm(whole.nadir_mm),
        "target_response": _response(whole.target_response),
        "non_target_response": _response(whole.non_target_response),
        "new_lesions": whole.new_lesions,
        "overall_response": _response(whole.overall_response),
        "hepatic_response": _response(result.hepatic_response),
        "days_from_reference": result.days_from_reference,
        "evaluated_sum_mm": _mm(whole.evaluated_sum_mm),
        "equivocal_new_lesions": whole.equivocal_new_lesions,
        "notes": list(whole.notes),
        "hepatic": _scope_dict(result.hepatic),
    }


def to_json_dict(assessment: Assessment) -> dict[str, Any]:
    """Render an :class:`Assessment` as the contract's output JSON (floats, strings, ISO dates)."""
    progression = assessment.hepatic_progression
    return {
        "subject_id": assessment.subject_id,
        "timepoints": [_timepoint_dict(tp) for tp in assessment.timepoints],
        "best_overall_response": str(assessment.best_overall_response),
        "hepatic_progression": {
            "progressed": progression.progressed,
            "date": None if progression.date is None else progression.date.isoformat(),
        },
        "criteria": str(assessment.criteria),
        "hepatic_best_overall_response": _response(assessment.hepatic_best_overall_response),
    }
