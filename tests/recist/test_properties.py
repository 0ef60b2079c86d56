"""Property-based tests of invariants of the RECIST 1.1 engine (hypothesis)."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from recist import assess

FAST = settings(max_examples=100, deadline=None, database=None)  # no .hypothesis/ in the repo
START = dt.date(2020, 1, 1)
RANK = {"CR": 5, "PR": 4, "SD": 3, "NON_CR_NON_PD": 3, "NE": 2, "PD": 1}
TARGET_SITES = [("liver", False), ("lung", False), ("kidney", False), ("lymph node", True)]
NON_TARGET_SITES = [("liver", False), ("bone", False), ("lymph node", True)]
NEW_ORGANS = ["liver", "lung"]


def _tenths(low: int, high: int) -> st.SearchStrategy[float]:
    return st.integers(low * 10, high * 10).map(lambda tenths: tenths / 10)


@st.composite
def subjects(draw: st.DrawFn) -> dict[str, Any]:
    """A valid subject: up to 5 targets (<= 2 per organ), non-targets, 1-4 follow-ups."""
    lesions: list[dict[str, Any]] = []
    for organ, node in TARGET_SITES:
        for _ in range(draw(st.integers(0, 2))):
            lesions.append({"organ": organ, "lymph_node": node, "role": "target"})
    lesions = lesions[:5]
    for _ in range(draw(st.integers(0 if lesions else 1, 3))):
        organ, node = draw(st.sampled_from(NON_TARGET_SITES))
        lesions.append({"organ": organ, "lymph_node": node, "role": "non_target"})
    for number, lesion in enumerate(lesions):
        lesion["lesion_id"] = f"{'T' if lesion['role'] == 'target' else 'NT'}{number}"
    criteria = draw(st.sampled_from(["recist1.1", "mrecist"]))
    statuses = ["absent", "not_evaluated"] + (["too_small"] if criteria == "recist1.1" else [])
    options = {
        "confirmation_required": draw(st.booleans()),
        "confirmation_min_days": draw(st.sampled_from([0, 28])),
        "sd_min_days": draw(st.sampled_from([0, 42])),
        "continued_pr": draw(st.booleans()),
        "criteria": criteria,
    }

    def baseline_reading(lesion: dict[str, Any]) -> dict[str, Any]:
        if lesion["role"] == "non_target":
            return {"status": "present"}
        return {"diameter_mm": draw(_tenths(15 if lesion["lymph_node"] else 10, 60))}

    def follow_up_reading(lesion: dict[str, Any], all_gone: bool) -> dict[str, Any]:
        if all_gone:  # complete responses make "reappearance after CR" reachable
            return {"status": "absent"}
        if lesion["role"] == "non_target":
            choices = (
                ["present"] * 3 + ["absent"] * 3 + ["not_evaluated", "unequivocal_progression"]
            )
            return {"status": draw(st.sampled_from(choices))}
        if draw(st.integers(0, 3)) == 0:
            return {"status": draw(st.sampled_from(statuses))}
        return {"diameter_mm": draw(_tenths(0, 80))}

    timepoints = [{"date": START.isoformat(), "baseline": True, "new_lesions": [],
                   "measurements": [{"lesion_id": les["lesion_id"], **baseline_reading(les)}
                                    for les in lesions]}]  # fmt: skip
    day = 0
    for _ in range(draw(st.integers(1, 4))):
        day += draw(st.integers(14, 70))
        found = st.lists(
            st.tuples(st.sampled_from(NEW_ORGANS), st.booleans()), min_size=1, max_size=2
        )
        new = draw(st.one_of(st.just([]), st.just([]), found))
        all_gone = draw(st.booleans())
        timepoints.append({
            "date": (START + dt.timedelta(days=day)).isoformat(),
            "measurements": [{"lesion_id": les["lesion_id"], **follow_up_reading(les, all_gone)}
                             for les in lesions],
            "new_lesions": [{"organ": organ, "equivocal": eq} for organ, eq in new],
        })  # fmt: skip
    return {"subject_id": "S-PROP", "options": options, "lesions": lesions,
            "timepoints": timepoints}  # fmt: skip


def _not_better(new: str | None, old: str | None) -> bool:
    if old is None:
        return new in (None, "PD")
    return new is not None and RANK[new] <= RANK[old]


@FAST
@given(subjects(), st.data())
def test_listing_order_never_changes_anything(subject: dict[str, Any], data: st.DataObject) -> None:
    """RECIST 1.1 §4.2-4.4: the order of lesions, readings and new lesions is irrelevant."""
    shuffled = copy.deepcopy(subject)
    shuffled["lesions"] = data.draw(st.permutations(shuffled["lesions"]))
    for timepoint in shuffled["timepoints"]:
        timepoint["measurements"] = data.draw(st.permutations(timepoint["measurements"]))
        timepoint["new_lesions"] = data.draw(st.permutations(timepoint["new_lesions"]))
    assert assess(shuffled) == assess(subject)


def _reading(lesion_id: str, status: str) -> dict[str, str]:
    return {"lesion_id": lesion_id, "status": status}


# All lesions gone at the first follow-up, then only the non-target back: PD by reappearance
# after CR, which a new lesion at the first follow-up must not turn into something better.
REAPPEARANCE = {
    "subject_id": "S-PROP",
    "lesions": [
        {"lesion_id": "T1", "organ": "liver", "lymph_node": False, "role": "target"},
        {"lesion_id": "NT1", "organ": "bone", "lymph_node": False, "role": "non_target"},
    ],
    "timepoints": [
        {"date": "2020-01-01", "baseline": True, "new_lesions": [],
         "measurements": [{"lesion_id": "T1", "diameter_mm": 20}, _reading("NT1", "present")]},
        {"date": "2020-03-01", "new_lesions": [],
         "measurements": [_reading("T1", "absent"), _reading("NT1", "absent")]},
        {"date": "2020-05-01", "new_lesions": [],
         "measurements": [_reading("T1", "absent"), _reading("NT1", "present")]},
    ],
}  # fmt: skip


@FAST
@given(subjects(), st.integers(1, 4), st.sampled_from(NEW_ORGANS))
@example(REAPPEARANCE, 1, "lung")
def test_a_new_lesion_never_improves_a_response(
    subject: dict[str, Any], k_choice: int, organ: str
) -> None:
    """RECIST 1.1 §4.3.4: an unequivocal new lesion is PD and never makes any response better."""
    k = min(k_choice, len(subject["timepoints"]) - 1)
    worse = copy.deepcopy(subject)
    worse["timepoints"][k]["new_lesions"].append({"organ": organ, "equivocal": False})
    before, after = assess(subject), assess(worse)
    assert after["timepoints"][k]["overall_response"] == "PD"
    if organ == "liver":
        assert after["timepoints"][k]["hepatic_response"] == "PD"
        assert after["hepatic_progression"]["progressed"]
    for old, new in zip(before["timepoints"], after["timepoints"], strict=True):
        assert _not_better(new["overall_response"], old["overall_response"])
        assert _not_better(new["hepatic_response"], old["hepatic_response"])
    assert _not_better(after["best_overall_response"], before["best_overall_response"])
    assert _not_better(
        after["hepatic_best_overall_response"], before["hepatic_best_overall_response"]
    )


def _organs(timepoint: dict[str, Any], *, equivocal: bool, liver_only: bool) -> set[str]:
    return {
        n["organ"]
        for n in timepoint["new_lesions"]
        if n["equivocal"] is equivocal and (n["organ"] == "liver" or not liver_only)
    }


def _same_or_backdated(old: dict[str, Any], new: dict[str, Any], confirmable: set[str]) -> bool:
    """Unchanged, or PD dated back for an equivocal lesion the added timepoint confirms."""
    if old == new:
        return True
    unchanged = ("sum_mm", "nadir_mm", "target_response", "non_target_response")
    return (
        bool(confirmable)
        and all(old[key] == new[key] for key in unchanged)
        and new["overall_response"] == "PD"
        and new["new_lesions"]
        and new["equivocal_new_lesions"]
    )


@FAST
@given(subjects())
def test_adding_a_timepoint_never_changes_earlier_ones(subject: dict[str, Any]) -> None:
    """RECIST 1.1 §4.3.4: a new timepoint only changes earlier ones by dating back equivocal PD."""
    prefix = copy.deepcopy(subject)
    added = prefix["timepoints"].pop()
    before, after = assess(prefix), assess(subject)
    pairs = zip(prefix["timepoints"], before["timepoints"], after["timepoints"], strict=False)
    for given_tp, old, new in pairs:
        for liver_only in (False, True):
            confirmable = _organs(given_tp, equivocal=True, liver_only=liver_only) & _organs(
                added, equivocal=False, liver_only=liver_only
            )
            if liver_only:
                old_scope, new_scope = old["hepatic"], new["hepatic"]
            else:
                old_scope = {k: v for k, v in old.items() if k != "hepatic"}
                new_scope = {k: v for k, v in new.items() if k != "hepatic"}
            assert _same_or_backdated(old_scope, new_scope, confirmable)


@FAST
@given(subjects(), st.data())
def test_unequivocal_pd_is_never_followed_by_a_better_best_response(
    subject: dict[str, Any], data: st.DataObject
) -> None:
    """RECIST 1.1 §4.4.3: the best overall response counts nothing after an unequivocal PD."""
    k = data.draw(st.integers(1, len(subject["timepoints"]) - 1))
    subject["timepoints"][k]["new_lesions"].append({"organ": "liver", "equivocal": False})
    until_pd = copy.deepcopy(subject)
    del until_pd["timepoints"][k + 1 :]
    full, truncated = assess(subject), assess(until_pd)
    for key in ("best_overall_response", "hepatic_best_overall_response"):
        assert _not_better(full[key], truncated[key])
    responses = [tp["overall_response"] for tp in full["timepoints"][1 : k + 1]]
    if all(r in ("PD", "NE") for r in responses):
        assert full["best_overall_response"] == "PD"
