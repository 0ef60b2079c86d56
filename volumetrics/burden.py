"""Total liver volume, hepatic tumour volume, burden fraction and the trial's burden flags.

Definitions (contracts/measure.md):

- total liver volume = volume of the union of the liver mask and the tumour mask, so a liver mask
  that already includes its tumours and one that excludes them (liver parenchyma, as in LiTS/MSD
  label maps) give the same answer;
- hepatic tumour volume = volume of the tumour mask;
- ``burden_fraction`` = hepatic tumour volume / total liver volume, in 0..1;
- without a liver mask the liver volume, the fraction and the flags are ``None``.

The flags compare the integer voxel counts exactly against :mod:`volumetrics.thresholds`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from volumetrics.components import (
    LesionVolume,
    as_mask_3d,
    label_components,
    labels_from_lesion_masks,
    resolve_voxel_volume_mm3,
)
from volumetrics.errors import MaskError
from volumetrics.thresholds import BURDEN_HIGH_FRACTION, BURDEN_MAX_FRACTION

logger = logging.getLogger(__name__)

__all__ = ["BurdenResult", "burden_flags", "measure_burden"]

_MM3_PER_ML = 1000.0
#: Slices per chunk when counting the liver/tumour union (bounds the temporary memory).
_CHUNK_SLICES = 32


@dataclass(frozen=True, slots=True)
class BurdenResult:
    """Volumes, burden fraction and burden flags of one series.

    Attributes
    ----------
    liver_voxels
        Voxels of the total liver (union of liver and tumour masks); ``None`` without a liver.
    tumor_voxels
        Voxels of the tumour mask.
    liver_volume_ml, tumor_volume_ml
        The same as volumes in mL.
    burden_fraction
        ``tumor_voxels / liver_voxels`` (0..1), ``None`` without a liver.
    burden_le_70pct
        Fraction <= :data:`~volumetrics.thresholds.BURDEN_MAX_FRACTION` (inclusive), decided
        exactly on the voxel counts; ``None`` without a liver.
    burden_gt_25pct
        Fraction > :data:`~volumetrics.thresholds.BURDEN_HIGH_FRACTION` (strict), exactly;
        ``None`` without a liver.
    lesions
        One record per lesion, in label order (1, 2, ...).
    voxel_volume_mm3
        The voxel volume used, in mm^3.
    """

    liver_voxels: int | None
    tumor_voxels: int
    liver_volume_ml: float | None
    tumor_volume_ml: float
    burden_fraction: float | None
    burden_le_70pct: bool | None
    burden_gt_25pct: bool | None
    lesions: tuple[LesionVolume, ...]
    voxel_volume_mm3: float


def burden_flags(tumor_voxels: int, liver_voxels: int) -> tuple[bool, bool]:
    """Decide the trial's two burden flags exactly from integer voxel counts.

    Parameters
    ----------
    tumor_voxels
        Voxels of the hepatic tumour mask.
    liver_voxels
        Voxels of the total liver (liver union tumour), > 0 and >= ``tumor_voxels``.

    Returns
    -------
    (le_70pct, gt_25pct) : tuple of bool
        ``tumor / liver <= 0.70`` and ``tumor / liver > 0.25``, compared as exact rationals.

    Raises
    ------
    MaskError
        If a count is not a non-negative integer, the liver is empty, or the tumour has more
        voxels than the total liver.

    References
    ----------
    .. [1] RETNET (NCT02724540) protocol, Table 1: "Liver tumor burden <= 70 % of the total liver
       volume"; "baseline tumor burden > 25 % of the liver volume".
    """
    for name, value in (("tumor_voxels", tumor_voxels), ("liver_voxels", liver_voxels)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise MaskError(f"{name}: expected a voxel count (integer >= 0), got {value!r}")
    if liver_voxels == 0:
        raise MaskError("liver_voxels: the total liver is empty; expected at least one voxel")
    if tumor_voxels > liver_voxels:
        raise MaskError(
            f"tumor_voxels ({tumor_voxels}) exceeds liver_voxels ({liver_voxels}); expected the "
            "total liver to include the tumour"
        )
    fraction = Fraction(int(tumor_voxels), int(liver_voxels))
    return fraction <= Fraction(BURDEN_MAX_FRACTION), fraction > Fraction(BURDEN_HIGH_FRACTION)


def _union_count(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> int:
    total = 0
    for z in range(0, a.shape[0], _CHUNK_SLICES):
        total += int(np.count_nonzero(a[z : z + _CHUNK_SLICES] | b[z : z + _CHUNK_SLICES]))
    return total


def measure_burden(
    tumor_mask: npt.NDArray[np.bool_],
    liver_mask: npt.NDArray[np.bool_] | None,
    spacing_zyx_mm: Sequence[float],
    *,
    voxel_volume_mm3: float | None = None,
    lesion_masks: Sequence[npt.NDArray[np.bool_]] | None = None,
    bridge_slices: Sequence[int] = (),
) -> tuple[BurdenResult, npt.NDArray[np.int32]]:
    """Measure total liver volume, tumour volume, lesions and the burden flags.

    Parameters
    ----------
    tumor_mask
        3-D (z, y, x) hepatic tumour mask (non-zero inside); may be empty.
    liver_mask
        3-D liver mask on the same grid, with or without its tumours, or ``None`` when there is no
        liver (lesions of any organ are then measured, and liver figures are ``None``).
    spacing_zyx_mm
        Voxel spacing (z, y, x) in mm.
    voxel_volume_mm3
        Exact voxel volume overriding the spacing product, e.g. ``|det(affine)|`` of a sheared
        (gantry-tilt) grid.
    lesion_masks
        Lesions given separately (e.g. distinct SEG segments): each mask is one lesion, label
        ``i + 1``, even with several components. Their union must equal ``tumor_mask``. When
        ``None``, lesions are the 26-connected components of ``tumor_mask``.
    bridge_slices
        Indices of slices that were never acquired (missing slices on a regular grid): 26-connected
        components are formed across them. They must hold no tumour voxels.

    Returns
    -------
    result : BurdenResult
        Volumes, fraction, flags and per-lesion volumes.
    labels : numpy.ndarray of int32
        Lesion label array (0 outside, ``lesion.label`` inside), to measure diameters per lesion
        without relabelling.

    Raises
    ------
    MaskError
        On non-3-D or mismatched masks, invalid spacing, inconsistent lesion masks, or a liver
        mask given with an empty total liver.
    """
    voxel = resolve_voxel_volume_mm3(spacing_zyx_mm, voxel_volume_mm3)
    tumor = as_mask_3d(tumor_mask, "tumor_mask")
    liver = None if liver_mask is None else as_mask_3d(liver_mask, "liver_mask")
    if liver is not None and liver.shape != tumor.shape:
        raise MaskError(
            f"liver_mask shape {liver.shape} differs from tumor_mask shape {tumor.shape}; "
            "expected both on the series grid"
        )
    if lesion_masks is None:
        labels, lesions = label_components(tumor, voxel, bridge_slices)
    else:
        labels, lesions = labels_from_lesion_masks(lesion_masks, tumor, voxel)
    tumor_voxels = int(np.count_nonzero(tumor))

    liver_voxels: int | None = None
    liver_ml = fraction = None
    le70 = gt25 = None
    if liver is not None:
        liver_voxels = _union_count(liver, tumor)
        if liver_voxels == 0:
            raise MaskError(
                "liver and tumour masks are both empty; expected a liver (or no liver mask)"
            )
        liver_ml = liver_voxels * voxel / _MM3_PER_ML
        fraction = tumor_voxels / liver_voxels
        le70, gt25 = burden_flags(tumor_voxels, liver_voxels)
    result = BurdenResult(
        liver_voxels=liver_voxels,
        tumor_voxels=tumor_voxels,
        liver_volume_ml=liver_ml,
        tumor_volume_ml=tumor_voxels * voxel / _MM3_PER_ML,
        burden_fraction=fraction,
        burden_le_70pct=le70,
        burden_gt_25pct=gt25,
        lesions=lesions,
        voxel_volume_mm3=voxel,
    )
    logger.debug(
        "burden: %d tumour voxels, %s liver voxels, %d lesions",
        tumor_voxels,
        liver_voxels,
        len(lesions),
    )
    return result, labels
