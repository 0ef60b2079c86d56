"""Which lesion of one visit is which lesion of another: one-to-one links, splits and merges.

Both visits' lesions are given on one grid (the later visit's): the earlier visit's lesion numbers
already moved there by the alignment of the two studies, with each lesion's centroid in the same
patient space. Evidence per pair of lesions ``(i, j)``:

- overlap: the voxels they share, as a fraction of the smaller of the two (1.0 when one lies
  inside the other, whatever their sizes: a lesion that shrank or grew in place still overlaps);
- distance: between their centroids after alignment, against a tolerance that grows with their
  size (``max(min_tolerance_mm, size_factor * larger long axis)``).

A pair is a candidate when it overlaps (``min_overlap``) or lies within tolerance. Then:

- merged: one later lesion holds most (``part_fraction``) of two or more earlier lesions;
- split: two or more later lesions each lie mostly (``part_fraction``) inside one earlier lesion;
- matched: the remaining candidates, one to one, by the assignment of least total cost
  (:func:`scipy.optimize.linear_sum_assignment`; cost = distance / tolerance - overlap), never
  by nearest centroid alone;
- an earlier lesion left over is ``absent``; a later one left over is a candidate new lesion.

References
----------
.. [1] Eisenhauer EA et al., "New response evaluation criteria in solid tumours: revised RECIST
   guideline (version 1.1)", Eur J Cancer 45 (2009) 228-247, section 4.3.2 and appendix II
   (lesions that split or coalesce).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from volumetrics.errors import VolumetricsError

__all__ = ["LesionLink", "LesionLinks", "MatchTolerances", "match_lesions"]

_FORBIDDEN = 1e6


@dataclass(frozen=True, slots=True)
class MatchTolerances:
    """How close two lesions must be to be the same one (see the module docstring)."""

    min_tolerance_mm: float = 15.0
    size_factor: float = 0.75
    min_overlap: float = 0.1
    part_fraction: float = 0.5


@dataclass(frozen=True, slots=True)
class LesionLink:
    """Earlier lesion(s) ``earlier`` are later lesion(s) ``later`` (1-based lesion numbers).

    ``kind`` is ``matched`` (one to one), ``split`` (one earlier, several later) or ``merged``
    (several earlier, one later). ``distance_mm`` is between the centroids after alignment (of
    the union where several lesions take part), ``overlap`` the shared voxels as a fraction of
    the smaller side, ``confidence`` in [0, 1]: the better of the overlap and the distance's
    margin under its tolerance.
    """

    kind: str
    earlier: tuple[int, ...]
    later: tuple[int, ...]
    distance_mm: float
    overlap: float
    confidence: float


@dataclass(frozen=True, slots=True)
class LesionLinks:
    """All links between two visits, the earlier lesions left ``absent`` and the ``new`` ones."""

    links: tuple[LesionLink, ...]
    absent: tuple[int, ...]
    new: tuple[int, ...]

    def link_of_earlier(self, number: int) -> LesionLink | None:
        """Return the link an earlier lesion takes part in, if any."""
        return next((lk for lk in self.links if number in lk.earlier), None)

    def link_of_later(self, number: int) -> LesionLink | None:
        """Return the link a later lesion takes part in, if any."""
        return next((lk for lk in self.links if number in lk.later), None)


def _as_points(values: npt.ArrayLike, n: int, what: str) -> npt.NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64).reshape(-1, 3) if n else np.zeros((0, 3))
    if arr.shape != (n, 3) or not np.all(np.isfinite(arr)):
        raise VolumetricsError(f"{what}: expected {n} finite (x, y, z) points, got {arr.shape}")
    return arr


def match_lesions(
    earlier_labels: npt.NDArray[np.integer],
    later_labels: npt.NDArray[np.integer],
    earlier_centroids_mm: npt.ArrayLike,
    later_centroids_mm: npt.ArrayLike,
    earlier_long_axes_mm: Sequence[float],
    later_long_axes_mm: Sequence[float],
    tolerances: MatchTolerances | None = None,
) -> LesionLinks:
    """Link the lesions of two visits (see the module docstring).

    Parameters
    ----------
    earlier_labels, later_labels
        Lesion numbers ``1..n`` (0 elsewhere) on one grid: the earlier visit's moved onto the
        later visit's by the alignment of the studies.
    earlier_centroids_mm, later_centroids_mm
        ``(n, 3)`` centroids in the later visit's patient space, lesion ``k`` at row ``k - 1``.
    earlier_long_axes_mm, later_long_axes_mm
        Each lesion's long axis (sets the distance tolerance).

    Raises
    ------
    VolumetricsError
        The arrays do not share a shape, or the centroids and long axes do not count the lesions.
    """
    from scipy.optimize import linear_sum_assignment  # here: the measurement path needs no scipy

    tol = tolerances or MatchTolerances()
    a = np.asarray(earlier_labels)
    b = np.asarray(later_labels)
    if a.shape != b.shape:
        raise VolumetricsError(f"label arrays differ in shape: {a.shape} vs {b.shape}")
    n_a, n_b = len(earlier_long_axes_mm), len(later_long_axes_mm)
    ca = _as_points(earlier_centroids_mm, n_a, "earlier centroids")
    cb = _as_points(later_centroids_mm, n_b, "later centroids")
    if (a.size and int(a.max()) > n_a) or (b.size and int(b.max()) > n_b):
        raise VolumetricsError("a lesion number exceeds the number of lesions given")

    # voxels of a lesion on either side only: background-to-background (joint[0, 0]) is never
    # read, and lesions fill a small part of the grid
    either = (a > 0) | (b > 0)
    joint = np.bincount(
        a[either].astype(np.int64) * (n_b + 1) + b[either].astype(np.int64),
        minlength=(n_a + 1) * (n_b + 1),
    ).reshape(n_a + 1, n_b + 1)
    shared = joint[1:, 1:].astype(np.float64)
    size_a = joint[1:, :].sum(axis=1).astype(np.float64)
    size_b = joint[:, 1:].sum(axis=0).astype(np.float64)
    smaller = np.maximum(np.minimum(size_a[:, None], size_b[None, :]), 1.0)
    overlap = shared / smaller
    dist = np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=2) if n_a and n_b else shared
    larger_axis = np.maximum(
        np.asarray(earlier_long_axes_mm, dtype=np.float64)[:, None],
        np.asarray(later_long_axes_mm, dtype=np.float64)[None, :],
    )
    tolerance = np.maximum(tol.min_tolerance_mm, tol.size_factor * larger_axis)
    candidate = (overlap >= tol.min_overlap) | (dist <= tolerance)

    def evidence(earlier: list[int], later: list[int]) -> tuple[float, float, float]:
        """Distance between volume-weighted centroids, overlap and confidence of a group."""
        wa, wb = size_a[earlier], size_b[later]
        pa = (ca[earlier] * wa[:, None]).sum(0) / max(wa.sum(), 1.0)
        pb = (cb[later] * wb[:, None]).sum(0) / max(wb.sum(), 1.0)
        d = float(np.linalg.norm(pa - pb))
        inter = float(shared[np.ix_(earlier, later)].sum())
        ov = inter / max(min(float(wa.sum()), float(wb.sum())), 1.0)
        t = float(tolerance[np.ix_(earlier, later)].max())
        return d, ov, float(np.clip(max(ov, 1.0 - d / t), 0.0, 1.0))

    links: list[LesionLink] = []
    used_a: set[int] = set()
    used_b: set[int] = set()
    # merged: a later lesion holding most of two or more earlier ones
    inside_b = shared / np.maximum(size_a[:, None], 1.0)  # fraction of earlier i inside later j
    for j in range(n_b):
        parts = [i for i in range(n_a) if inside_b[i, j] >= tol.part_fraction and i not in used_a]
        if len(parts) >= 2:
            d, ov, conf = evidence(parts, [j])
            links.append(LesionLink("merged", tuple(i + 1 for i in parts), (j + 1,), d, ov, conf))
            used_a.update(parts)
            used_b.add(j)
    # split: two or more later lesions lying mostly inside one earlier lesion
    inside_a = shared / np.maximum(size_b[None, :], 1.0)  # fraction of later j inside earlier i
    for i in range(n_a):
        if i in used_a:
            continue
        parts = [j for j in range(n_b) if inside_a[i, j] >= tol.part_fraction and j not in used_b]
        if len(parts) >= 2:
            d, ov, conf = evidence([i], parts)
            links.append(LesionLink("split", (i + 1,), tuple(j + 1 for j in parts), d, ov, conf))
            used_a.add(i)
            used_b.update(parts)
    # matched: one to one over the remaining candidates, least total cost
    rest_a = [i for i in range(n_a) if i not in used_a]
    rest_b = [j for j in range(n_b) if j not in used_b]
    if rest_a and rest_b:
        sub = np.ix_(rest_a, rest_b)
        cost = np.where(candidate[sub], dist[sub] / tolerance[sub] - overlap[sub], _FORBIDDEN)
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows, cols, strict=True):
            if cost[r, c] >= _FORBIDDEN:
                continue
            i, j = rest_a[r], rest_b[c]
            d, ov, conf = evidence([i], [j])
            links.append(LesionLink("matched", (i + 1,), (j + 1,), d, ov, conf))
            used_a.add(i)
            used_b.add(j)
    links.sort(key=lambda lk: lk.earlier)
    return LesionLinks(
        links=tuple(links),
        absent=tuple(i + 1 for i in range(n_a) if i not in used_a),
        new=tuple(j + 1 for j in range(n_b) if j not in used_b),
    )
