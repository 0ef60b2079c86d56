"""Planar geometry behind the lesion diameters: convex hull, max Feret pair, perpendicular chord.

All functions work on the pixel-centre lattice of one slice. The convex hull is computed exactly in
integer (row, col) coordinates; an anisotropic pixel spacing is a linear map, which maps the hull of
the points onto the hull of the scaled points, so the hull vertices can be scaled afterwards.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["TIE_TOLERANCE_MM", "convex_hull_rc", "longest_chord", "max_feret_pair"]

#: Lengths that differ by no more than this are ties (floating-point noise, far below a pixel).
TIE_TOLERANCE_MM = 1e-9

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _cross(o: tuple[int, int], a: tuple[int, int], b: tuple[int, int]) -> int:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def convex_hull_rc(rows: IntArray, left: IntArray, right: IntArray) -> IntArray:
    """Vertices of the convex hull of a slice's pixel centres, from each occupied row's extremes.

    Only the leftmost and rightmost pixel of each row can be hull vertices, so the hull of those
    ``<= 2 x rows`` points is the hull of the whole pixel set (Andrew's monotone chain, exact
    integer arithmetic, collinear points dropped).

    Parameters
    ----------
    rows
        Occupied row indices, strictly increasing.
    left, right
        Leftmost and rightmost occupied column of each of those rows.

    Returns
    -------
    numpy.ndarray of int64, shape (h, 2)
        Hull vertices as (row, col), counter-clockwise in (row, col) axes, starting at the
        lexicographically smallest point. ``h == 1`` for a single pixel and ``h == 2`` for pixels
        on one line (a degenerate hull).
    """
    points: list[tuple[int, int]] = []
    for r, lo, hi in zip(rows.tolist(), left.tolist(), right.tolist(), strict=True):
        points.append((r, lo))
        if hi != lo:
            points.append((r, hi))
    if len(points) <= 2:
        return np.asarray(points, dtype=np.int64).reshape(-1, 2)
    lower: list[tuple[int, int]] = []
    for p in points:
        while len(lower) >= 2 and _cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[int, int]] = []
    for p in reversed(points):
        while len(upper) >= 2 and _cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = lower[:-1] + upper[:-1]
    return np.asarray(hull, dtype=np.int64).reshape(-1, 2)


def max_feret_pair(hull_mm: FloatArray) -> tuple[int, int, float]:
    """Farthest pair of hull vertices (max Feret diameter), by all pairs of hull vertices.

    Parameters
    ----------
    hull_mm
        Hull vertices in mm, shape (h, 2), h >= 1.

    Returns
    -------
    (i, j, length_mm)
        Vertex indices ``i < j`` (``i == j == 0`` for a single point) and the distance. Among pairs
        whose lengths tie within :data:`TIE_TOLERANCE_MM`, the first in (i, j) order is chosen.
    """
    h = hull_mm.shape[0]
    if h == 1:
        return 0, 0, 0.0
    diff = hull_mm[:, None, :] - hull_mm[None, :, :]
    dist = np.hypot(diff[..., 0], diff[..., 1])
    dist[np.tril_indices(h)] = -1.0
    best = float(dist.max())
    flat = int(np.flatnonzero(dist.ravel() >= best - TIE_TOLERANCE_MM)[0])
    i, j = divmod(flat, h)
    return i, j, float(dist[i, j])


def longest_chord(
    hull_mm: FloatArray, i: int, j: int
) -> tuple[float, tuple[float, float], tuple[float, float]]:
    """Longest chord of the hull polygon perpendicular to the segment from vertex i to vertex j.

    The chord length along lines perpendicular to ``u`` is a concave, piecewise-linear function of
    the position along ``u`` whose breakpoints are the vertices' positions, so its maximum is
    attained at a vertex's position: evaluating it there is exact.

    Parameters
    ----------
    hull_mm
        Hull vertices in mm, in polygon order, shape (h, 2).
    i, j
        Indices of the long-axis endpoints (distinct when h >= 2).

    Returns
    -------
    (length_mm, end1, end2)
        The chord length and its endpoints in mm (same axes as ``hull_mm``). Among chords tying
        within :data:`TIE_TOLERANCE_MM`, the one at the first vertex in polygon order is chosen.
        A single point or a line gives a zero-length chord at the first endpoint.
    """
    p1 = hull_mm[i]
    axis = hull_mm[j] - p1
    length = float(np.hypot(axis[0], axis[1]))
    first = (float(p1[0]), float(p1[1]))
    if hull_mm.shape[0] < 3 or length == 0.0:
        return 0.0, first, first
    u = axis / length
    n = np.array([-u[1], u[0]])
    rel = hull_mm - p1
    t = rel @ u
    s = rel @ n
    ta, tb = t, np.roll(t, -1)
    sa, sb = s, np.roll(s, -1)
    q = t[:, None]
    lo, hi = np.minimum(ta, tb)[None, :], np.maximum(ta, tb)[None, :]
    steep = (ta != tb)[None, :]
    inside = steep & (q >= lo) & (q <= hi)
    denom = np.where(ta != tb, tb - ta, 1.0)[None, :]
    s_at = sa[None, :] + (q - ta[None, :]) / denom * (sb - sa)[None, :]
    s_max = np.where(inside, s_at, -np.inf).max(axis=1)
    s_min = np.where(inside, s_at, np.inf).min(axis=1)
    chord = s_max - s_min
    best = float(chord.max())
    k = int(np.flatnonzero(chord >= best - TIE_TOLERANCE_MM)[0])
    base = p1 + t[k] * u
    end1 = base + s_min[k] * n
    end2 = base + s_max[k] * n
    return (
        float(chord[k]),
        (float(end1[0]), float(end1[1])),
        (float(end2[0]), float(end2[1])),
    )
