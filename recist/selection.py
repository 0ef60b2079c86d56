"""Proposing the baseline target lesions (RECIST 1.1 section 4.2).

Targets are the largest measurable lesions, at most :data:`~recist.criteria.MAX_TARGETS` in all
and :data:`~recist.criteria.MAX_TARGETS_PER_ORGAN` per organ (lymph nodes count as one organ);
a lymph node is a possible target only with a short axis of at least
:data:`~recist.criteria.NODE_TARGET_MIN_SHORT_AXIS_MM`, and nodes are ranked by their short axis.
Every other lesion is a non-target. The guideline also asks targets to be suitable for
reproducible repeated measurement: that judgement stays with the reader, who confirms or changes
the proposal.

References
----------
.. [1] Eisenhauer EA et al., "New response evaluation criteria in solid tumours: revised RECIST
   guideline (version 1.1)", Eur J Cancer 45 (2009) 228-247, sections 3.1 and 4.2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from recist import criteria

__all__ = ["Candidate", "propose_targets"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A baseline lesion as measured: its size, organ, and whether it is measurable.

    ``measurable`` is the measurement's verdict for a non-nodal lesion (long axis against the
    10 mm / twice-the-slice-thickness rule); a node's is decided here by its short axis.
    """

    key: str
    organ: str
    long_axis_mm: float
    short_axis_mm: float
    measurable: bool
    lymph_node: bool = False

    @property
    def rank_mm(self) -> float:
        """The diameter that ranks it: short axis for nodes, long axis otherwise."""
        return self.short_axis_mm if self.lymph_node else self.long_axis_mm

    @property
    def target_eligible(self) -> bool:
        """Whether it may be a target at all."""
        if self.lymph_node:
            return Decimal(str(self.short_axis_mm)) >= criteria.NODE_TARGET_MIN_SHORT_AXIS_MM
        return self.measurable


def propose_targets(candidates: Sequence[Candidate]) -> list[str]:
    """Return the keys of the proposed targets, largest first; the other lesions are non-targets."""
    organ_of = {
        c.key: ("lymph node" if c.lymph_node else c.organ.strip().lower()) for c in candidates
    }
    ranked = sorted((c for c in candidates if c.target_eligible), key=lambda c: (-c.rank_mm, c.key))
    chosen: list[str] = []
    per_organ: dict[str, int] = {}
    for c in ranked:
        organ = organ_of[c.key]
        if len(chosen) == criteria.MAX_TARGETS:
            break
        if per_organ.get(organ, 0) == criteria.MAX_TARGETS_PER_ORGAN:
            continue
        chosen.append(c.key)
        per_organ[organ] = per_organ.get(organ, 0) + 1
    return chosen
