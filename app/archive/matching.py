r"""QIDO-RS query parameters and attribute matching.

Query keys name an attribute by keyword (``StudyDate``) or tag (``00080020``). Matching follows
PS3.4 C.2.2.2: an empty value or ``*`` matches everything (universal matching); UIDs match
exactly, or any of a list separated by ``,`` or ``\`` (UID list matching); dates and times
match a range ``a-b``, ``a-`` or ``-b`` (range matching) or exactly; other strings match exactly
or with the wildcards ``*`` and ``?`` (person names ignoring case); numbers compare as numbers. A
multi-valued attribute matches when one of its values does. ``limit``, ``offset`` and
``includefield`` (``all`` or attribute ids, repeated or comma-separated) shape the answer;
``fuzzymatching`` is accepted and ignored (literal matching only).

References
----------
DICOM PS3.18 section 8.3.4 (Query parameters); PS3.4 section C.2.2.2 (Attribute matching).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from app.errors import InvalidRequestError
from dicomio.dicomjson import dictionary_vr, keyword_for_tag, tag_for_keyword

__all__ = ["Filter", "QidoQuery", "attribute_tag", "matches", "parse_query", "tag_key"]

_TAG_RE = re.compile(r"^[0-9A-Fa-f]{8}$")
_NUMERIC_VRS = {"IS", "DS", "US", "SS", "UL", "SL", "UV", "SV", "FL", "FD"}
_DATE_VRS = {"DA", "TM", "DT"}
_RESERVED = {"limit", "offset", "includefield", "fuzzymatching"}


def tag_key(tag: int) -> str:
    """Return the DICOM JSON key of a tag (8 upper-case hex digits)."""
    return f"{tag:08X}"


def attribute_tag(attribute_id: str) -> int:
    """Return the tag of an attribute named by keyword or by 8 hex digits; else a 422 error."""
    text = attribute_id.strip()
    if _TAG_RE.match(text):
        return int(text, 16)
    tag = tag_for_keyword(text)
    if tag is None:
        raise InvalidRequestError(
            f"unknown attribute {text[:64]!r}; expected a DICOM keyword or an 8-hex-digit tag"
        )
    return tag


@dataclass(frozen=True, slots=True)
class Filter:
    """One matching key: the attribute, its VR and the query value."""

    tag: int
    vr: str
    value: str

    @property
    def key(self) -> str:
        """The attribute's DICOM JSON key."""
        return tag_key(self.tag)


@dataclass(frozen=True, slots=True)
class QidoQuery:
    """A parsed QIDO-RS query."""

    filters: tuple[Filter, ...]
    include_all: bool
    include: frozenset[int]
    limit: int | None
    offset: int
    ignored: tuple[str, ...]


def _int_param(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise InvalidRequestError(f"{name}={value[:32]!r}; expected a non-negative integer")
    return number


def parse_query(items: Iterable[tuple[str, str]], supported: frozenset[int]) -> QidoQuery:
    """Parse query parameters; keys of attributes outside ``supported`` are ignored (reported)."""
    filters: list[Filter] = []
    include: set[int] = set()
    include_all = False
    limit: int | None = None
    offset = 0
    ignored: list[str] = []
    for name, value in items:
        lowered = name.lower()
        if lowered == "limit":
            limit = _int_param("limit", value)
        elif lowered == "offset":
            offset = _int_param("offset", value)
        elif lowered == "includefield":
            for item in value.split(","):
                if item.strip().lower() == "all":
                    include_all = True
                elif item.strip():
                    include.add(attribute_tag(item.split(".")[0]))
        elif lowered == "fuzzymatching":
            continue
        elif "." in name:
            ignored.append(name[:64])  # sequence matching is not supported
        else:
            tag = attribute_tag(name)
            if tag in supported:
                filters.append(Filter(tag, dictionary_vr(tag), value))
            else:
                ignored.append(keyword_for_tag(tag) or tag_key(tag))
    return QidoQuery(tuple(filters), include_all, frozenset(include), limit, offset, tuple(ignored))


def _values(element: Mapping[str, Any] | None) -> list[str]:
    if not element:
        return []
    out = []
    for v in element.get("Value") or []:
        if isinstance(v, dict):
            v = v.get("Alphabetic", "")
        out.append("" if v is None else str(v))
    return out


def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(body, re.IGNORECASE if ignore_case else 0)


def _norm_time(value: str) -> str:
    return value.replace(":", "").strip()


def _in_range(value: str, query: str, vr: str) -> bool:
    low, _, high = query.partition("-")
    if vr == "TM":
        value, low, high = _norm_time(value), _norm_time(low), _norm_time(high)
    value = value.strip()
    if low and value[: len(low)] < low:
        return False
    return not high or value[: len(high)] <= high


def _number_equal(value: str, query: str) -> bool:
    try:
        return float(value) == float(query)
    except ValueError:
        return False


def matches(flt: Filter, element: Mapping[str, Any] | None) -> bool:
    """Whether an attribute (DICOM JSON element, or None when absent) matches the filter."""
    query = flt.value.strip()
    if query in ("", "*"):
        return True
    values = _values(element)
    if flt.vr == "UI":
        wanted = {u.strip() for u in re.split(r"[,\\]", query) if u.strip()}
        return any(v in wanted for v in values)
    if flt.vr in _DATE_VRS:
        if "-" in query and (flt.vr != "DT" or query.count("-") == 1):
            return any(_in_range(v, query, flt.vr) for v in values)
        if flt.vr == "TM":
            return any(_norm_time(v).startswith(_norm_time(query)) for v in values)
        return any(v == query for v in values)
    if flt.vr in _NUMERIC_VRS:
        return any(_number_equal(v, query) for v in values)
    ignore_case = flt.vr == "PN"
    if "*" in query or "?" in query or ignore_case:
        pattern = _wildcard(query, ignore_case)
        return any(pattern.fullmatch(v) for v in values)
    return any(v == query for v in values)
