"""Contour rasterisation (cv2.fillPoly semantics): analytic shapes, then properties."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dicomio._raster import fill_contours, round_vertices


def _poly(*rc: tuple[int, int]) -> npt.NDArray[np.int64]:
    return np.array(rc, dtype=np.int64)


def _rect(r0: int, c0: int, r1: int, c1: int) -> npt.NDArray[np.int64]:
    return _poly((r0, c0), (r0, c1), (r1, c1), (r1, c0))


@pytest.mark.parametrize(
    ("polygons", "count"),
    [
        ([_rect(2, 3, 6, 8)], 5 * 6),
        ([_rect(0, 0, 19, 19), _rect(4, 4, 15, 15)], 400 - 10 * 10),
        ([_rect(0, 0, 19, 19), _rect(4, 4, 15, 15), _rect(8, 8, 11, 11)], 400 - 100 + 16),
        ([_poly((0, 0), (0, 10), (10, 0))], 11 * 12 // 2),
        ([_poly((10, 5), (15, 10), (10, 15), (5, 10))], 2 * 25 + 2 * 5 + 1),
        ([_rect(2, 2, 8, 8), _rect(5, 5, 12, 12)], 49 + 64 - 16 - 2 * 2),
        ([_poly((3, 3))], 1),
    ],
    ids=[
        "rectangle-with-boundary",
        "hole-interior-removed-boundary-kept",
        "island-in-hole",
        "right-triangle-45deg",
        "diamond",
        "overlapping-squares-even-odd",
        "single-vertex",
    ],
)
def test_analytic_counts(polygons: list[npt.NDArray[np.int64]], count: int) -> None:
    """Vertices are pixel centres: boundary pixels are inside; nested contours alternate (XOR)."""
    assert int(fill_contours(polygons, (20, 20)).sum()) == count


def test_hole_ring_pixels() -> None:
    """A square hole leaves its strict interior empty and its boundary ring filled."""
    mask = fill_contours([_rect(0, 0, 9, 9), _rect(3, 3, 6, 6)], (10, 10))
    assert not mask[4:6, 4:6].any()
    ring = np.ones((4, 4), dtype=bool)
    ring[1:3, 1:3] = False
    np.testing.assert_array_equal(mask[3:7, 3:7], ring)


def test_lines_start_at_the_left_end_and_ties_stay_on_that_side() -> None:
    """Edge (0,0)-(1,2): the tie at column 1 stays on row 0, whichever way the edge runs."""
    expected = {(0, 0), (0, 1), (1, 2)}
    for poly in (_poly((0, 0), (1, 2)), _poly((1, 2), (0, 0))):
        mask = fill_contours([poly], (3, 3))
        assert {tuple(p) for p in np.argwhere(mask).tolist()} == expected


def test_rounding_is_half_to_even() -> None:
    """Vertices are rounded like numpy.around (rt-utils): 0.5 -> 0, 1.5 -> 2, -0.5 -> 0."""
    np.testing.assert_array_equal(round_vertices([[0.5, 1.5], [2.5, -0.5]]), [[0, 2], [2, 0]])


def test_polygon_beyond_the_image_is_cut_exactly() -> None:
    """Clipping equals filling on a larger canvas and cropping."""
    poly = _poly((-7, 3), (4, 25), (18, -6))
    big = fill_contours([poly + 10], (40, 40))
    small = fill_contours([poly], (12, 12))
    np.testing.assert_array_equal(small, big[10:22, 10:22])


def _even_odd_inside(r: float, c: float, polygons: list[npt.NDArray[np.int64]]) -> bool:
    inside = False
    for p in polygons:
        for (r0, c0), (r1, c1) in zip(p, np.roll(p, -1, axis=0), strict=True):
            if min(r0, r1) <= r < max(r0, r1):
                x = c0 + (r - r0) * (c1 - c0) / (r1 - r0)
                if x > c:
                    inside = not inside
    return inside


def _distance_to_edges(r: float, c: float, polygons: list[npt.NDArray[np.int64]]) -> float:
    best = np.inf
    for p in polygons:
        for a, b in zip(p, np.roll(p, -1, axis=0), strict=True):
            a, b = a.astype(float), b.astype(float)
            ab = b - a
            t = 0.0 if not ab.any() else float(np.clip(np.dot((r, c) - a, ab) / ab.dot(ab), 0, 1))
            best = min(best, float(np.hypot(*((r, c) - (a + t * ab)))))
    return best


polygon_strategy = st.lists(
    st.lists(st.tuples(st.integers(0, 15), st.integers(0, 15)), min_size=3, max_size=7).map(
        lambda v: np.array(v, dtype=np.int64)
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=60, deadline=None)
@given(polygon_strategy)
def test_fill_is_the_even_odd_interior_plus_the_boundary(
    polygons: list[npt.NDArray[np.int64]],
) -> None:
    """Centres strictly inside (even-odd) are filled; filled pixels are inside or on an edge."""
    mask = fill_contours(polygons, (16, 16))
    for r in range(16):
        for c in range(16):
            near = _distance_to_edges(r, c, polygons)
            if near > 1e-9 and _even_odd_inside(r, c, polygons):
                assert mask[r, c], (r, c)
            if mask[r, c]:
                assert near < 1.0 or _even_odd_inside(r, c, polygons), (r, c)
    for p in polygons:
        assert mask[p[:, 0], p[:, 1]].all()
