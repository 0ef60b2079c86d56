"""Tolerant conversion of DICOM attribute values (DS, IS, TM, DA, DT, UI) to Python values.

Real files carry empty, malformed or oddly typed values; these helpers return ``None`` instead of
raising, so the caller decides whether a missing value is an error.

References
----------
.. [1] DICOM PS3.5 section 6.2, "Value Representation (VR)".
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

__all__ = [
    "as_datetime",
    "as_float",
    "as_floats",
    "as_int",
    "as_str",
    "as_uid",
    "tm_seconds",
]

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_TM = re.compile(r"^(\d{2})(?::?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?)?$")
_DA = re.compile(r"^(\d{4})\.?(\d{2})\.?(\d{2})$")


def as_str(value: Any) -> str:
    r"""Return a stripped string, ``""`` when missing or empty (multi-values joined by ``\``)."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("ascii", "replace").strip("\0 ")
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "\\".join(as_str(v) for v in value)
    return str(value).strip("\0 ")


def as_uid(value: Any) -> str:
    """Return a UID string, ``""`` when missing, empty or not a valid UID."""
    s = as_str(value)
    return s if _UID.match(s) else ""


def as_float(value: Any) -> float | None:
    """Return a finite float, or ``None``."""
    if value is None or value == "":
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def as_floats(value: Any, n: int) -> tuple[float, ...] | None:
    """Exactly ``n`` finite floats (a DS multi-value), or ``None``."""
    if value is None or isinstance(value, str | bytes):
        return None
    try:
        items = list(value)
    except TypeError:
        return None
    if len(items) != n:
        return None
    out = [as_float(v) for v in items]
    if any(v is None for v in out):
        return None
    return tuple(float(v) for v in out if v is not None)


def as_int(value: Any) -> int | None:
    """Return an integer, or ``None`` (``"1A"`` and other malformed IS values give ``None``)."""
    if value is None or value == "":
        return None
    try:
        f = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f) or f != int(f):
        return None
    return int(f)


def tm_seconds(value: Any) -> float | None:
    """Seconds since midnight of a TM value (``HHMMSS.FFFFFF``, ``HH:MM:SS`` ...), or ``None``."""
    m = _TM.match(as_str(value))
    if not m:
        return None
    hh, mm, ss, frac = m.groups()
    secs = int(hh) * 3600 + int(mm or 0) * 60 + int(ss or 0)
    if frac:
        secs += int(frac) / 10 ** len(frac)
    return float(secs) if secs < 86400 + 1 else None


def _da(value: Any) -> date | None:
    m = _DA.match(as_str(value))
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def as_datetime(date_value: Any, time_value: Any, dt_value: Any = None) -> datetime | None:
    """Return a naive datetime from a DT value, or DA + TM (date 1900-01-01 when DA is missing)."""
    dt_str = as_str(dt_value)
    if len(dt_str) >= 8:
        d = _da(dt_str[:8])
        t = tm_seconds(dt_str[8:].split("+")[0].split("-")[0]) if len(dt_str) > 8 else 0.0
        if d is not None and t is not None:
            return datetime.combine(d, time()) + timedelta(seconds=t)
    t = tm_seconds(time_value)
    if t is None:
        return None
    d = _da(date_value) or date(1900, 1, 1)
    return datetime.combine(d, time()) + timedelta(seconds=t)
