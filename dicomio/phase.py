"""Contrast phase of each series in a multiphase liver study.

The rules, in order of precedence:

1. **Series description keywords** (case-insensitive, whole words): ``late arterial`` -> arterial;
   ``non-contrast``, ``nativ(e)``, ``plain``, ``unenhanced``, ``pre-contrast``, ``w/o``,
   ``without contrast``, ``NC`` -> non-contrast; ``delayed``, ``delay``, ``equilibrium``,
   ``late phase``, ``late venous`` -> delayed; ``portal``, ``PV``, ``PVP``, ``venous`` -> portal
   venous; ``arterial``, ``art``, ``HAP``, ``early`` -> arterial.
2. **Contrast/Bolus Agent** says there was no contrast (``NONE``, ``NO``, ``NIL``) -> non-contrast.
   An empty agent means "unknown" (a Type 2 attribute), never "no contrast".
3. **Bolus timing**: the delay from ContrastBolusStartTime to AcquisitionTime. Below
   :data:`ARTERIAL_MAX_DELAY_S` -> arterial, below :data:`PORTAL_MAX_DELAY_S` -> portal venous,
   otherwise delayed.
4. **Acquisition order** among the contrast-enhanced series of one study, when at least two of
   them exist and the rules above left some unknown: a series with no earlier phase is arterial,
   and each following one takes the phase after the latest earlier one (arterial -> portal
   venous -> delayed). A lone contrast series with no other clue stays unknown: order says
   nothing about a single acquisition.

References
----------
.. [1] DICOM PS3.3 section C.7.6.4, "Contrast/Bolus Module" (ContrastBolusAgent is Type 2:
       empty when unknown).
.. [2] LI-RADS v2018 CT/MRI Core, "Arterial phase", "Portal venous phase", "Delayed phase":
       late arterial about 35 s, portal venous 60-80 s, delayed 2-5 min after injection.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from dicomio.model import Phase, SeriesSummary

__all__ = [
    "ARTERIAL_MAX_DELAY_S",
    "PORTAL_MAX_DELAY_S",
    "PhaseClues",
    "classify_phase",
    "order_phases",
    "phase_from_description",
    "study_phases",
]

#: Bolus-to-acquisition delay below which a series is arterial (LI-RADS: late arterial ~35 s).
ARTERIAL_MAX_DELAY_S = 50.0
#: Delay below which a series is portal venous (LI-RADS: 60-80 s; delayed from 2 min on).
PORTAL_MAX_DELAY_S = 120.0

_W = r"(?<![a-z0-9])"  # word start
_E = r"(?![a-z0-9])"  # word end
_KEYWORDS: tuple[tuple[re.Pattern[str], Phase], ...] = tuple(
    (re.compile(p), phase)
    for p, phase in (
        (_W + r"late[ _-]?arterial" + _E, Phase.ARTERIAL),
        (
            _W + r"(non[ _-]?contrast|non[ _-]?enhanced|unenhanced|nativ|native|plain|"
            r"pre[ _-]?contrast|without contrast|nc|w/o|wo contrast|sans contraste)" + _E,
            Phase.NON_CONTRAST,
        ),
        (
            _W + r"(delayed|delay|equilibrium|equil|late phase|late venous|spaet)" + _E,
            Phase.DELAYED,
        ),
        (
            _W + r"(portal|portal[ _-]?venous|portalvenous|pv|pvp|venous|ven|venoes)" + _E,
            Phase.PORTAL_VENOUS,
        ),
        (_W + r"(arterial|arteriell|art|hap|early arterial|early)" + _E, Phase.ARTERIAL),
    )
)
_NO_AGENT = {"NONE", "NO", "NIL", "N", "NO CONTRAST", "WITHOUT"}
_NEXT = {
    Phase.ARTERIAL: Phase.PORTAL_VENOUS,
    Phase.PORTAL_VENOUS: Phase.DELAYED,
    Phase.DELAYED: Phase.DELAYED,
}


@dataclass(frozen=True, slots=True)
class PhaseClues:
    """What one series' header says about its phase (the inputs of :func:`classify_phase`)."""

    description: str = ""
    contrast_agent: str | None = None
    contrast_route: str = ""
    contrast_delay_s: float | None = None


def phase_from_description(description: str) -> Phase:
    """Phase named by a series description's keywords, or ``UNKNOWN`` when it names none."""
    text = description.lower()
    for pattern, phase in _KEYWORDS:
        if pattern.search(text):
            return phase
    return Phase.UNKNOWN


def classify_phase(clues: PhaseClues) -> Phase:
    """Phase of one series from its own header (rules 1-3 of the module docstring)."""
    by_name = phase_from_description(clues.description)
    if by_name is not Phase.UNKNOWN:
        return by_name
    agent = (clues.contrast_agent or "").strip().upper()
    if agent in _NO_AGENT:
        return Phase.NON_CONTRAST
    if clues.contrast_delay_s is not None and clues.contrast_delay_s >= 0:
        if clues.contrast_delay_s < ARTERIAL_MAX_DELAY_S:
            return Phase.ARTERIAL
        if clues.contrast_delay_s < PORTAL_MAX_DELAY_S:
            return Phase.PORTAL_VENOUS
        return Phase.DELAYED
    return Phase.UNKNOWN


def _enhanced(clues: PhaseClues, phase: Phase) -> bool:
    if phase in (Phase.ARTERIAL, Phase.PORTAL_VENOUS, Phase.DELAYED):
        return True
    if phase is Phase.NON_CONTRAST:
        return False
    agent = (clues.contrast_agent or "").strip().upper()
    return bool(agent) and agent not in _NO_AGENT


@dataclass(frozen=True, slots=True)
class _Item:
    key: str
    study: str
    time: datetime | None
    clues: PhaseClues


def order_phases(items: Iterable[tuple[str, str, datetime | None, PhaseClues]]) -> dict[str, Phase]:
    """Phase per key for ``(key, study_uid, acquisition_time, clues)`` tuples (all four rules)."""
    entries = [_Item(*t) for t in items]
    out = {e.key: classify_phase(e.clues) for e in entries}
    studies: dict[str, list[_Item]] = defaultdict(list)
    for e in entries:
        if _enhanced(e.clues, out[e.key]) and e.time is not None:
            studies[e.study].append(e)
    for members in studies.values():
        if len(members) < 2:
            continue
        members.sort(key=lambda e: (e.time, e.key))
        latest: Phase | None = None
        for e in members:
            if out[e.key] is Phase.UNKNOWN:
                out[e.key] = Phase.ARTERIAL if latest is None else _NEXT[latest]
            latest = out[e.key]
    return out


def study_phases(summaries: Sequence[SeriesSummary]) -> dict[str, Phase]:
    """Phase per series for discovered series (all four rules of the module docstring).

    Only image series are classified. The keys are :attr:`SeriesSummary.key`: the
    SeriesInstanceUID, or the derived key of a series whose UID is empty.
    """
    return order_phases(
        (
            s.key,
            s.study_instance_uid or "",
            s.acquisition_time,
            PhaseClues(
                description=s.series_description,
                contrast_agent=s.contrast_agent,
                contrast_route=s.contrast_route,
                contrast_delay_s=s.contrast_delay_s,
            ),
        )
        for s in summaries
        if s.is_image
    )
