"""Diameters of random lesions against independent brute force (all pixel pairs, Qhull chords)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial import ConvexHull, QhullError

from recist.diameters import measure_diameters

SPACINGS = [(0.7, 0.7), (0.5, 0.9), (0.743, 0.743), (1.0, 0.6), (0.9765625, 0.9765625)]


def _random_lesion(rng: np.random.Generator) -> np.ndarray:
    """A few random rotated ellipses and bars on 4 slices, with random holes."""
    shape = (4, 28, 28)
    rows, cols = np.mgrid[0 : shape[1], 0 : shape[2]]
    mask = np.zeros(shape, dtype=bool)
    for z in range(shape[0]):
        for _ in range(int(rng.integers(0, 4))):
            cy, cx = rng.uniform(4, 24, size=2)
            a, b = rng.uniform(0.4, 9, size=2)
            theta = rng.uniform(0, math.pi)
            u = (cols - cx) * math.cos(theta) + (rows - cy) * math.sin(theta)
            v = -(cols - cx) * math.sin(theta) + (rows - cy) * math.cos(theta)
            mask[z] |= (u / a) ** 2 + (v / b) ** 2 <= 1
        mask[z] &= rng.random(shape[1:]) > 0.1
    if not mask.any():
        mask[int(rng.integers(0, 4)), 10, 10] = True
    return mask


def _brute_long_axes(mask: np.ndarray, sy: float, sx: float) -> list[float]:
    """Max pixel-centre distance of each slice by all pairs of pixels (-1 for empty slices)."""
    out = []
    for sl in mask:
        pts = np.argwhere(sl) * np.array([sy, sx])
        if len(pts) == 0:
            out.append(-1.0)
            continue
        d = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))
        out.append(float(d.max()))
    return out


def _qhull_chords(pts: np.ndarray, p1: np.ndarray, u: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Chord lengths of the hull of ``pts`` along the normal of ``u`` at positions ``ts``."""
    try:
        hull = ConvexHull(pts)
    except QhullError:  # fewer than 3 points or all collinear: no area, every chord is 0
        return np.zeros_like(ts)
    n = np.array([-u[1], u[0]])
    normals, offsets = hull.equations[:, :2], hull.equations[:, 2]
    a = normals @ n
    chords = []
    for t in ts:
        b = normals @ (p1 + t * u) + offsets
        upper = np.min(-b[a > 1e-12] / a[a > 1e-12])
        lower = np.max(-b[a < -1e-12] / a[a < -1e-12])
        chords.append(max(0.0, float(upper - lower)))
    return np.asarray(chords)


@pytest.mark.parametrize("seed", range(60))
def test_random_lesion_matches_brute_force(seed: int) -> None:
    """Long axis, its slice (lowest on ties) and the hull chord match independent brute force."""
    rng = np.random.default_rng(seed)
    mask = _random_lesion(rng)
    sy, sx = SPACINGS[seed % len(SPACINGS)]
    d = measure_diameters(mask, (5.0, sy, sx))

    per_slice = _brute_long_axes(mask, sy, sx)
    best = max(per_slice)
    expected_slice = next(z for z, v in enumerate(per_slice) if v >= best - 1e-9)
    assert d.long_axis_mm == pytest.approx(best, abs=2e-9)
    assert d.slice_index == expected_slice

    z = d.slice_index
    (r1, c1), (r2, c2) = d.long_axis_endpoints_rc
    assert mask[z, int(r1), int(c1)] and mask[z, int(r2), int(c2)]
    assert math.hypot((r2 - r1) * sy, (c2 - c1) * sx) == pytest.approx(best, abs=2e-9)

    pts = np.argwhere(mask[z]) * np.array([sy, sx])
    p1 = np.array([r1 * sy, c1 * sx])
    if best == 0.0:
        assert d.short_axis_mm == 0.0
        return
    u = np.array([(r2 - r1) * sy, (c2 - c1) * sx]) / best
    at_points = _qhull_chords(pts, p1, u, (pts - p1) @ u)
    dense = _qhull_chords(pts, p1, u, np.linspace(0.0, best, 401))
    assert d.short_axis_mm == pytest.approx(float(at_points.max()), abs=1e-7)
    assert float(dense.max()) <= d.short_axis_mm + 1e-7
    (a_r, a_c), (b_r, b_c) = d.short_axis_endpoints_rc
    assert math.hypot((b_r - a_r) * sy, (b_c - a_c) * sx) == pytest.approx(
        d.short_axis_mm, abs=1e-9
    )
