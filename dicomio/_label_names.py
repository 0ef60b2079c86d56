"""Segment names: wildcard matching, the default liver/tumour names, single-lesion names.

The defaults follow contracts/measure.md: for SEG and RTSTRUCT the liver is any segment whose name
matches ``liver*`` and the tumour any segment matching ``*tumo*r*``, ``*lesion*`` or ``*metast*``,
case-insensitive. A name that matches both (``Liver tumor``, ``liver_lesion``) is a tumour, never
the liver: otherwise the default liver would swallow the tumours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "DEFAULT_LIVER_PATTERNS",
    "DEFAULT_TUMOR_PATTERNS",
    "is_single_lesion_name",
    "matches_any",
    "wildcard_regex",
]

DEFAULT_LIVER_PATTERNS = ("liver*",)
DEFAULT_TUMOR_PATTERNS = ("*tumo*r*", "*lesion*", "*metast*")

#: A name that says it is one numbered lesion: "Tumor 1", "tumour_02", "lesion-3", "Metastasis 4",
#: "liver lesion 2", "met 5", "nodule 1", and the RECIST shorthands "TL1" / "NTL 2".
_SINGLE_LESION = re.compile(
    r"""^(?:.*[\s_\-.])?                        # optional prefix ending in a separator
        (?:tumou?r|lesion|metastas[ie]s|metastatic\s+lesion|mets?|nodule|n?tl)
        [\s_\-.#]*(?:no\.?\s*)?\d+$             # separators, optional "no.", the number
    """,
    re.IGNORECASE | re.VERBOSE,
)


def wildcard_regex(pattern: str) -> re.Pattern[str]:
    """Case-insensitive full-match regex for a name pattern where only ``*`` is special."""
    parts = (re.escape(p) for p in pattern.strip().split("*"))
    return re.compile(".*".join(parts), re.IGNORECASE | re.DOTALL)


def matches_any(name: str, patterns: Iterable[str]) -> bool:
    """Whether ``name`` (stripped) fully matches one of the ``*``-wildcard patterns."""
    text = name.strip()
    return any(wildcard_regex(p).fullmatch(text) for p in patterns)


def is_single_lesion_name(name: str) -> bool:
    """Whether a SEG segment label / RTSTRUCT ROI name says it is exactly one, numbered lesion."""
    return bool(_SINGLE_LESION.match(name.strip()))
