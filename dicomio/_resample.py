"""Put an array that lives on one grid onto another grid by patient coordinates.

Used for NIfTI/NRRD label maps and binary masks (:mod:`dicomio.labels`). The rules:

1. The same grid (same shape, every voxel within :data:`SAME_GRID_TOL_VOXELS` of a voxel of the
   target, measured in the target's smallest spacing): the array is used as is.
2. Otherwise, when both grids cover the same physical region -- every voxel centre of each grid
   lies inside the other grid's box of voxels (the box reaches half a voxel beyond the outer
   centres) -- the array is resampled with nearest neighbour by physical position. Ties (a target
   centre exactly half-way between two source centres) go to the higher index, as in ITK's
   nearest-neighbour interpolator.
3. Otherwise the caller gets ``None`` and raises an error naming both geometries.

Axis-aligned pairs (flips, permutations, integer or non-integer scaling of axes) are resampled with
one fancy-indexing call per axis; oblique pairs slice by slice.
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt

from dicomio.model import Geometry

__all__ = [
    "SAME_GRID_TOL_VOXELS",
    "align_to_grid",
    "covers_same_region",
    "describe_pair",
    "same_grid",
]

#: Largest distance between corresponding voxels of "the same grid", in voxels of the target.
SAME_GRID_TOL_VOXELS = 1e-3
#: Slack on the "inside the other box" test, in voxels (absorbs float noise in headers).
_BOX_SLACK_VOXELS = 1e-3
#: Relative size below which an entry of the index-to-index matrix counts as zero.
_AXIS_ALIGNED_TOL = 1e-6
#: Nudge that makes exact half-way ties round up despite float noise, in voxels.
_TIE_NUDGE = 1e-6


def same_grid(source: Geometry, target: Geometry) -> bool:
    """Whether ``source`` is ``target`` up to header float noise (rule 1)."""
    tol_mm = SAME_GRID_TOL_VOXELS * min(target.spacing_zyx_mm)
    return source.same_grid(target, tol_mm=tol_mm)


def _corner_centres(geometry: Geometry) -> npt.NDArray[np.float64]:
    shape = geometry.shape_zyx
    return np.array(list(itertools.product(*[(0, n - 1) for n in shape])), dtype=np.float64)


def _centres_inside(inner: Geometry, outer: Geometry) -> bool:
    """Whether every voxel centre of ``inner`` lies inside the voxel box of ``outer``."""
    points = inner.index_to_lps(_corner_centres(inner))
    idx = outer.lps_to_index(points)
    upper = np.asarray(outer.shape_zyx, dtype=np.float64) - 0.5 + _BOX_SLACK_VOXELS
    return bool(np.all(idx >= -0.5 - _BOX_SLACK_VOXELS) and np.all(idx <= upper))


def covers_same_region(source: Geometry, target: Geometry) -> bool:
    """Whether the two grids cover the same physical region (rule 2).

    The grids are boxes (affine maps are linear), so checking the eight corner voxel centres of
    each grid against the other grid's box is enough.
    """
    return _centres_inside(target, source) and _centres_inside(source, target)


def _index_map(source: Geometry, target: Geometry) -> npt.NDArray[np.float64]:
    """4x4 matrix taking a target index (k, j, i, 1) to a continuous source index."""
    return np.asarray(np.linalg.inv(source.affine) @ target.affine, dtype=np.float64)


def _round_index(x: npt.NDArray[np.float64], size: int) -> npt.NDArray[np.intp]:
    out = np.floor(x + 0.5 + _TIE_NUDGE).astype(np.intp)
    return np.clip(out, 0, size - 1)


def _axis_permutation(linear: npt.NDArray[np.float64]) -> list[int] | None:
    """Target axis feeding each source axis, when the map is axis-aligned; else ``None``."""
    scale = float(np.max(np.abs(linear)))
    nonzero = np.abs(linear) > _AXIS_ALIGNED_TOL * scale
    if not (np.all(nonzero.sum(axis=0) == 1) and np.all(nonzero.sum(axis=1) == 1)):
        return None
    return [int(np.flatnonzero(row)[0]) for row in nonzero]


def _resample_aligned(
    array: npt.NDArray[np.generic],
    m: npt.NDArray[np.float64],
    perm: list[int],
    target_shape: tuple[int, int, int],
) -> npt.NDArray[np.generic]:
    indices = []
    for a in range(3):
        p = perm[a]
        t = np.arange(target_shape[p], dtype=np.float64)
        indices.append(_round_index(m[a, p] * t + m[a, 3], array.shape[a]))
    taken = array[np.ix_(*indices)]
    # taken's axis a runs along target axis perm[a]; put the target axes back in order.
    return np.ascontiguousarray(np.transpose(taken, np.argsort(perm)))


def _resample_oblique(
    array: npt.NDArray[np.generic],
    m: npt.NDArray[np.float64],
    target_shape: tuple[int, int, int],
) -> npt.NDArray[np.generic]:
    out = np.empty(target_shape, dtype=array.dtype)
    jj, ii = np.meshgrid(
        np.arange(target_shape[1], dtype=np.float64),
        np.arange(target_shape[2], dtype=np.float64),
        indexing="ij",
    )
    in_plane = [m[a, 1] * jj + m[a, 2] * ii + m[a, 3] for a in range(3)]
    for k in range(target_shape[0]):
        idx = [_round_index(in_plane[a] + m[a, 0] * k, array.shape[a]) for a in range(3)]
        out[k] = array[idx[0], idx[1], idx[2]]
    return out


def align_to_grid(
    array: npt.NDArray[np.generic], source: Geometry, target: Geometry
) -> npt.NDArray[np.generic] | None:
    """Return ``array`` (on ``source``) on the ``target`` grid, or ``None`` when it cannot be.

    Parameters
    ----------
    array
        ``(z, y, x)`` array of shape ``source.shape_zyx``; any dtype (labels, booleans).
    source, target
        The array's grid and the grid wanted.

    Returns
    -------
    numpy.ndarray or None
        ``array`` itself for the same grid (rule 1), a nearest-neighbour resampled copy for a grid
        covering the same region (rule 2), ``None`` otherwise (rule 3).
    """
    if tuple(array.shape) != source.shape_zyx:
        raise ValueError(f"array shape {array.shape} != source grid {source.shape_zyx}")
    if same_grid(source, target):
        return array
    if not covers_same_region(source, target):
        return None
    m = _index_map(source, target)
    perm = _axis_permutation(m[:3, :3])
    if perm is not None:
        return _resample_aligned(array, m, perm, target.shape_zyx)
    return _resample_oblique(array, m, target.shape_zyx)


def describe_pair(source: Geometry, target: Geometry) -> str:
    """``label grid ...; series grid ...`` with directions, for error messages."""

    def one(g: Geometry) -> str:
        d = g.directions
        # Direction of the column (x), row (y) and slice (z) axes, rounded for reading.
        axes = ", ".join("(" + ", ".join(f"{v:+.3g}" for v in d[:, c]) + ")" for c in (2, 1, 0))
        return f"{g.describe()}, axes x/y/z along {axes}"

    return f"label grid {one(source)}; series grid {one(target)}"
