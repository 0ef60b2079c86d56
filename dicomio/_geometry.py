"""Place a stack of DICOM slices (or frames) on one regular grid, or refuse with a reason.

Rules (module constants give the tolerances):

- One ImageOrientationPatient (cosines within :data:`ORIENTATION_TOL`), one PixelSpacing, row and
  column cosines orthonormal.
- Slices are sorted by their position projected on the slice normal ``n = row x column``
  (ascending, so the slice axis of the affine points along ``+n``). Two slices at the same
  position are refused.
- The slice spacing comes from the positions, never from SliceThickness. Positions must sit on a
  regular grid within :data:`SPACING_REL_TOL` of the spacing. When some gaps are whole multiples
  of the smallest one (missing slices), the grid keeps that spacing and the missing slots are
  reported (at most :data:`MAX_MISSING_FRACTION` of the grid); any other variation is refused.
- Gantry tilt: when the positions step along a direction that is not the slice normal (the
  stack is sheared), the affine's slice column is the actual step between positions. The grid is
  then sheared: ``Geometry.voxel_volume_mm3`` (|det|) is the true voxel volume, in-plane
  distances are unchanged, and ``spacing_zyx_mm[0]`` is the length of the step (the distance
  between slice planes is that times the cosine of the tilt).
- A single slice takes its spacing from SpacingBetweenSlices, else SliceThickness, with a warning.

References
----------
.. [1] DICOM PS3.3 section C.7.6.2.1.1, "Image Position and Image Orientation".
.. [2] DICOM PS3.3 section C.7.6.2.1.3 (Slice Thickness is a nominal width, not a spacing).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dicomio._multiframe import FrameGeom
from dicomio.errors import GeometryError
from dicomio.model import Geometry

__all__ = [
    "MAX_MISSING_FRACTION",
    "ORIENTATION_TOL",
    "SPACING_REL_TOL",
    "GridPlan",
    "plan_grid",
]

#: Largest difference between direction cosines of two slices of one series.
ORIENTATION_TOL = 1e-4
#: Largest difference between two slices' pixel spacings, in mm.
PIXEL_SPACING_TOL_MM = 1e-4
#: Largest deviation of a slice position from the regular grid, as a fraction of the spacing.
SPACING_REL_TOL = 0.02
#: Largest share of inserted (missing) slices in the grid.
MAX_MISSING_FRACTION = 0.25
#: Positions closer than this along the normal are the same position (mm).
DUPLICATE_TOL_MM = 1e-3
#: Largest in-plane deviation of a slice position from the line through the stack (mm).
LINE_TOL_MM = 0.05
#: Shear (in-plane offset per mm along the normal) below which the grid is taken as orthogonal.
SHEAR_TOL = 1e-3
#: Largest patient coordinate (1 km) and pixel or slice spacing (10 m) taken as real, in mm;
#: beyond these the arithmetic of the grid overflows or the values are not in mm at all.
MAX_COORDINATE_MM = 1e6
MAX_SPACING_MM = 1e4


@dataclass(frozen=True, slots=True)
class GridPlan:
    """Where each input slice goes on the grid.

    ``slot[m]`` is the k index of input item ``m``; ``missing`` lists the k indices no item
    fills.
    """

    geometry: Geometry
    slot: tuple[int, ...]
    missing: tuple[int, ...]
    warnings: tuple[str, ...]


def _check_same_orientation(geoms: Sequence[FrameGeom], names: Sequence[str]) -> np.ndarray:
    ref = np.asarray(geoms[0].orientation, dtype=np.float64)
    for g, name in zip(geoms, names, strict=True):
        o = np.asarray(g.orientation, dtype=np.float64)
        if np.max(np.abs(o - ref)) > ORIENTATION_TOL:
            raise GeometryError(
                f"slice orientation differs within the series ({_fmt(ref)} vs {_fmt(o)} in "
                f"{name}); expected one ImageOrientationPatient per series"
            )
    return ref


def _check_same_spacing(geoms: Sequence[FrameGeom], names: Sequence[str]) -> tuple[float, float]:
    ref = geoms[0].pixel_spacing
    assert ref is not None
    for g, name in zip(geoms, names, strict=True):
        ps = g.pixel_spacing
        assert ps is not None
        if max(abs(ps[0] - ref[0]), abs(ps[1] - ref[1])) > PIXEL_SPACING_TOL_MM:
            raise GeometryError(
                f"pixel spacing differs within the series ({ref[0]:g}x{ref[1]:g} mm vs "
                f"{ps[0]:g}x{ps[1]:g} mm in {name}); expected one PixelSpacing per series"
            )
    if ref[0] <= 0 or ref[1] <= 0:
        raise GeometryError(f"PixelSpacing {ref[0]:g}x{ref[1]:g} mm is not positive")
    if max(ref) > MAX_SPACING_MM:
        raise GeometryError(
            f"PixelSpacing {ref[0]:g}x{ref[1]:g} mm is larger than {MAX_SPACING_MM:g} mm; "
            "expected a pixel spacing in mm"
        )
    return float(ref[0]), float(ref[1])


def _fmt(v: npt.ArrayLike) -> str:
    return "(" + ", ".join(f"{x:.4g}" for x in np.asarray(v).ravel()) + ")"


def _cosines(ori: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r, c = ori[:3], ori[3:]
    nr, nc = float(np.linalg.norm(r)), float(np.linalg.norm(c))
    if abs(nr - 1) > 1e-3 or abs(nc - 1) > 1e-3 or abs(float(r @ c)) > 1e-3:
        raise GeometryError(
            f"ImageOrientationPatient {_fmt(ori)} is not two orthogonal unit vectors; expected "
            "orthonormal row and column direction cosines"
        )
    r, c = r / nr, c / nc
    n = np.cross(r, c)
    return r, c, n / np.linalg.norm(n)


def _single_slice(geom: FrameGeom) -> tuple[float, str]:
    for value, what in (
        (geom.spacing_between_slices, "SpacingBetweenSlices"),
        (geom.slice_thickness, "SliceThickness"),
    ):
        if value is not None and 0 < value <= MAX_SPACING_MM:
            return float(value), (
                f"single-slice series: the slice spacing is taken from {what} ({value:g} mm)"
            )
    raise GeometryError(
        "single-slice series without SpacingBetweenSlices or SliceThickness; expected one of "
        "them to give the slice its depth"
    )


def _regular_grid(along: np.ndarray) -> tuple[float, np.ndarray]:
    """Spacing and integer slot of each sorted position, or GeometryError."""
    gaps = np.diff(along)
    gmin = float(gaps.min())
    near = gaps[gaps <= gmin * (1 + SPACING_REL_TOL)]
    spacing = float(np.median(near))
    for _ in range(3):  # refine: integer slots, then least squares through the first slice
        ks = np.rint((along - along[0]) / spacing).astype(np.int64)
        if ks[-1] > 0:
            spacing = float(np.dot(ks, along - along[0]) / np.dot(ks, ks))
    resid = np.abs(along - along[0] - ks * spacing)
    if np.max(resid) > SPACING_REL_TOL * spacing or np.any(np.diff(ks) < 1):
        raise GeometryError(
            f"slice spacing varies from {gmin:.3g} to {float(gaps.max()):.3g} mm along the slice "
            "normal; expected a regular grid (equal gaps, or gaps that are whole multiples of one "
            "spacing where slices are missing)"
        )
    return spacing, ks


def plan_grid(
    geoms: Sequence[FrameGeom], rows: int, columns: int, names: Sequence[str]
) -> GridPlan:
    """Build the grid of a stack of frames, or raise :class:`GeometryError`.

    Parameters
    ----------
    geoms
        Position, orientation and pixel spacing of each frame (any order).
    rows, columns
        The common matrix size.
    names
        A short label per frame (file name, frame number) for messages.
    """
    for g, name in zip(geoms, names, strict=True):
        for value, what in (
            (g.position, "ImagePositionPatient"),
            (g.orientation, "ImageOrientationPatient"),
            (g.pixel_spacing, "PixelSpacing"),
        ):
            if value is None:
                raise GeometryError(
                    f"{name} has no usable {what}; expected a position, orientation and pixel "
                    "spacing for every slice"
                )
    for g, name in zip(geoms, names, strict=True):
        if max(abs(v) for v in g.position or ()) > MAX_COORDINATE_MM:
            raise GeometryError(
                f"{name} has ImagePositionPatient {_fmt(g.position or ())}, beyond "
                f"{MAX_COORDINATE_MM:g} mm; expected patient coordinates in mm"
            )
    ori = _check_same_orientation(geoms, names)
    row_mm, col_mm = _check_same_spacing(geoms, names)
    r, c, n = _cosines(ori)
    pos = np.asarray([g.position for g in geoms], dtype=np.float64)
    along_raw = pos @ n
    order = np.argsort(along_raw, kind="stable")
    along = along_raw[order]
    spos = pos[order]
    warnings: list[str] = []
    if len(geoms) > 1:
        gaps = np.diff(along)
        if np.any(gaps < DUPLICATE_TOL_MM):
            m = int(np.argmin(gaps))
            raise GeometryError(
                f"two slices share one position ({names[order[m]]} and {names[order[m + 1]]} at "
                f"{along[m]:.3f} mm along the normal); expected one slice per position (is this "
                "two acquisitions or stacks in one series?)"
            )
    if len(geoms) == 1:
        spacing, note = _single_slice(geoms[0])
        warnings.append(note)
        step = spacing * n
        ks = np.zeros(1, dtype=np.int64)
    else:
        rel = spos - spos[0]
        d = rel @ n
        inplane = rel - np.outer(d, n)
        shear = (d @ inplane) / float(d @ d)
        if np.max(np.linalg.norm(inplane - np.outer(d, shear), axis=1)) > LINE_TOL_MM:
            raise GeometryError(
                "slice positions do not lie on one line; expected a stack of parallel slices "
                "stepping in one direction"
            )
        spacing, ks = _regular_grid(along)
        if np.linalg.norm(shear) < SHEAR_TOL:
            shear = np.zeros(3)
        else:
            tilt = math.degrees(math.atan(float(np.linalg.norm(shear))))
            warnings.append(
                f"the slices step {tilt:.1f} degrees off their normal (gantry tilt): the grid is "
                "sheared, volumes use the true voxel volume"
            )
        step = spacing * (n + shear)
    n_slices = int(ks[-1]) + 1
    filled = {int(k) for k in ks}
    if n_slices - len(filled) > MAX_MISSING_FRACTION * n_slices:  # before listing them all
        raise GeometryError(
            f"{n_slices - len(filled)} of {n_slices} slice positions are empty at {spacing:.4g} "
            f"mm spacing; expected at most {MAX_MISSING_FRACTION:.0%} missing slices"
        )
    missing = sorted(set(range(n_slices)) - filled)
    if missing:
        warnings.append(
            f"{len(missing)} missing slice(s) at index {', '.join(map(str, missing))} inserted "
            f"as empty to keep a regular {spacing:.4g} mm grid"
        )
    affine = np.eye(4)
    affine[:3, 0] = step
    affine[:3, 1] = c * row_mm
    affine[:3, 2] = r * col_mm
    affine[:3, 3] = spos[0]
    slot = np.empty(len(geoms), dtype=np.int64)
    slot[order] = ks
    return GridPlan(
        geometry=Geometry((n_slices, rows, columns), affine),
        slot=tuple(int(k) for k in slot),
        missing=tuple(missing),
        warnings=tuple(warnings),
    )
