"""Reference diameters of a lesion's pixel set, by brute force (the phantom's ground truth).

These functions are deliberately naive: they look at pairs of pixel centres and never build a
convex hull, so they are an independent check of the product's fast hull-based implementation.
Only boundary pixels are looked at, which loses nothing: a pixel whose four edge-neighbours are all
in the set is the midpoint of two of them, so it is never a vertex of the convex hull, and both the
longest diameter and the longest chord of a convex polygon are attained at its vertices.

References
----------
Eisenhauer EA et al. New response evaluation criteria in solid tumours: revised RECIST guideline
(version 1.1). Eur J Cancer 2009;45:228-247, section 3.1 (longest diameter in the plane of
measurement) and appendix I (short axis perpendicular to the long axis).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["SliceDiameters", "boundary_points_mm", "max_feret_mm", "slice_diameters"]

_TIE_MM = 1e-9


@dataclass(frozen=True, slots=True)
class SliceDiameters:
    """Diameters of one slice of a lesion, in mm between pixel centres.

    ``short_axis_range_mm`` spans the short axes perpendicular to every pair of pixel centres that
    attains the long axis; the two ends differ only when the maximum is tied between directions
    that are not mirror images of each other.
    """

    long_axis_mm: float
    short_axis_mm: float
    short_axis_range_mm: tuple[float, float]
    long_axis_endpoints_mm: tuple[tuple[float, float], tuple[float, float]]


def boundary_points_mm(
    mask_yx: npt.NDArray[np.bool_], spacing_yx_mm: tuple[float, float]
) -> npt.NDArray[np.float64]:
    """Centres ``(n, 2)`` in mm, as (row, column) coordinates, of the pixels on the set's edge.

    A pixel is on the edge when one of its four edge-neighbours is outside the set (or outside the
    image).
    """
    padded = np.pad(mask_yx, 1, constant_values=False)
    interior = (
        padded[1:-1, 1:-1]
        & padded[:-2, 1:-1]
        & padded[2:, 1:-1]
        & padded[1:-1, :-2]
        & padded[1:-1, 2:]
    )
    rows, cols = np.nonzero(mask_yx & ~interior)
    return np.column_stack([rows * spacing_yx_mm[0], cols * spacing_yx_mm[1]]).astype(np.float64)


def _perpendicular_chord_mm(points: npt.NDArray[np.float64], u: npt.NDArray[np.float64]) -> float:
    """Longest chord of the convex hull of ``points`` perpendicular to the unit vector ``u``.

    For each candidate offset ``t`` along ``u`` (the projection of a point, where the hull's
    vertices lie), the hull's section with the line ``p . u = t`` reaches, along the normal ``n``,
    from the least to the greatest value that any segment between two points crossing that line
    takes there.
    """
    n = np.array([-u[1], u[0]])
    s = points @ u
    w = points @ n
    if len(points) == 1:
        return 0.0
    ia, ib = np.triu_indices(len(points), k=0)
    sa, sb, wa, wb = s[ia], s[ib], w[ia], w[ib]
    best = 0.0
    for t in np.unique(s):
        crosses = (np.minimum(sa, sb) <= t + _TIE_MM) & (np.maximum(sa, sb) >= t - _TIE_MM)
        a_s, b_s, a_w, b_w = sa[crosses], sb[crosses], wa[crosses], wb[crosses]
        ds = b_s - a_s
        flat = np.abs(ds) <= _TIE_MM
        frac = np.where(flat, 0.0, (t - a_s) / np.where(flat, 1.0, ds))
        at_t = a_w + np.clip(frac, 0.0, 1.0) * (b_w - a_w)
        # A segment lying along the line contributes both its ends.
        lo = min(float(at_t.min()), float(np.min(np.where(flat, b_w, np.inf))))
        hi = max(float(at_t.max()), float(np.max(np.where(flat, b_w, -np.inf))))
        best = max(best, hi - lo)
    return best


def max_feret_mm(mask_yx: npt.NDArray[np.bool_], spacing_yx_mm: tuple[float, float]) -> float:
    """Longest distance between two pixel centres of a non-empty in-plane mask, in mm."""
    pts = boundary_points_mm(mask_yx, spacing_yx_mm)
    if len(pts) == 0:
        raise ValueError("expected a mask with at least one pixel")
    diff = pts[:, None, :] - pts[None, :, :]
    return float(np.sqrt(np.max(np.sum(diff * diff, axis=-1))))


def slice_diameters(
    mask_yx: npt.NDArray[np.bool_], spacing_yx_mm: tuple[float, float]
) -> SliceDiameters:
    """Long axis (max Feret of pixel centres) and perpendicular short axis of one slice.

    Parameters
    ----------
    mask_yx
        Boolean in-plane mask with at least one pixel.
    spacing_yx_mm
        Row and column spacing in mm.
    """
    pts = boundary_points_mm(mask_yx, spacing_yx_mm)
    if len(pts) == 0:
        raise ValueError("expected a mask with at least one pixel")
    if len(pts) == 1:
        p = (float(pts[0, 0]), float(pts[0, 1]))
        return SliceDiameters(0.0, 0.0, (0.0, 0.0), (p, p))
    diff = pts[:, None, :] - pts[None, :, :]
    dist = np.sqrt(np.sum(diff * diff, axis=-1))
    longest = float(dist.max())
    ia, ib = np.nonzero(np.triu(dist >= longest - _TIE_MM, k=1))
    # The chord depends on the direction only: look at each distinct direction once.
    chords: dict[tuple[float, float], float] = {}
    shorts = []
    for a, b in zip(ia, ib, strict=True):
        u = (pts[b] - pts[a]) / dist[a, b]
        if u[0] < 0 or (u[0] == 0 and u[1] < 0):
            u = -u
        key = (round(float(u[0]), 9), round(float(u[1]), 9))
        if key not in chords:
            chords[key] = _perpendicular_chord_mm(pts, u)
        shorts.append(chords[key])
    a0, b0 = int(ia[0]), int(ib[0])
    return SliceDiameters(
        long_axis_mm=longest,
        short_axis_mm=shorts[0],
        short_axis_range_mm=(min(shorts), max(shorts)),
        long_axis_endpoints_mm=(
            (float(pts[a0, 0]), float(pts[a0, 1])),
            (float(pts[b0, 0]), float(pts[b0, 1])),
        ),
    )
