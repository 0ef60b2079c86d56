"""The liver from one click on contrast-enhanced CT: seeded region growing with leak cutting.

Method (all thresholds relative to the seed, all radii in mm; see :class:`LiverParameters`):

1. Work on a grid of about 1.5 mm (block means of whole voxels), smoothed by a 3x3x3 median
   (SimpleITK) to remove noise without moving edges.
2. The seed intensity is the median of the smoothed image in a 10 mm ball around the click.
3. *Core*: voxels within a narrow HU window around the seed intensity, eroded by 5 mm, and the
   26-connected component nearest to the click. The erosion cuts the thin bridges through which
   liver-like tissue touches the heart, stomach, bowel, kidney or spleen; the narrow window's
   upper bound keeps enhanced blood pools (heart, IVC) out of the core.
4. *Growth*: the core is dilated back by its erosion radius, then by a further few mm, each
   time only into a wider HU window (a reconstruction limited in distance, so a leak through a
   surviving bridge cannot run far).
5. *Shape*: closing, hole filling in 3-D and slice by slice along each axis (vessels and lesions
   inside the liver belong to it), then a larger closing restricted to soft tissue (not fat or
   air) to take in lesions that bulge from the surface, and hole filling again.
6. Back on the full grid by linear interpolation of the mask; the volume is checked against the
   plausible range of an adult liver.

SimpleITK is used for its filters only (median, exact anisotropic distance maps, in
:mod:`segmentation._morphology`); it takes and returns numpy arrays here. Deterministic: no
random numbers, ties broken by array order.

References
----------
.. [1] Adams R, Bischof L. Seeded region growing. IEEE PAMI 1994;16(6):641-647.
.. [2] Maurer CR, Qi R, Raghavan V. A linear time algorithm for computing exact Euclidean
   distance transforms. IEEE PAMI 2003;25(2):265-270.
.. [3] Heimann T et al. Comparison and evaluation of methods for liver segmentation from CT
   datasets. IEEE TMI 2009;28(8):1251-1265 (the region-growing and morphology family).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from segmentation import _morphology as morph
from segmentation._checks import check_image, check_in_body, check_seed
from segmentation.errors import ImplausibleResultError, SeedError

__all__ = ["LiverParameters", "LiverSegmentation", "segment_liver"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LiverParameters:
    """Tuning of :func:`segment_liver`; the defaults were measured on portal-venous CT.

    HU offsets are relative to the seed intensity; lengths are in mm.
    """

    working_spacing_mm: float = 1.5
    seed_radius_mm: float = 10.0
    core_below_hu: float = 50.0
    core_above_hu: float = 40.0
    core_erosion_mm: float = 7.5
    core_regrow_mm: float = 5.0
    #: How far from the click the core may start (the click can land on a vessel).
    max_seed_to_core_mm: float = 25.0
    grow_below_hu: float = 50.0
    grow_above_hu: float = 60.0
    grow_mm: float = 3.0
    closing_mm: float = 6.0
    surface_closing_mm: float = 15.0
    #: Voxels darker than this (fat, air) are never added by the surface closing.
    surface_closing_min_hu: float = -30.0
    #: CT: a seed darker than this is air (outside the body, lung, bowel gas).
    body_threshold_hu: float = -500.0
    min_volume_ml: float = 500.0
    max_volume_ml: float = 5000.0


@dataclass(frozen=True, eq=False)
class LiverSegmentation:
    """A liver mask on the input grid and what the algorithm saw.

    ``mask`` is a read-only boolean (z, y, x) array.
    """

    mask: npt.NDArray[np.bool_]
    volume_ml: float
    seed_zyx: tuple[int, int, int]
    #: Median smoothed HU in the seed ball: the reference of every window.
    seed_hu: float
    grow_window_hu: tuple[float, float]
    core_volume_ml: float
    #: Distance from the click to the core (non-zero when the click lands on a vessel).
    seed_to_core_mm: float
    working_spacing_zyx_mm: tuple[float, float, float]
    parameters: LiverParameters = field(default_factory=LiverParameters)
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        view = self.mask.view()
        view.flags.writeable = False
        object.__setattr__(self, "mask", view)


def _seed_intensity(
    smooth: npt.NDArray[np.float32],
    seed: tuple[int, int, int],
    spacing: tuple[float, float, float],
    radius_mm: float,
) -> float:
    half = [int(np.ceil(radius_mm / s)) for s in spacing]
    lo = [max(c - h, 0) for c, h in zip(seed, half, strict=True)]
    box = smooth[tuple(slice(a, c + h + 1) for a, c, h in zip(lo, seed, half, strict=True))]
    centre = [c - a for c, a in zip(seed, lo, strict=True)]
    inside = morph.ball_offsets_mm(box.shape, centre, spacing) <= radius_mm**2
    return float(np.median(box[inside]))


def segment_liver(
    image_hu: npt.ArrayLike,
    spacing_zyx_mm: Sequence[float],
    seed_zyx: npt.ArrayLike,
    parameters: LiverParameters | None = None,
) -> LiverSegmentation:
    """Segment the liver of a CT volume from one click inside it.

    Parameters
    ----------
    image_hu
        CT volume in HU, axes (z, y, x).
    spacing_zyx_mm
        Voxel spacing along (slice, row, column) in mm.
    seed_zyx
        The click as a voxel index (k, j, i); rounded to the nearest voxel.
    parameters
        Tuning; the defaults suit portal-venous CT.

    Returns
    -------
    LiverSegmentation
        The mask on the input grid, its volume and diagnostics.

    Raises
    ------
    SegmentationInputError
        The image is not 3-D or the spacing is not positive.
    SeedError
        The seed is outside the image, in air (outside the body), or not in tissue that can be
        grown from (no homogeneous region near it).
    ImplausibleResultError
        The liver found is smaller or larger than the plausible range.
    """
    p = parameters or LiverParameters()
    image, spacing = check_image(image_hu, spacing_zyx_mm)
    seed = check_seed(seed_zyx, image.shape)
    check_in_body(image, seed, p.body_threshold_hu)

    factors = morph.block_factors(spacing, p.working_spacing_mm)
    work_sp = (spacing[0] * factors[0], spacing[1] * factors[1], spacing[2] * factors[2])
    small = morph.block_mean(image, factors)
    smooth = morph.median3(small, work_sp)
    small_seed = (seed[0] // factors[0], seed[1] // factors[1], seed[2] // factors[2])
    mu = _seed_intensity(smooth, small_seed, work_sp, p.seed_radius_mm)

    window = (smooth >= mu - p.core_below_hu) & (smooth <= mu + p.core_above_hu)
    eroded = morph.erode(window, p.core_erosion_mm, work_sp)
    core, seed_to_core = morph.component_nearest(eroded, small_seed, work_sp, p.max_seed_to_core_mm)
    if not core.any():
        raise SeedError(
            f"no homogeneous tissue around the seed at voxel {seed} ({mu:.0f} HU): no region of "
            f"{2 * p.core_erosion_mm:.0f} mm thickness within {p.max_seed_to_core_mm:.0f} mm; "
            "expected a click well inside the liver parenchyma"
        )
    # Everything below stays within the reach of the core: work in its bounding box (exact,
    # since the region never touches the box's border, which is also where holes end).
    reach = p.core_regrow_mm + p.grow_mm + p.closing_mm + p.surface_closing_mm
    box = morph.bounding_box(core, reach + 2 * max(work_sp), work_sp)
    local, core_local = smooth[box], core[box]
    grow = (local >= mu - p.grow_below_hu) & (local <= mu + p.grow_above_hu)
    grown = morph.dilate(core_local, p.core_regrow_mm, work_sp) & grow
    grown = morph.dilate(grown, p.grow_mm, work_sp) & grow
    grown = morph.component_containing(grown, core_local)
    grown = morph.fill_holes(morph.close(grown, p.closing_mm, work_sp))
    surface = morph.close(grown, p.surface_closing_mm, work_sp) & (local > p.surface_closing_min_hu)
    region = np.zeros(smooth.shape, dtype=bool)
    region[box] = morph.fill_holes(grown | surface)

    mask = morph.upsample_mask(region, factors, image.shape)
    voxel_ml = spacing[0] * spacing[1] * spacing[2] / 1000.0
    volume_ml = float(mask.sum()) * voxel_ml
    logger.info(
        "liver: seed %s at %.0f HU, core %.0f mL, result %.0f mL",
        seed,
        mu,
        float(core.sum()) * voxel_ml * factors[0] * factors[1] * factors[2],
        volume_ml,
    )
    if not p.min_volume_ml <= volume_ml <= p.max_volume_ml:
        raise ImplausibleResultError(
            f"the liver grown from voxel {seed} ({mu:.0f} HU) is {volume_ml:.0f} mL; expected "
            f"{p.min_volume_ml:.0f} to {p.max_volume_ml:.0f} mL for a liver: check that the "
            "click is inside the liver of a contrast-enhanced CT"
        )
    return LiverSegmentation(
        mask=mask,
        volume_ml=volume_ml,
        seed_zyx=seed,
        seed_hu=mu,
        grow_window_hu=(mu - p.grow_below_hu, mu + p.grow_above_hu),
        core_volume_ml=float(core.sum()) * voxel_ml * factors[0] * factors[1] * factors[2],
        seed_to_core_mm=seed_to_core,
        working_spacing_zyx_mm=work_sp,
        parameters=p,
    )
