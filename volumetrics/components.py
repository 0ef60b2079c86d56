"""Lesions as 3-D connected components, and mask volumes.

A lesion is a 3-D connected component of the tumour mask under 26-connectivity: voxels that touch
by a face, an edge or only a corner belong to the same lesion. Volume is the voxel count times the
voxel volume, with no partial-volume or mesh correction (contracts/measure.md, "Definitions").

References
----------
.. [1] ``cc3d.connected_components(mask, connectivity=26)`` (PyPI connected-components-3d):
   the same components, numbering (raster order of each component's first voxel) and bounding
   boxes as ``scipy.ndimage.label`` with a ``3 x 3 x 3`` structure of ones and
   ``scipy.ndimage.find_objects`` (checked by tests/volumetrics), and equal to
   ``SimpleITK.ConnectedComponent(..., fullyConnected=True)``. cc3d is used on the measurement
   path because importing ``scipy.ndimage`` alone costs a command-line run ~0.2-0.3 s.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cc3d
import numpy as np
import numpy.typing as npt

from volumetrics.errors import MaskError

logger = logging.getLogger(__name__)

__all__ = [
    "LesionVolume",
    "label_lesions",
    "lesion_volumes",
    "resolve_voxel_volume_mm3",
    "volume_ml",
]

#: mm^3 per mL.
_MM3_PER_ML = 1000.0

SliceZYX = tuple[slice, slice, slice]


@dataclass(frozen=True, slots=True)
class LesionVolume:
    """Volume of one lesion.

    Attributes
    ----------
    label
        Value of the lesion in the label array returned with it (1, 2, ...).
    voxel_count
        Number of voxels of the lesion.
    volume_ml
        ``voxel_count`` x voxel volume / 1000, in mL.
    bbox_zyx
        Bounding box of the lesion in the full volume, as slices along (z, y, x); use it to crop
        the label array before measuring diameters.
    """

    label: int
    voxel_count: int
    volume_ml: float
    bbox_zyx: SliceZYX


def resolve_voxel_volume_mm3(
    spacing_zyx_mm: Sequence[float], voxel_volume_mm3: float | None = None
) -> float:
    """Return the volume of one voxel in mm^3, validating the spacing.

    Parameters
    ----------
    spacing_zyx_mm
        Voxel spacing (z, y, x) in mm; each must be finite and > 0.
    voxel_volume_mm3
        Explicit voxel volume, which overrides the product of the spacing; pass ``|det(affine)|``
        for sheared (gantry-tilt) grids, where the product of the spacings is not the volume.

    Returns
    -------
    float
        The voxel volume in mm^3.

    Raises
    ------
    MaskError
        If the spacing is not three finite positive numbers, or the override is not finite and > 0.
    """
    try:
        values = tuple(float(s) for s in spacing_zyx_mm)
    except (TypeError, ValueError) as exc:
        raise MaskError(
            f"spacing_zyx_mm: expected three numbers (z, y, x) in mm, got {spacing_zyx_mm!r}"
        ) from exc
    if len(values) != 3 or not all(math.isfinite(s) and s > 0 for s in values):
        raise MaskError(
            f"spacing_zyx_mm: expected three finite spacings > 0 mm (z, y, x), got {values!r}"
        )
    if voxel_volume_mm3 is None:
        return values[0] * values[1] * values[2]
    override = float(voxel_volume_mm3)
    if not (math.isfinite(override) and override > 0):
        raise MaskError(f"voxel_volume_mm3: expected a finite volume > 0 mm^3, got {override!r}")
    return override


def as_mask_3d(mask: npt.ArrayLike, what: str = "mask") -> npt.NDArray[np.bool_]:
    """Return ``mask`` as a 3-D boolean array (non-zero is inside), without copying bool input.

    Raises
    ------
    MaskError
        If the array is not 3-D or not numeric/boolean.
    """
    arr = np.asarray(mask)
    if arr.ndim != 3:
        raise MaskError(f"{what}: expected a 3-D (z, y, x) array, got {arr.ndim} dimension(s)")
    if arr.dtype == np.bool_:
        return arr
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise MaskError(f"{what}: expected a boolean or numeric array, got dtype {arr.dtype}")
    inside: npt.NDArray[np.bool_] = arr != 0
    return inside


def volume_ml(
    mask: npt.NDArray[np.bool_],
    spacing_zyx_mm: Sequence[float],
    voxel_volume_mm3: float | None = None,
) -> float:
    """Volume of a mask: voxel count x voxel volume, in mL.

    Parameters
    ----------
    mask
        3-D (z, y, x) mask; non-zero voxels are inside.
    spacing_zyx_mm
        Voxel spacing (z, y, x) in mm.
    voxel_volume_mm3
        Optional exact voxel volume overriding the spacing product (see
        :func:`resolve_voxel_volume_mm3`).

    Returns
    -------
    float
        The volume in mL (mm^3 / 1000).
    """
    voxel = resolve_voxel_volume_mm3(spacing_zyx_mm, voxel_volume_mm3)
    count = int(np.count_nonzero(as_mask_3d(mask)))
    return count * voxel / _MM3_PER_ML


def _bbox(mask: npt.NDArray[np.bool_]) -> SliceZYX | None:
    """Bounding box of the non-zero voxels, found from axis projections (no full-size copy)."""
    bounds: list[slice] = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        present = np.flatnonzero(mask.any(axis=other))
        if present.size == 0:
            return None
        bounds.append(slice(int(present[0]), int(present[-1]) + 1))
    return (bounds[0], bounds[1], bounds[2])


def _label_crop(
    mask: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.integer], list[tuple[SliceZYX, int]]]:
    """26-connected labels of a (cropped) mask; each component's bounding box and voxel count.

    Labels are 1..n in raster order of each component's first voxel; cc3d picks the smallest
    unsigned type that holds them.
    """
    lab, n = cc3d.connected_components(
        np.ascontiguousarray(mask), connectivity=26, return_N=True, binary_image=True
    )
    if int(n) == 0:
        return lab, []
    stats = cc3d.statistics(lab)
    boxes = stats["bounding_boxes"]
    counts = stats["voxel_counts"]
    return lab, [
        ((boxes[i][0], boxes[i][1], boxes[i][2]), int(counts[i])) for i in range(1, int(n) + 1)
    ]


def _label_bridging(
    mask: npt.NDArray[np.bool_], voxel_mm3: float, bridge_slices: Sequence[int]
) -> tuple[npt.NDArray[np.int32], tuple[LesionVolume, ...]]:
    """Label as if the ``bridge_slices`` (missing acquisitions) were not there at all."""
    gaps = sorted({int(g) for g in bridge_slices})
    if any(not 0 <= g < mask.shape[0] for g in gaps):
        raise MaskError(f"bridge slices {gaps} lie outside the {mask.shape[0]} slices of the mask")
    for g in gaps:
        if mask[g].any():
            raise MaskError(
                f"slice {g} was not acquired (a missing slice) but holds tumour voxels; "
                "expected it empty"
            )
    keep = np.setdiff1d(np.arange(mask.shape[0]), gaps)
    sub_labels, sub_volumes = label_components(mask[keep], voxel_mm3)
    labels = np.zeros(mask.shape, dtype=np.int32)
    labels[keep] = sub_labels
    volumes = tuple(
        LesionVolume(
            v.label,
            v.voxel_count,
            v.volume_ml,
            (
                slice(int(keep[v.bbox_zyx[0].start]), int(keep[v.bbox_zyx[0].stop - 1]) + 1),
                v.bbox_zyx[1],
                v.bbox_zyx[2],
            ),
        )
        for v in sub_volumes
    )
    return labels, volumes


def label_components(
    tumor_mask: npt.NDArray[np.bool_], voxel_mm3: float, bridge_slices: Sequence[int] = ()
) -> tuple[npt.NDArray[np.int32], tuple[LesionVolume, ...]]:
    """Label 26-connected components and measure each one (the work behind :func:`label_lesions`).

    Only the mask's bounding box is labelled, and the full-size output is written only inside
    each lesion's own bounding box: the untouched pages of the freshly zeroed array are never
    committed, which keeps the memory of a large, mostly empty volume low.

    ``bridge_slices`` are slice indices that were never acquired (a series' missing slices, filled
    with empty slices on a regular grid): connectivity runs across them, so a lesion is not split
    in two by a gap in the acquisition.
    """
    mask = as_mask_3d(tumor_mask, "tumor_mask")
    if bridge_slices:
        return _label_bridging(mask, voxel_mm3, bridge_slices)
    labels = np.zeros(mask.shape, dtype=np.int32)
    box = _bbox(mask)
    if box is None:
        return labels, ()
    crop_labels, components = _label_crop(mask[box])
    full_crop = labels[box]
    volumes: list[LesionVolume] = []
    for lab, (obj, count) in enumerate(components, start=1):
        inside = crop_labels[obj] == lab
        full_crop[obj][inside] = lab
        bbox = tuple(
            slice(outer.start + inner.start, outer.start + inner.stop)
            for outer, inner in zip(box, obj, strict=True)
        )
        volumes.append(
            LesionVolume(lab, count, count * voxel_mm3 / _MM3_PER_ML, (bbox[0], bbox[1], bbox[2]))
        )
    return labels, tuple(volumes)


def label_lesions(tumor_mask: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.int32], int]:
    """Label the lesions of a tumour mask as 26-connected components.

    Parameters
    ----------
    tumor_mask
        3-D (z, y, x) mask; non-zero voxels are tumour.

    Returns
    -------
    labels : numpy.ndarray of int32
        Same shape as the mask: 0 outside, 1..n for the lesions in raster (z, y, x) order of
        their first voxel.
    n : int
        The number of lesions.

    Raises
    ------
    MaskError
        If the mask is not a 3-D array.
    """
    labels, volumes = label_components(tumor_mask, 1.0)
    return labels, len(volumes)


def _volumes_from_labels(
    labels: npt.NDArray[np.int32], n: int, voxel_mm3: float
) -> tuple[LesionVolume, ...]:
    from scipy import ndimage  # off the measurement path (see the module's references)

    boxes = ndimage.find_objects(labels, max_label=n)
    out: list[LesionVolume] = []
    for lab, box in enumerate(boxes, start=1):
        if box is None:
            raise MaskError(f"lesion label {lab} has no voxels; expected labels 1..{n} all present")
        count = int(np.count_nonzero(labels[box] == lab))
        out.append(
            LesionVolume(lab, count, count * voxel_mm3 / _MM3_PER_ML, (box[0], box[1], box[2]))
        )
    return tuple(out)


def lesion_volumes(
    labels_zyx: npt.NDArray[np.integer],
    n: int,
    spacing_zyx_mm: Sequence[float],
    voxel_volume_mm3: float | None = None,
) -> tuple[LesionVolume, ...]:
    """Volume and bounding box of each lesion 1..n of a label array.

    Raises
    ------
    MaskError
        If the labels are not 3-D, the spacing is invalid, or a label in 1..n is absent.
    """
    voxel = resolve_voxel_volume_mm3(spacing_zyx_mm, voxel_volume_mm3)
    arr = np.asarray(labels_zyx)
    if arr.ndim != 3 or not np.issubdtype(arr.dtype, np.integer):
        raise MaskError(
            f"labels_zyx: expected a 3-D integer array, got {arr.ndim}-D {arr.dtype} array"
        )
    return _volumes_from_labels(arr.astype(np.int32, copy=False), int(n), voxel)


def labels_from_lesion_masks(
    lesion_masks: Sequence[npt.NDArray[np.bool_]],
    tumor_mask: npt.NDArray[np.bool_],
    voxel_mm3: float,
) -> tuple[npt.NDArray[np.int32], tuple[LesionVolume, ...]]:
    """Lesions given one mask each: label ``i + 1`` for ``lesion_masks[i]``.

    Each mask is one lesion even when it has several components. Each lesion's volume counts its
    own voxels; where masks overlap, the label array holds the lowest label (a warning is logged).
    The union of the lesion masks must equal the tumour mask.

    Raises
    ------
    MaskError
        If a mask has the wrong shape, is empty, or the union differs from the tumour mask.
    """
    labels = np.zeros(tumor_mask.shape, dtype=np.int32)
    volumes: list[LesionVolume] = []
    for i, raw in enumerate(lesion_masks):
        mask = as_mask_3d(raw, f"lesion_masks[{i}]")
        if mask.shape != tumor_mask.shape:
            raise MaskError(
                f"lesion_masks[{i}]: shape {mask.shape} differs from the tumour mask "
                f"{tumor_mask.shape}; expected masks on the same grid"
            )
        box = _bbox(mask)
        if box is None:
            raise MaskError(f"lesion_masks[{i}] is empty; expected at least one voxel per lesion")
        crop, lab_crop = mask[box], labels[box]
        if not tumor_mask[box][crop].all():
            raise MaskError(
                f"lesion_masks[{i}] has voxels outside the tumour mask; expected the tumour mask "
                "to be the union of the lesion masks"
            )
        free = crop & (lab_crop == 0)
        count = int(np.count_nonzero(crop))
        if int(np.count_nonzero(free)) != count:
            logger.warning("lesion mask %d overlaps an earlier lesion mask", i)
        lab_crop[free] = i + 1
        volumes.append(LesionVolume(i + 1, count, count * voxel_mm3 / _MM3_PER_ML, box))
    union = int(np.count_nonzero(labels))
    total = int(np.count_nonzero(tumor_mask))
    if union != total:
        raise MaskError(
            f"the lesion masks cover {union} of the tumour mask's {total} voxels; expected the "
            "tumour mask to be the union of the lesion masks"
        )
    return labels, tuple(volumes)
