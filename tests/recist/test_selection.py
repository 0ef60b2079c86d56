"""Baseline target proposal: largest measurable lesions, at most 5 in all and 2 per organ."""

from __future__ import annotations

from recist.selection import Candidate, propose_targets


def _c(key: str, organ: str, long_mm: float, measurable: bool = True, **kw: object) -> Candidate:
    return Candidate(key, organ, long_mm, kw.pop("short_mm", long_mm / 2), measurable, **kw)  # type: ignore[arg-type]


def test_largest_measurable_two_per_organ_five_in_all() -> None:
    lesions = [
        _c("a", "liver", 40),
        _c("b", "Liver", 35),
        _c("c", "liver", 30),  # third liver: NT
        _c("d", "lung", 22),
        _c("e", "lung", 21),
        _c("f", "adrenal", 18),
        _c("g", "bone", 50, measurable=False),  # not measurable: NT whatever its size
        _c("h", "kidney", 12),  # sixth eligible: over five
    ]
    assert propose_targets(lesions) == ["a", "b", "d", "e", "f"]


def test_nodes_by_short_axis_15mm_and_one_organ() -> None:
    lesions = [
        _c("n1", "mediastinum", 30, short_mm=16.0, lymph_node=True),
        _c("n2", "hilum", 25, short_mm=15.0, lymph_node=True),
        _c("n3", "axilla", 40, short_mm=14.9, lymph_node=True),  # pathological, not a target
        _c("n4", "neck", 20, short_mm=20.0, lymph_node=True),  # third node: nodes are one organ
        _c("l1", "liver", 12),
    ]
    assert propose_targets(lesions) == ["n4", "n1", "l1"]


def test_no_candidates_and_ties_by_key() -> None:
    assert propose_targets([]) == []
    assert propose_targets([_c("b", "liver", 20), _c("a", "liver", 20)]) == ["a", "b"]
