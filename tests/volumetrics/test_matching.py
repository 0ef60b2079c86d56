"""Linking the lesions of two visits: one to one, split, merged, absent and new.

Synthetic label arrays on a 1 mm grid where every expected link is known by construction.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from volumetrics import MatchTolerances, VolumetricsError, match_lesions

SHAPE = (40, 120, 120)


def _ball(labels: npt.NDArray[np.int32], center: tuple[int, int, int], r: int, n: int) -> None:
    z, y, x = np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    inside = (z - center[0]) ** 2 + (y - center[1]) ** 2 + (x - center[2]) ** 2 <= r * r
    labels[inside & (labels == 0)] = n


def _centroids(labels: npt.NDArray[np.int32], n: int) -> npt.NDArray[np.float64]:
    """Centroids in mm as (x, y, z) on the 1 mm grid."""
    out = np.zeros((n, 3))
    for k in range(1, n + 1):
        zz, yy, xx = np.nonzero(labels == k)
        out[k - 1] = (xx.mean(), yy.mean(), zz.mean())
    return out


def _link(earlier: npt.NDArray[np.int32], later: npt.NDArray[np.int32], n_a: int, n_b: int):
    return match_lesions(
        earlier,
        later,
        _centroids(earlier, n_a),
        _centroids(later, n_b),
        [20.0] * n_a,
        [20.0] * n_b,
    )


def test_lesions_that_shrink_grow_or_move_a_little_are_matched_one_to_one() -> None:
    a = np.zeros(SHAPE, np.int32)
    b = np.zeros(SHAPE, np.int32)
    _ball(a, (20, 30, 30), 10, 1)
    _ball(a, (20, 30, 90), 8, 2)
    _ball(a, (20, 90, 60), 6, 3)
    _ball(b, (20, 31, 29), 5, 1)  # L1 halved
    _ball(b, (20, 90, 63), 9, 2)  # L3 grew and moved 3 mm: numbered 2 at the later visit
    _ball(b, (22, 36, 96), 8, 3)  # L2 moved 8.7 mm, no overlap left... still within tolerance
    links = _link(a, b, 3, 3)
    pairs = {(lk.earlier, lk.later, lk.kind) for lk in links.links}
    assert pairs == {((1,), (1,), "matched"), ((2,), (3,), "matched"), ((3,), (2,), "matched")}
    assert links.absent == () and links.new == ()
    by_earlier = {lk.earlier[0]: lk for lk in links.links}
    assert by_earlier[1].overlap == pytest.approx(1.0)  # the shrunken lesion lies inside
    assert by_earlier[2].distance_mm == pytest.approx(np.sqrt(2**2 + 6**2 + 6**2), abs=0.3)
    assert all(0.0 <= lk.confidence <= 1.0 for lk in links.links)


def test_assignment_is_global_not_nearest_centroid() -> None:
    """The least total distance wins, not the closest pair first (greedy nearest centroid)."""
    a = np.zeros(SHAPE, np.int32)
    b = np.zeros(SHAPE, np.int32)
    _ball(a, (20, 60, 40), 1, 1)
    _ball(a, (20, 60, 52), 1, 2)
    _ball(b, (20, 60, 49), 1, 1)  # 3 mm from L2, 9 mm from L1; no voxel shared
    _ball(b, (20, 60, 64), 1, 2)  # 12 mm from L2, 24 mm from L1
    links = match_lesions(
        a,
        b,
        _centroids(a, 2),
        _centroids(b, 2),
        [2.0, 2.0],
        [2.0, 2.0],
        MatchTolerances(min_tolerance_mm=25.0),
    )
    pairs = {(lk.earlier[0], lk.later[0]) for lk in links.links}
    # greedy: (2, 1) at 3 mm, then (1, 2) at 24 mm = 27 mm; the optimum is 9 + 12 = 21 mm
    assert pairs == {(1, 1), (2, 2)}
    assert all(lk.overlap == 0.0 for lk in links.links)


def test_split_merge_absent_and_new_are_recognised() -> None:
    a = np.zeros(SHAPE, np.int32)
    b = np.zeros(SHAPE, np.int32)
    _ball(a, (20, 30, 30), 14, 1)  # splits into two
    _ball(a, (20, 90, 30), 6, 2)  # merges with L3
    _ball(a, (20, 90, 46), 6, 3)
    _ball(a, (20, 30, 95), 5, 4)  # disappears
    _ball(b, (20, 30, 22), 5, 1)
    _ball(b, (20, 30, 38), 5, 2)
    _ball(b, (20, 90, 38), 15, 3)  # holds both L2 and L3
    _ball(b, (20, 100, 100), 5, 4)  # new, far from everything
    links = _link(a, b, 4, 4)
    kinds = {(lk.kind, lk.earlier, lk.later) for lk in links.links}
    assert kinds == {("split", (1,), (1, 2)), ("merged", (2, 3), (3,))}
    assert links.absent == (4,)
    assert links.new == (4,)
    assert links.link_of_later(2) is links.link_of_earlier(1)


def test_no_lesions_on_either_side() -> None:
    empty = np.zeros(SHAPE, np.int32)
    one = np.zeros(SHAPE, np.int32)
    _ball(one, (20, 60, 60), 5, 1)
    assert _link(empty, one, 0, 1).new == (1,)
    assert _link(one, empty, 1, 0).absent == (1,)
    both = _link(empty, empty, 0, 0)
    assert both.links == () and both.absent == () and both.new == ()


def test_inconsistent_input_is_refused() -> None:
    a = np.zeros(SHAPE, np.int32)
    _ball(a, (20, 60, 60), 5, 1)
    with pytest.raises(VolumetricsError, match="shape"):
        match_lesions(a, a[:-1], [[0, 0, 0]], [[0, 0, 0]], [5.0], [5.0])
    with pytest.raises(VolumetricsError, match="exceeds"):
        match_lesions(a, a, np.zeros((0, 3)), [[0, 0, 0]], [], [5.0])
    with pytest.raises(VolumetricsError, match="finite"):
        match_lesions(a, a, [[np.nan, 0, 0]], [[0, 0, 0]], [5.0], [5.0])
