"""Small checked accessors for decoded JSON documents; errors name the field at fault."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from reporting.errors import ReportingInputError

_RESPONSES = frozenset({"CR", "PR", "SD", "PD", "NE", "NON_CR_NON_PD"})


def get(data: Mapping[str, Any], key: str, where: str) -> Any:
    """``data[key]``, or an error naming ``where.key`` when it is missing."""
    if key not in data:
        raise ReportingInputError(f"{where}: missing required key {key!r}")
    return data[key]


def text(data: Mapping[str, Any], key: str, where: str) -> str:
    value = get(data, key, where)
    if not isinstance(value, str) or not value.strip():
        raise ReportingInputError(f"{where}.{key}: expected a non-empty string")
    return value


def optional_text(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ReportingInputError(f"{where}.{key}: expected a string or null")
    return value


def _as_float(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReportingInputError(f"{where}: expected a number, got {type(value).__name__}")
    result = float(value)
    if not math.isfinite(result):
        raise ReportingInputError(f"{where}: expected a finite number")
    return result


def number(data: Mapping[str, Any], key: str, where: str) -> float:
    return _as_float(get(data, key, where), f"{where}.{key}")


def optional_number(data: Mapping[str, Any], key: str, where: str) -> float | None:
    value = data.get(key)
    return None if value is None else _as_float(value, f"{where}.{key}")


def response(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if value not in _RESPONSES:
        raise ReportingInputError(
            f"{where}.{key}: unknown response {value!r}; expected one of {sorted(_RESPONSES)}"
        )
    return str(value)


def as_date(value: object, where: str) -> dt.date:
    """Return an ISO ``YYYY-MM-DD`` string or a date (a datetime keeps its date)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            pass
    raise ReportingInputError(f"{where}: expected an ISO date YYYY-MM-DD, got {value!r}")


def endpoints(
    value: object, where: str, which: str
) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """``[[row, col], [row, col]]`` as a tuple of two float pairs, or ``None`` when absent."""
    if value is None:
        return None
    try:
        raw: Any = value
        (r0, c0), (r1, c1) = raw
        pts = (
            (_as_float(r0, where), _as_float(c0, where)),
            (_as_float(r1, where), _as_float(c1, where)),
        )
    except (TypeError, ValueError) as exc:
        raise ReportingInputError(
            f"{where}: {which}_axis_endpoints_rc must be [[row, col], [row, col]]"
        ) from exc
    return pts
