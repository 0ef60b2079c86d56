"""Synthetic liver studies with analytic truth: the project's own test-data generator.

A phantom is a body (an elliptic cylinder of soft tissue in air) holding a liver (an ellipsoid)
with ellipsoidal lesions, sampled on a voxel grid of any spacing and orientation. Every voxel is
classified by whether its centre lies inside a shape, so the truth (voxel counts, volumes, burden,
diameters between pixel centres) is exact for the grid, and the analytic ellipsoid volumes are
given beside it. Everything is deterministic: the noise comes from a seeded legacy NumPy stream
(frozen by NumPy's compatibility policy) and UIDs are derived from the seed.

Writing is in :mod:`phantoms.dicom` (DICOM series, SEG, NIfTI).

The array and affine conventions are those of :mod:`dicomio.model`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from phantoms.spec import PhantomSpec
from phantoms.truth import max_feret_mm, slice_diameters
from phantoms.uids import phantom_uids

__all__ = ["Phantom", "make_phantom"]

#: RECIST 1.1 measurability (section 3.1.1): 10 mm, or twice the slice thickness above 5 mm.
_MIN_LONG_AXIS_MM = 10.0
_THICK_SLICE_MM = 5.0
_TIE_MM = 1e-9


@dataclass(frozen=True, eq=False)
class Phantom:
    """A generated study on its grid.

    Attributes
    ----------
    spec
        What was asked for.
    hu
        ``int16`` ``(z, y, x)`` values: Hounsfield units for CT (clipped to [-1024, 3071]), the
        stored signal for MR.
    labels
        ``uint8`` ``(z, y, x)``: 0 background, 1 liver parenchyma, 2 tumour.
    lesion_index
        ``uint8`` ``(z, y, x)``: 0 outside lesions, ``n`` inside ``spec.lesions[n - 1]``.
    affine
        4x4 index ``(k, j, i)`` to LPS mm, as in :class:`dicomio.model.Geometry`.
    truth
        JSON-ready figures in the shape of the ``liverburden measure --json`` output, plus extras
        (analytic volumes, voxel counts, ties); see :func:`make_phantom`.

    The arrays are read-only views; copy them to derive variants.
    """

    spec: PhantomSpec
    hu: npt.NDArray[np.int16]
    labels: npt.NDArray[np.uint8]
    lesion_index: npt.NDArray[np.uint8]
    affine: npt.NDArray[np.float64]
    truth: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("hu", "labels", "lesion_index", "affine"):
            view = getattr(self, name).view()
            view.flags.writeable = False
            object.__setattr__(self, name, view)

    @property
    def spacing_zyx_mm(self) -> tuple[float, float, float]:
        return self.spec.spacing_zyx_mm

    @property
    def voxel_volume_mm3(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3])))


def _affine(spec: PhantomSpec) -> npt.NDArray[np.float64]:
    row, col = (np.asarray(v, dtype=np.float64) for v in spec.orientation)
    normal = np.cross(row, col)
    sz, sy, sx = spec.spacing_zyx_mm
    affine = np.eye(4)
    affine[:3, 0] = normal * sz
    affine[:3, 1] = col * sy
    affine[:3, 2] = row * sx
    if spec.origin_lps_mm is None:
        centre_index = (np.asarray(spec.shape_zyx, dtype=np.float64) - 1.0) / 2.0
        affine[:3, 3] = -(affine[:3, :3] @ centre_index)
    else:
        affine[:3, 3] = spec.origin_lps_mm
    return affine


def _index_box(
    affine: npt.NDArray[np.float64],
    shape: tuple[int, int, int],
    lo_lps: npt.NDArray[np.float64],
    hi_lps: npt.NDArray[np.float64],
) -> tuple[slice, slice, slice] | None:
    """Index ranges covering an LPS box (the affine maps its corners to the extreme indices)."""
    corners = np.array(
        [
            [x, y, z]
            for x in (lo_lps[0], hi_lps[0])
            for y in (lo_lps[1], hi_lps[1])
            for z in (lo_lps[2], hi_lps[2])
        ]
    )
    inv = np.linalg.inv(affine)
    idx = corners @ inv[:3, :3].T + inv[:3, 3]
    lo = np.maximum(np.floor(idx.min(axis=0)).astype(int) - 1, 0)
    hi = np.minimum(np.ceil(idx.max(axis=0)).astype(int) + 2, np.asarray(shape))
    if np.any(hi <= lo):
        return None
    return (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))


def _inside_ellipsoid(
    affine: npt.NDArray[np.float64],
    box: tuple[slice, slice, slice],
    k: int,
    centre: tuple[float, float, float],
    semi_axes: tuple[float, float, float],
) -> npt.NDArray[np.bool_]:
    """Which voxel centres of slice ``k`` within ``box``'s rows/columns lie in the ellipsoid."""
    j = np.arange(box[1].start, box[1].stop, dtype=np.float64)[:, None]
    i = np.arange(box[2].start, box[2].stop, dtype=np.float64)[None, :]
    total = np.zeros((j.shape[0], i.shape[1]))
    for axis in range(3):
        coord = affine[axis, 3] + k * affine[axis, 0] + j * affine[axis, 1] + i * affine[axis, 2]
        total += ((coord - centre[axis]) / semi_axes[axis]) ** 2
    return np.asarray(total <= 1.0)


def _fill_ellipsoid(
    target: npt.NDArray[np.generic],
    value: int,
    affine: npt.NDArray[np.float64],
    centre: tuple[float, float, float],
    semi_axes: tuple[float, float, float],
    guard: npt.NDArray[np.uint8] | None = None,
) -> int:
    """Set ``target`` to ``value`` inside the ellipsoid; return the voxel count.

    With ``guard``, raise when a voxel to fill is already non-zero there (overlapping lesions).
    """
    c, a = np.asarray(centre), np.asarray(semi_axes)
    box = _index_box(affine, target.shape, c - a, c + a)
    if box is None:
        return 0
    count = 0
    for k in range(box[0].start, box[0].stop):
        inside = _inside_ellipsoid(affine, box, k, centre, semi_axes)
        if guard is not None and np.any(guard[k, box[1], box[2]][inside]):
            raise ValueError(f"lesion {value} overlaps another lesion; expected disjoint lesions")
        target[k, box[1], box[2]][inside] = value
        count += int(inside.sum())
    return count


def _lesion_truth(
    phantom_lesions: npt.NDArray[np.uint8], number: int, spec: PhantomSpec
) -> dict[str, Any]:
    lesion = spec.lesions[number - 1]
    mask = phantom_lesions == number
    count = int(mask.sum())
    if count == 0:
        raise ValueError(f"lesion {number} has no voxel on the grid; expected it inside the grid")
    sz, sy, sx = spec.spacing_zyx_mm
    per_slice: list[tuple[int, float]] = []
    for k in np.nonzero(mask.any(axis=(1, 2)))[0]:
        per_slice.append((int(k), max_feret_mm(mask[k], (sy, sx))))
    longest = max(v for _, v in per_slice)
    tied = [k for k, v in per_slice if v >= longest - _TIE_MM]
    best = slice_diameters(mask[tied[0]], (sy, sx))
    thickness = spec.slice_thickness
    measurable = best.long_axis_mm >= _MIN_LONG_AXIS_MM and (
        thickness <= _THICK_SLICE_MM or best.long_axis_mm >= 2.0 * thickness
    )
    a, b, c = lesion.semi_axes_mm
    voxel_mm3 = sz * sy * sx
    return {
        "spec_index": number,
        "volume_ml": count * voxel_mm3 / 1000.0,
        "long_axis_mm": best.long_axis_mm,
        "short_axis_mm": best.short_axis_mm,
        "slice_index": tied[0],
        "measurable": bool(measurable),
        "voxel_count": count,
        "analytic_volume_ml": 4.0 / 3.0 * math.pi * a * b * c / 1000.0,
        "center_lps_mm": list(lesion.center_lps_mm),
        "semi_axes_mm": list(lesion.semi_axes_mm),
        "slices_with_long_axis": tied,
        "short_axis_range_mm": list(best.short_axis_range_mm),
        "long_axis_endpoints_rc_mm": [list(p) for p in best.long_axis_endpoints_mm],
    }


def _truth(
    spec: PhantomSpec, labels: npt.NDArray[np.uint8], lesions: npt.NDArray[np.uint8]
) -> dict[str, Any]:
    voxel_mm3 = spec.spacing_zyx_mm[0] * spec.spacing_zyx_mm[1] * spec.spacing_zyx_mm[2]
    liver_voxels = int(np.count_nonzero(labels))
    tumor_voxels = int(np.count_nonzero(labels == 2))
    per_lesion = [_lesion_truth(lesions, n, spec) for n in range(1, len(spec.lesions) + 1)]
    per_lesion.sort(key=lambda d: (-d["long_axis_mm"], d["spec_index"]))
    for rank, d in enumerate(per_lesion, start=1):
        d["lesion_id"] = f"L{rank}"
    liver_ml = liver_voxels * voxel_mm3 / 1000.0
    tumor_ml = tumor_voxels * voxel_mm3 / 1000.0
    burden = tumor_ml / liver_ml if liver_voxels else None
    uids = phantom_uids(spec)
    a, b, c = spec.liver_semi_axes_mm
    return {
        "series": {
            "series_instance_uid": uids.series,
            "modality": spec.modality,
            "slices": spec.shape_zyx[0],
            "spacing_mm": list(spec.spacing_zyx_mm),
            "slice_thickness_mm": spec.slice_thickness,
        },
        "study_instance_uid": uids.study,
        "frame_of_reference_uid": uids.frame_of_reference,
        "liver_volume_ml": liver_ml,
        "tumor_volume_ml": tumor_ml,
        "burden_fraction": burden,
        "eligibility": {
            "burden_le_70pct": None if burden is None else burden <= 0.70,
            "burden_gt_25pct": None if burden is None else burden > 0.25,
            "measurable_liver_lesion": any(d["measurable"] for d in per_lesion),
        },
        "lesions": per_lesion,
        "liver_voxel_count": liver_voxels,
        "tumor_voxel_count": tumor_voxels,
        "voxel_volume_mm3": voxel_mm3,
        "liver_analytic_volume_ml": 4.0 / 3.0 * math.pi * a * b * c / 1000.0,
        "phase": str(spec.phase),
    }


def make_phantom(spec: PhantomSpec) -> Phantom:
    """Sample ``spec`` on its grid and compute the truth.

    Voxels whose centre lies in the body get the body value, in the liver the liver value, in a
    lesion the lesion's value (lesions win over the liver, whether or not they lie inside it);
    then Gaussian noise of ``spec.noise_sigma`` is added (seeded) and values are rounded. The liver
    label covers parenchyma only; total liver volume in the truth is liver plus tumour.

    The truth has the measure output's keys: ``series`` (``series_instance_uid``, ``modality``,
    ``slices``, ``spacing_mm`` in (z, y, x), ``slice_thickness_mm``), ``liver_volume_ml``,
    ``tumor_volume_ml``, ``burden_fraction``, ``eligibility`` and ``lesions`` (sorted by long axis,
    ``lesion_id`` L1.., ``volume_ml``, ``long_axis_mm``, ``short_axis_mm``, ``slice_index``,
    ``measurable``), and extras: per lesion ``spec_index`` (1-based position in ``spec.lesions``),
    ``voxel_count``, ``analytic_volume_ml``, ``slices_with_long_axis`` (all slices reaching it),
    ``short_axis_range_mm`` (over tied long-axis directions); overall voxel counts,
    ``liver_analytic_volume_ml``, the study and frame-of-reference UIDs and the phase.

    Raises
    ------
    ValueError
        When two lesions overlap or touch (they would merge into one 26-connected component), or
        a lesion has no voxel on the grid.
    """
    affine = _affine(spec)
    # With a pose the anatomy is sampled where the grid lies relative to the body (the grid
    # moved by the pose's inverse); the images keep the grid's own position: the body moves.
    sampling = affine if spec.pose is None else np.linalg.inv(spec.pose.matrix()) @ affine
    shape = spec.shape_zyx
    tissue = spec.tissue_values
    labels = np.zeros(shape, dtype=np.uint8)
    lesions = np.zeros(shape, dtype=np.uint8)
    _fill_ellipsoid(labels, 1, sampling, spec.liver_center_lps_mm, spec.liver_semi_axes_mm)
    for n, lesion in enumerate(spec.lesions, start=1):
        _fill_ellipsoid(lesions, n, sampling, lesion.center_lps_mm, lesion.semi_axes_mm, lesions)
    labels[lesions > 0] = 2
    if spec.lesions:
        box = ndimage.find_objects((lesions > 0).view(np.uint8))
        crop = lesions[box[0]] > 0 if box else np.zeros((1, 1, 1), dtype=bool)
        _, components = ndimage.label(crop, structure=np.ones((3, 3, 3), dtype=bool))
        if components != len(spec.lesions):
            raise ValueError(
                f"{len(spec.lesions)} lesions form {components} 26-connected components; "
                "expected lesions that neither touch nor vanish"
            )
    truth = _truth(spec, labels, lesions)

    values = np.array(
        [
            tissue.liver,
            tissue.lesion,
            *[les.hu if les.hu is not None else tissue.lesion for les in spec.lesions],
        ]
    )
    rng = np.random.RandomState(spec.noise_seed)  # legacy stream: frozen across NumPy versions
    hu = np.empty(shape, dtype=np.int16)
    j = np.arange(shape[1], dtype=np.float64)[:, None]
    i = np.arange(shape[2], dtype=np.float64)[None, :]
    bx, by = spec.body_center_xy_mm
    ba, bb = spec.body_semi_axes_xy_mm
    for k in range(shape[0]):
        x = sampling[0, 3] + k * sampling[0, 0] + j * sampling[0, 1] + i * sampling[0, 2]
        y = sampling[1, 3] + k * sampling[1, 0] + j * sampling[1, 1] + i * sampling[1, 2]
        body = ((x - bx) / ba) ** 2 + ((y - by) / bb) ** 2 <= 1.0
        plane = np.where(body, tissue.body, tissue.air)
        lab, les = labels[k], lesions[k]
        plane = np.where(lab == 1, values[0], plane)
        plane = np.where(les > 0, values[les.astype(np.intp) + 1], plane)
        if spec.noise_sigma > 0:
            plane = plane + spec.noise_sigma * rng.standard_normal(plane.shape)
        hu[k] = np.clip(np.rint(plane), spec.value_range[0], spec.value_range[1])
    return Phantom(
        spec=spec, hu=hu, labels=labels, lesion_index=lesions, affine=affine, truth=truth
    )
