"""A liver lesion from a click at its centre, or from the reader's long-axis caliper line.

Method (see :class:`LesionParameters`):

1. Crop a box around the seed (the bound radius plus a margin), smooth it with a Gaussian of
   1 mm (SimpleITK's recursive Gaussian, exact for anisotropic spacing).
2. Lesion intensity: the median in a 3 mm ball at the seed. Background: the median of the liver
   (``liver_mask``) within 20 mm around the bound ball; without a liver, the soft-tissue histogram
   peak of the box nearest to what the rays first meet when they leave the seed's intensity.
   The lesion is hypodense or hyperdense by the sign of the difference, which must be at least
   ``min_contrast_hu``.
3. Cast rays from the seed in ``ray_count`` directions out to the bound radius. A ray stops at
   the start of the first run of ``stop_run_mm`` of samples that look like background: within
   ``stop_offset_hu`` of it or beyond it (brighter than the parenchyma for a hypodense lesion,
   unless very bright: calcification and vessels inside a lesion do not stop a ray), or fat/air,
   or outside the liver mask. Runs ignore single noisy samples and the lesion's own texture.
4. Regularise the radii (median over neighbouring directions), rasterise the star-shaped region,
   keep it inside the liver, fill holes.

The bound radius comes from the caliper line (the seed is its midpoint, the radius a margin over
half its length), from ``max_diameter_mm``, or defaults to 50 mm. Rays that reach the bound are
counted in ``bounded_fraction``: a large fraction means the lesion may be larger than the bound.

References
----------
.. [1] Eisenhauer EA et al. New response evaluation criteria in solid tumours: RECIST 1.1. Eur J
   Cancer 2009;45:228-247 (the long-axis caliper the line comes from).
.. [2] Moltz JH et al. Segmentation of liver metastases in CT scans by adaptive thresholding and
   morphological processing. MICCAI workshop 3D Segmentation in the Clinic, 2008 (ray-based
   lesion segmentation from a seed).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from segmentation import _morphology as morph
from segmentation import _rays as rays
from segmentation._checks import check_image, check_in_body, check_mask, check_seed
from segmentation.errors import ImplausibleResultError, SeedError

__all__ = [
    "LesionContrast",
    "LesionParameters",
    "LesionSegmentation",
    "segment_lesion",
    "segment_lesion_from_line",
]

logger = logging.getLogger(__name__)


class LesionContrast(enum.StrEnum):
    """Whether the lesion is darker or brighter than the parenchyma around it."""

    HYPODENSE = "hypodense"
    HYPERDENSE = "hyperdense"


@dataclass(frozen=True, slots=True)
class LesionParameters:
    """Tuning of :func:`segment_lesion`; HU offsets relative to the background, lengths in mm."""

    smoothing_sigma_mm: float = 1.0
    seed_radius_mm: float = 3.0
    default_max_radius_mm: float = 50.0
    #: Bound radius from a caliper line: factor x half its length, plus the margin.
    line_radius_factor: float = 1.3
    line_margin_mm: float = 3.0
    ray_count: int = 500
    ray_step_mm: float = 0.5
    stop_offset_hu: float = 10.0
    stop_run_mm: float = 3.0
    #: Hypodense lesion: samples brighter than background + this do not stop a ray.
    bright_inclusion_hu: float = 60.0
    #: Hypodense lesion without a liver mask: samples darker than this (fat, air) stop a ray.
    fat_below_hu: float = -30.0
    #: A seed outside the liver mask but this close to it (a lesion bulging from the surface
    #: that an automatic liver mask left out) is grown without the mask's constraint.
    max_seed_to_liver_mm: float = 20.0
    #: The liver mask is closed by this radius and its holes filled before it bounds a lesion.
    liver_closing_mm: float = 10.0
    min_contrast_hu: float = 10.0
    neighbours: int = 15
    #: The liver's reference intensity is taken this far around the bound ball.
    background_margin_mm: float = 20.0
    #: A ray's edge moves back from where it stopped to the half-contrast crossing, at most this
    #: far (undoes the outward shift of blur and partial volume, keeps a faint rim).
    edge_walk_mm: float = 1.5
    body_threshold_hu: float = -500.0
    max_volume_ml: float = 5000.0
    #: A lesion filling more of the liver mask than this is refused (a wrong mask or a leak).
    max_liver_fraction: float = 0.9
    #: Without an explicit bound, more rays than this reaching the default radius is an error.
    max_bounded_fraction: float = 0.5


@dataclass(frozen=True, eq=False)
class LesionSegmentation:
    """A lesion mask on the input grid and what the algorithm saw (``mask`` is read-only)."""

    mask: npt.NDArray[np.bool_]
    volume_ml: float
    seed_zyx: tuple[int, int, int]
    seed_hu: float
    background_hu: float
    contrast: LesionContrast
    max_radius_mm: float
    #: Fraction of rays that reached the bound radius without finding the lesion's edge.
    bounded_fraction: float
    parameters: LesionParameters = field(default_factory=LesionParameters)
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        view = self.mask.view()
        view.flags.writeable = False
        object.__setattr__(self, "mask", view)


def _liver_background(
    image: npt.NDArray[np.generic],
    liver: npt.NDArray[np.bool_],
    seed: tuple[int, int, int],
    radius: float,
    spacing: tuple[float, float, float],
    p: LesionParameters,
) -> float:
    """Median HU of the liver outside the bound ball, within ``background_margin_mm`` of it.

    Local, because enhancement varies across the liver; the whole liver's median when too
    little liver lies near (a bound ball that fills the neighbourhood).
    """
    reach = radius + p.background_margin_mm
    half = np.ceil(reach / np.asarray(spacing)).astype(np.int64)
    lo = np.maximum(np.asarray(seed) - half, 0)
    hi = np.minimum(np.asarray(seed) + half + 1, image.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    dist2 = morph.ball_offsets_mm(liver[box].shape, np.asarray(seed) - lo, spacing)
    ref = liver[box] & (dist2 > radius**2)
    if ref.sum() >= 1000:
        return float(np.median(np.asarray(image[box][ref], dtype=np.float64)))
    return float(np.median(np.asarray(image[liver], dtype=np.float64)))


def _tissue_background(
    smooth: npt.NDArray[np.float32],
    outside_ball: npt.NDArray[np.bool_],
    profile: npt.NDArray[np.float64],
    seed_hu: float,
    p: LesionParameters,
) -> float:
    """Return the parenchyma's intensity without a liver mask.

    Where the rays first leave seed-like intensity gives an estimate of what surrounds the
    lesion; the answer is the soft-tissue histogram peak (of the box around the bound ball)
    nearest to that estimate, so that a heterogeneous rim or a neighbouring organ in the box
    does not become the reference.
    """
    run = max(1, round(p.stop_run_mm / p.ray_step_mm))
    left = np.abs(profile - seed_hu) > max(2.0 * p.min_contrast_hu, 20.0)
    first = rays.first_run(left, run)
    exits = [float(np.median(profile[i, f : f + 2 * run])) for i, f in enumerate(first) if f >= 0]
    tissue = smooth[outside_ball & (smooth > -50.0) & (smooth < 300.0)]
    if tissue.size == 0 or not exits:
        raise SeedError("no soft tissue around the seed to compare the lesion with")
    estimate = float(np.median(exits))
    hist, edges = np.histogram(tissue, bins=np.arange(-50.0, 305.0, 5.0))
    hist = np.convolve(hist, np.ones(3), mode="same")
    centres = edges[:-1] + 2.5
    from scipy.signal import find_peaks

    found, _ = find_peaks(np.pad(hist, 1), prominence=0.1 * float(hist.max()))
    peak = np.zeros(hist.shape, dtype=bool)
    peak[found - 1] = True
    peak &= np.abs(centres - seed_hu) >= p.min_contrast_hu
    if not peak.any():
        return estimate
    candidates = centres[peak]
    mode = float(candidates[int(np.argmin(np.abs(candidates - estimate)))])
    return float(np.median(tissue[np.abs(tissue - mode) < 30.0]))


def segment_lesion(
    image_hu: npt.ArrayLike,
    spacing_zyx_mm: Sequence[float],
    seed_zyx: npt.ArrayLike,
    *,
    liver_mask: npt.ArrayLike | None = None,
    max_diameter_mm: float | None = None,
    parameters: LesionParameters | None = None,
) -> LesionSegmentation:
    """Segment one lesion from a click at its centre.

    Parameters
    ----------
    image_hu
        CT volume in HU, axes (z, y, x).
    spacing_zyx_mm
        Voxel spacing along (slice, row, column) in mm.
    seed_zyx
        The click as a voxel index (k, j, i); rounded to the nearest voxel.
    liver_mask
        Boolean liver mask on the same grid (recommended): the lesion is kept inside it and the
        background intensity is taken from it.
    max_diameter_mm
        Bound on the lesion's diameter; default ``2 * default_max_radius_mm``.
    parameters
        Tuning.

    Raises
    ------
    SegmentationInputError
        Bad image, spacing or liver mask.
    SeedError
        Seed outside the image, in air, far outside the liver mask, or not distinguishable from
        the background (contrast below ``min_contrast_hu``).
    ImplausibleResultError
        No edge found for most rays without an explicit bound, an empty result, a lesion
        filling nearly all of the liver mask (``max_liver_fraction``) or larger than
        ``max_volume_ml``.
    """
    p = parameters or LesionParameters()
    image, spacing = check_image(image_hu, spacing_zyx_mm)
    seed = check_seed(seed_zyx, image.shape)
    check_in_body(image, seed, p.body_threshold_hu)
    liver = None if liver_mask is None else check_mask(liver_mask, image.shape, "liver_mask")
    allowed = liver
    notes: list[str] = []
    if liver is not None and not liver[seed]:
        _, gap_mm = morph.component_nearest(liver, seed, spacing, p.max_seed_to_liver_mm)
        if not np.isfinite(gap_mm):
            raise SeedError(
                f"seed at voxel {seed} lies outside the liver mask, more than "
                f"{p.max_seed_to_liver_mm:.0f} mm from it; expected a lesion in the liver"
            )
        allowed = None
        notes.append(
            f"the seed lies {gap_mm:.1f} mm outside the liver mask: the lesion was grown by "
            "intensity alone (the mask only gave the parenchyma's HU)"
        )
    radius = p.default_max_radius_mm if max_diameter_mm is None else 0.5 * float(max_diameter_mm)
    if not np.isfinite(radius) or radius <= 0:
        raise SeedError(f"the bound diameter must be positive, got {max_diameter_mm}")

    sp = np.asarray(spacing)
    half = np.ceil((radius + 3.0 * p.smoothing_sigma_mm) / sp).astype(np.int64) + 1
    lo = np.maximum(np.asarray(seed) - half, 0)
    hi = np.minimum(np.asarray(seed) + half + 1, image.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    crop = np.asarray(image[box], dtype=np.float32)
    smooth = morph.gaussian(crop, spacing, p.smoothing_sigma_mm)
    origin = np.asarray(seed, dtype=np.float64) - lo
    dist2 = morph.ball_offsets_mm(smooth.shape, origin, spacing)
    allowed_box = None
    if allowed is not None:
        # Cavities and notches of the mask (a lesion an automatic liver left out) are allowed.
        allowed_box = morph.fill_holes(morph.close(allowed[box], p.liver_closing_mm, spacing))
    seed_hu = float(np.median(smooth[dist2 <= p.seed_radius_mm**2]))
    directions = rays.sphere_directions(p.ray_count)
    radii_mm = np.arange(p.ray_step_mm, radius + p.ray_step_mm / 2, p.ray_step_mm)
    profile = rays.sample_rays(smooth, origin, directions, radii_mm, spacing, outside=-1000.0)
    if liver is not None:
        background = _liver_background(image, liver, seed, radius, spacing, p)
    else:
        background = _tissue_background(smooth, dist2 > radius**2, profile, seed_hu, p)
    contrast_hu = seed_hu - background
    if abs(contrast_hu) < p.min_contrast_hu:
        raise SeedError(
            f"the seed at voxel {seed} ({seed_hu:.0f} HU) differs from the surrounding "
            f"parenchyma ({background:.0f} HU) by less than {p.min_contrast_hu:.0f} HU; expected a "
            "click inside a hypodense or hyperdense lesion"
        )
    contrast = LesionContrast.HYPODENSE if contrast_hu < 0 else LesionContrast.HYPERDENSE

    if contrast is LesionContrast.HYPODENSE:
        stop = (profile >= background - p.stop_offset_hu) & (
            profile <= background + p.bright_inclusion_hu
        )
        if allowed_box is None:
            stop |= profile < p.fat_below_hu
    else:
        stop = profile <= background + p.stop_offset_hu
    if allowed_box is not None:
        in_liver = rays.sample_rays(
            allowed_box.astype(np.float32), origin, directions, radii_mm, spacing, outside=0.0
        )
        stop |= in_liver < 0.5
    run = max(1, round(p.stop_run_mm / p.ray_step_mm))
    first = rays.first_run(stop, run)
    bounded = first < 0
    edges = rays.edge_before(
        profile, first, radii_mm, 0.5 * (seed_hu + background), p.edge_walk_mm, p.ray_step_mm
    )
    raw = np.where(bounded, radius, edges)
    smooth_radii = rays.regularise(raw, directions, p.neighbours)
    region = rays.rasterise(smooth.shape, origin, directions, smooth_radii, spacing)
    if allowed_box is not None:
        region &= allowed_box
    region = morph.fill_holes(region) if region.any() else region
    if region.any() and not region[tuple(int(v) for v in origin)]:
        from scipy import ndimage as ndi

        labels, _ = ndi.label(region)
        region = labels == labels[tuple(np.argwhere(region)[0])]

    mask = np.zeros(image.shape, dtype=bool)
    mask[box] = region
    voxel_ml = spacing[0] * spacing[1] * spacing[2] / 1000.0
    volume_ml = float(mask.sum()) * voxel_ml
    _check_volume(volume_ml, seed, liver, voxel_ml, p)
    fraction = float(bounded.mean())
    if max_diameter_mm is None and fraction > p.max_bounded_fraction:
        raise ImplausibleResultError(
            f"no lesion edge found around voxel {seed}: {100 * fraction:.0f} % of the rays ran "
            f"{radius:.0f} mm without meeting tissue like the surroundings ({background:.0f} HU); "
            "expected a click inside a lesion (give --liver, or a caliper line to bound it)"
        )
    if fraction > 0.25:
        notes.append(
            f"{100 * fraction:.0f} % of the rays reached the bound radius of {radius:.0f} mm: the "
            "lesion may be larger than the bound, or its edge is faint"
        )
    logger.info(
        "lesion: seed %s %.0f HU vs %.0f HU (%s), %.2f mL, %.0f %% bounded",
        seed,
        seed_hu,
        background,
        contrast.value,
        volume_ml,
        100 * fraction,
    )
    return LesionSegmentation(
        mask=mask,
        volume_ml=volume_ml,
        seed_zyx=seed,
        seed_hu=seed_hu,
        background_hu=background,
        contrast=contrast,
        max_radius_mm=radius,
        bounded_fraction=fraction,
        parameters=p,
        warnings=tuple(notes),
    )


def _check_volume(
    volume_ml: float,
    seed: tuple[int, int, int],
    liver: npt.NDArray[np.bool_] | None,
    voxel_ml: float,
    p: LesionParameters,
) -> None:
    if volume_ml <= 0:
        raise ImplausibleResultError(
            f"no lesion found at voxel {seed}; expected a click inside a visible lesion"
        )
    if volume_ml > p.max_volume_ml:
        raise ImplausibleResultError(
            f"the lesion at voxel {seed} is {volume_ml:.0f} mL; expected at most "
            f"{p.max_volume_ml:.0f} mL"
        )
    if liver is not None:
        liver_ml = float(liver.sum()) * voxel_ml
        if volume_ml >= p.max_liver_fraction * liver_ml:
            raise ImplausibleResultError(
                f"the lesion at voxel {seed} ({volume_ml:.1f} mL) fills "
                f"{100 * volume_ml / liver_ml:.0f} % of the liver mask ({liver_ml:.1f} mL); "
                f"expected at most {100 * p.max_liver_fraction:.0f} %: check the liver mask"
            )


def segment_lesion_from_line(
    image_hu: npt.ArrayLike,
    spacing_zyx_mm: Sequence[float],
    start_zyx: npt.ArrayLike,
    end_zyx: npt.ArrayLike,
    *,
    liver_mask: npt.ArrayLike | None = None,
    parameters: LesionParameters | None = None,
) -> LesionSegmentation:
    """Segment one lesion from the reader's long-axis caliper line (two voxel indices).

    The seed is the line's midpoint; the bound radius is ``line_radius_factor`` times half the
    line's length in mm plus ``line_margin_mm``. Raises as :func:`segment_lesion`.
    """
    p = parameters or LesionParameters()
    _, spacing = check_image(image_hu, spacing_zyx_mm)
    try:
        a = np.asarray(start_zyx, dtype=np.float64)
        b = np.asarray(end_zyx, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SeedError(f"expected two points of three voxel indices, got {start_zyx!r}") from exc
    if (
        a.shape != (3,)
        or b.shape != (3,)
        or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b)))
    ):
        raise SeedError(
            f"expected two points of three voxel indices, got {start_zyx!r}, {end_zyx!r}"
        )
    image = np.asarray(image_hu)
    check_seed(a, image.shape)
    check_seed(b, image.shape)
    length_mm = float(np.linalg.norm((b - a) * np.asarray(spacing)))
    if length_mm <= 0:
        raise SeedError("the caliper line has zero length; expected two distinct end points")
    radius = p.line_radius_factor * length_mm / 2 + p.line_margin_mm
    return segment_lesion(
        image,
        spacing,
        (a + b) / 2,
        liver_mask=liver_mask,
        max_diameter_mm=2 * radius,
        parameters=p,
    )
