"""Lesion diameters (long axis, perpendicular short axis) from masks, and caliper lengths.

Definitions (contracts/measure.md):

- ``long_axis_mm``: the longest in-plane diameter over all slices of the lesion, in the
  acquisition plane (array axes y, x), between pixel **centres**: the maximum Feret diameter of
  the slice's pixel-centre set, with the real (possibly anisotropic) pixel spacing. When several
  slices tie (within 1e-9 mm), the **lowest slice index** wins.
- ``short_axis_mm``: on that slice, the longest chord of the pixel-centre convex hull perpendicular
  to the long axis. A single pixel has both axes 0; a one-pixel-wide line has short axis 0.

Method: per slice, only each row's leftmost and rightmost pixel can be convex-hull vertices; the
hull (exact integer monotone chain) has few vertices, and the Feret pair is found over all pairs of
hull vertices, never all pairs of pixels. Slices whose bounding-box diagonal cannot beat the best
long axis so far are skipped. Lengths are rounded to 1e-9 mm to remove floating-point noise
before they meet a threshold.

References
----------
.. [1] Eisenhauer EA et al. New response evaluation criteria in solid tumours: revised RECIST
   guideline (version 1.1). Eur J Cancer 2009;45:228-247, section 3.2 and Appendix II (longest
   diameter in the plane of measurement; short axis perpendicular to it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recist._hull import TIE_TOLERANCE_MM, convex_hull_rc, longest_chord, max_feret_pair
from recist.criteria import is_measurable
from recist.errors import MeasurementError

__all__ = [
    "Diameters",
    "caliper_length_lps_mm",
    "caliper_length_mm",
    "measure_diameters",
    "measure_lesions",
    "slice_diameters",
]

PointRC = tuple[float, float]
SegmentRC = tuple[PointRC, PointRC]

#: Decimal places kept in lengths (mm): removes float noise such as 13.999999999999998.
_LENGTH_DECIMALS = 9


@dataclass(frozen=True, slots=True)
class Diameters:
    """Long and short axis of one lesion, with where they were measured.

    Attributes
    ----------
    long_axis_mm, short_axis_mm
        Long axis and perpendicular short axis in mm (see the module docstring).
    slice_index
        Index (z) of the slice of the long axis, in full-volume coordinates.
    long_axis_endpoints_rc, short_axis_endpoints_rc
        Endpoints as (row, col) pixel coordinates in that slice, in full-volume coordinates (long
        axis endpoints are pixel centres; short axis endpoints lie on the hull's boundary).
    """

    long_axis_mm: float
    short_axis_mm: float
    slice_index: int
    long_axis_endpoints_rc: SegmentRC
    short_axis_endpoints_rc: SegmentRC

    def is_measurable(self, slice_thickness_mm: float | None) -> bool:
        """RECIST 1.1 measurability of this lesion on a series of the given slice thickness.

        Delegates to :func:`recist.criteria.is_measurable` (>= 10 mm, and >= 2 x thickness when
        the thickness exceeds 5 mm).
        """
        return is_measurable(self.long_axis_mm, slice_thickness_mm)


def _round(length_mm: float) -> float:
    return round(float(length_mm), _LENGTH_DECIMALS)


def _spacing(values: Sequence[float], n: int, what: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise MeasurementError(f"{what}: expected {n} spacings in mm, got {values!r}") from exc
    if len(out) != n or not all(math.isfinite(v) and v > 0 for v in out):
        raise MeasurementError(f"{what}: expected {n} finite spacings > 0 mm, got {values!r}")
    return out


def _as_mask(mask: npt.ArrayLike, ndim: int, what: str) -> npt.NDArray[np.bool_]:
    arr = np.asarray(mask)
    if arr.ndim != ndim:
        raise MeasurementError(f"{what}: expected a {ndim}-D array, got {arr.ndim} dimension(s)")
    if arr.dtype == np.bool_:
        return arr
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise MeasurementError(f"{what}: expected a boolean or numeric mask, got {arr.dtype}")
    inside: npt.NDArray[np.bool_] = arr != 0
    return inside


def _point(values: Sequence[float], n: int, what: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise MeasurementError(f"{what}: expected {n} coordinates, got {values!r}") from exc
    if len(out) != n or not all(math.isfinite(v) for v in out):
        raise MeasurementError(f"{what}: expected {n} finite coordinates, got {values!r}")
    return out


def _measure_rows(
    rows: npt.NDArray[np.int64],
    left: npt.NDArray[np.int64],
    right: npt.NDArray[np.int64],
    sy: float,
    sx: float,
) -> tuple[float, float, SegmentRC, SegmentRC]:
    """Long/short axis of one slice from its row extremes; endpoints in the same (row, col)."""
    hull = convex_hull_rc(rows, left, right)
    scale = np.array([sy, sx])
    hull_mm = hull * scale
    i, j, _ = max_feret_pair(hull_mm)
    (r1, c1), (r2, c2) = hull[i].tolist(), hull[j].tolist()
    long_mm = math.hypot((r2 - r1) * sy, (c2 - c1) * sx)
    short_mm, e1, e2 = longest_chord(hull_mm, i, j)
    long_ep = ((float(r1), float(c1)), (float(r2), float(c2)))
    short_ep = ((e1[0] / sy, e1[1] / sx), (e2[0] / sy, e2[1] / sx))
    return _round(long_mm), _round(short_mm), long_ep, short_ep


def _shift(seg: SegmentRC, origin_rc: tuple[int, int]) -> SegmentRC:
    """Move a segment by an integer (row, col) origin."""
    (a_r, a_c), (b_r, b_c) = seg
    r, c = origin_rc
    return ((a_r + r, a_c + c), (b_r + r, b_c + c))


def _row_extremes(
    mask_yx: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    width = mask_yx.shape[1]
    rows = np.flatnonzero(mask_yx.any(axis=1))
    sub = mask_yx[rows]
    left = np.argmax(sub, axis=1).astype(np.int64)
    right = (width - 1 - np.argmax(sub[:, ::-1], axis=1)).astype(np.int64)
    return rows.astype(np.int64), left, right


def slice_diameters(
    mask_yx: npt.NDArray[np.bool_], pixel_spacing_yx_mm: Sequence[float]
) -> tuple[float, float, SegmentRC, SegmentRC]:
    """Long axis and perpendicular short axis of the pixels of one slice.

    Parameters
    ----------
    mask_yx
        2-D (row, col) mask; non-zero pixels belong to the lesion.
    pixel_spacing_yx_mm
        (row spacing, column spacing) in mm.

    Returns
    -------
    (long_axis_mm, short_axis_mm, long_axis_endpoints_rc, short_axis_endpoints_rc)
        Lengths in mm and endpoints as (row, col) pixel coordinates of ``mask_yx``.

    Raises
    ------
    MeasurementError
        If the mask is empty or not 2-D, or the spacing is not two finite values > 0.
    """
    sy, sx = _spacing(pixel_spacing_yx_mm, 2, "pixel_spacing_yx_mm")
    mask = _as_mask(mask_yx, 2, "mask_yx")
    rows, left, right = _row_extremes(mask)
    if rows.size == 0:
        raise MeasurementError("mask_yx is empty; expected at least one lesion pixel")
    r0, c0 = int(rows[0]), int(left.min())
    long_mm, short_mm, long_ep, short_ep = _measure_rows(rows - r0, left - c0, right - c0, sy, sx)
    return long_mm, short_mm, _shift(long_ep, (r0, c0)), _shift(short_ep, (r0, c0))


def measure_diameters(
    mask_zyx: npt.NDArray[np.bool_],
    spacing_zyx_mm: Sequence[float],
    *,
    offset_zyx: tuple[int, int, int] = (0, 0, 0),
) -> Diameters:
    """Long axis (over all slices) and perpendicular short axis of one lesion.

    Parameters
    ----------
    mask_zyx
        3-D (z, y, x) mask of one lesion, typically a bounding-box crop; non-zero is inside.
    spacing_zyx_mm
        Voxel spacing (z, y, x) in mm; only the in-plane (y, x) spacing enters the lengths.
    offset_zyx
        Index of the crop's first voxel in the full volume; added to ``slice_index`` and to the
        endpoints so they are full-volume coordinates.

    Returns
    -------
    Diameters
        The long axis on the slice where it is largest (lowest slice index on a tie), and the
        short axis on that slice.

    Raises
    ------
    MeasurementError
        If the mask is empty or not 3-D, or the spacing is not three finite values > 0.
    """
    _, sy, sx = _spacing(spacing_zyx_mm, 3, "spacing_zyx_mm")
    mask = _as_mask(mask_zyx, 3, "mask_zyx")
    try:
        oz, oy, ox = (int(v) for v in offset_zyx)
    except (TypeError, ValueError) as exc:
        raise MeasurementError(f"offset_zyx: expected 3 integers, got {offset_zyx!r}") from exc
    any_zy: npt.NDArray[np.bool_] = np.any(mask, axis=2)
    any_zx: npt.NDArray[np.bool_] = np.any(mask, axis=1)
    slices = np.flatnonzero(any_zy.any(axis=1))
    if slices.size == 0:
        raise MeasurementError("mask_zyx is empty; expected at least one lesion voxel")
    height, width = mask.shape[1], mask.shape[2]
    row_lo = np.argmax(any_zy, axis=1)
    row_hi = height - 1 - np.argmax(any_zy[:, ::-1], axis=1)
    col_lo = np.argmax(any_zx, axis=1)
    col_hi = width - 1 - np.argmax(any_zx[:, ::-1], axis=1)
    # Upper bound of each slice's Feret diameter: its bounding-box diagonal. Visit the slices from
    # the largest bound down, and stop once no remaining slice can beat (or tie) the best so far.
    bound = np.hypot((row_hi - row_lo) * sy, (col_hi - col_lo) * sx)
    order = slices[np.lexsort((slices, -bound[slices]))]
    best: tuple[float, float, SegmentRC, SegmentRC] | None = None
    best_z = -1
    best_origin = (0, 0)
    for z in order.tolist():
        if best is not None and bound[z] < best[0] - TIE_TOLERANCE_MM:
            break
        r0, r1 = int(row_lo[z]), int(row_hi[z]) + 1
        c0, c1 = int(col_lo[z]), int(col_hi[z]) + 1
        # Measured in slice-box coordinates, so the result does not depend on where the box is.
        found = _measure_rows(*_row_extremes(mask[z, r0:r1, c0:c1]), sy, sx)
        if (
            best is None
            or found[0] > best[0] + TIE_TOLERANCE_MM
            or (found[0] >= best[0] - TIE_TOLERANCE_MM and z < best_z)
        ):
            best, best_z, best_origin = found, z, (r0 + oy, c0 + ox)
    assert best is not None
    long_mm, short_mm, long_ep, short_ep = best
    return Diameters(
        long_mm,
        short_mm,
        best_z + oz,
        _shift(long_ep, best_origin),
        _shift(short_ep, best_origin),
    )


def measure_lesions(
    labels_zyx: npt.NDArray[np.integer],
    n: int,
    spacing_zyx_mm: Sequence[float],
) -> list[Diameters]:
    """Diameters of lesions 1..n of a label array, each measured on its bounding-box crop.

    Parameters
    ----------
    labels_zyx
        3-D integer label array (0 outside, 1..n lesions), e.g. from
        ``volumetrics.label_lesions`` or ``volumetrics.measure_burden``.
    n
        Number of lesions.
    spacing_zyx_mm
        Voxel spacing (z, y, x) in mm.

    Returns
    -------
    list of Diameters
        Element ``k`` is lesion ``k + 1``, in full-volume coordinates.

    Raises
    ------
    MeasurementError
        If the labels are not a 3-D integer array, ``n`` is negative, or a label in 1..n is absent.
    """
    labels = np.asarray(labels_zyx)
    if labels.ndim != 3 or not np.issubdtype(labels.dtype, np.integer):
        raise MeasurementError(
            f"labels_zyx: expected a 3-D integer array, got {labels.ndim}-D {labels.dtype}"
        )
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise MeasurementError(f"n: expected a lesion count >= 0, got {n!r}")
    _spacing(spacing_zyx_mm, 3, "spacing_zyx_mm")
    if n == 0:
        return []
    from scipy import ndimage  # imported here: measure_diameters, the hot path, needs no scipy

    boxes = ndimage.find_objects(labels, max_label=int(n))
    out: list[Diameters] = []
    for lab, box in enumerate(boxes, start=1):
        if box is None:
            raise MeasurementError(f"lesion label {lab} has no voxels; expected labels 1..{n}")
        offset = (box[0].start, box[1].start, box[2].start)
        out.append(measure_diameters(labels[box] == lab, spacing_zyx_mm, offset_zyx=offset))
    return out


def caliper_length_mm(
    p1_rc: Sequence[float], p2_rc: Sequence[float], pixel_spacing_rc_mm: Sequence[float]
) -> float:
    """Length in mm of a caliper line drawn on one slice between two (row, col) points.

    Parameters
    ----------
    p1_rc, p2_rc
        Endpoints as (row, col) pixel coordinates (fractions allowed).
    pixel_spacing_rc_mm
        (row spacing, column spacing) in mm: DICOM PixelSpacing (0028,0030) order.

    Returns
    -------
    float
        ``hypot(drow * row_spacing, dcol * col_spacing)``, rounded to 1e-9 mm.

    Raises
    ------
    MeasurementError
        If a point is not two finite numbers or the spacing is not two finite values > 0.

    References
    ----------
    .. [1] DICOM PS3.3 section 10.7.1.3, Pixel Spacing: "adjacent row spacing (delimiter)
       adjacent column spacing in mm".
    """
    sy, sx = _spacing(pixel_spacing_rc_mm, 2, "pixel_spacing_rc_mm")
    r1, c1 = _point(p1_rc, 2, "p1_rc")
    r2, c2 = _point(p2_rc, 2, "p2_rc")
    return _round(math.hypot((r2 - r1) * sy, (c2 - c1) * sx))


def caliper_length_lps_mm(p1: Sequence[float], p2: Sequence[float]) -> float:
    """Length in mm of a caliper line between two patient-coordinate (LPS, mm) points.

    Raises
    ------
    MeasurementError
        If a point is not three finite numbers.
    """
    a = _point(p1, 3, "p1")
    b = _point(p2, 3, "p2")
    return _round(math.dist(a, b))
