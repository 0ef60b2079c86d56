"""Follow lesions from one visit to the next: align the two studies, then link their lesions.

The patient never lies the same way twice: shifts of several centimetres and rotations of a few
degrees between visits are normal, so lesions cannot be compared by their patient coordinates
as stored. The two visits' organ masks (liver and tumour, as each measurement kept them:
:class:`~app.measure.masks.MeasuredMasks`) are aligned by a rigid registration with SimpleITK:

- each mask becomes a signed distance map (mm, clipped at +-``_CLIP_MM``), which gives the metric
  a slope far from the border, resampled to an isotropic grid of at least ``_GRID_MM`` and at
  most ``_GRID_VOXELS`` voxels (a large liver gets a coarser grid: the fit stays sub-voxel);
- the moments of the masks start the transform (centre of mass), then a multi-resolution
  regular-step gradient descent on the mean squared difference fits a 3-D rotation and shift.

Without a liver on either side the tumour masks are aligned instead; without anything to align,
the identity is kept and said so. The earlier visit's lesions are then moved onto the later
visit's grid (nearest neighbour) and :func:`volumetrics.match_lesions` links them.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from app.measure.masks import MeasuredMasks
from volumetrics import LesionLinks, MatchTolerances, match_lesions

__all__ = ["Alignment", "VisitLinks", "align_visits", "centroids_mm", "link_visits"]

logger = logging.getLogger(__name__)

_CLIP_MM = 30.0
_GRID_MM = 3.0
#: At most this many voxels in the alignment grid, and the share of them the metric reads (below):
#: on benchmarks/tracking.py, linking a 512 x 512 x 300 follow-up takes 0.8 of its measurement's
#: time with every timeline of the trial's range (40 mm, 8 degrees) still linked right.
_GRID_VOXELS = 50_000
#: The optimizer (regular-step gradient descent on scales from a physical shift of 1 mm) and the
#: resolution pyramid (shrink factors of the grid, with smoothing sigmas in voxels).
_OPT = {"learning_rate": 2.0, "min_step": 1e-3, "iterations": 200, "relaxation": 0.5}
_SHRINK = (4, 2, 1)
_SHRINK_SIGMAS = (2.0, 1.0, 0.0)
_PAD_MM = 20.0
#: Share of the grid's voxels the metric reads at each level, drawn with a fixed seed (the same
#: visits give the same alignment).
_SAMPLING = 0.10
_SAMPLING_SEED = 16
#: How much the tumours count beside the organ in the aligned feature image.
_TUMOUR_WEIGHT = 1.0

Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Alignment:
    """A rigid map of the earlier visit's patient space onto the later visit's.

    ``matrix`` is 4x4 homogeneous (LPS mm to LPS mm); ``organ`` what was aligned (``liver``,
    ``tumour`` or ``none`` for the identity); ``residual_mm`` the root mean squared difference
    of the distance maps after alignment, a fit measure in mm (0 for a perfect overlap).
    """

    matrix: Matrix
    organ: str
    residual_mm: float

    @property
    def shift_mm(self) -> float:
        """How far the transform moves the origin (a rough size of the patient's move)."""
        return float(np.linalg.norm(self.matrix[:3, 3]))

    @property
    def rotation_deg(self) -> float:
        """The rotation angle of the transform, in degrees."""
        cos = (float(np.trace(self.matrix[:3, :3])) - 1.0) / 2.0
        return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))

    def apply(self, points_mm: npt.ArrayLike) -> Matrix:
        """Earlier-visit points ``(n, 3)`` in the later visit's patient space."""
        pts = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
        return pts @ self.matrix[:3, :3].T + self.matrix[:3, 3]


@dataclass(frozen=True, eq=False)
class VisitLinks:
    """The alignment of two visits and the links between their lesions (numbers = L-ids)."""

    alignment: Alignment
    links: LesionLinks


def _sitk() -> Any:
    """SimpleITK, imported when first needed (untyped: Any)."""
    return importlib.import_module("SimpleITK")


def _box_affine(masks: MeasuredMasks, pad_vox: Sequence[int]) -> Matrix:
    """Affine of the kept box padded by ``pad_vox`` voxels on each side."""
    start = np.asarray(masks.offset_zyx, dtype=np.float64) - np.asarray(pad_vox, dtype=np.float64)
    out = np.array(masks.affine, dtype=np.float64)
    out[:3, 3] = out[:3, :3] @ start + out[:3, 3]
    return out


def _sitk_image(array: npt.NDArray[Any], affine: Matrix) -> Any:
    """Make a SimpleITK image of a ``(z, y, x)`` array placed by a voxel-index-to-LPS affine."""
    sitk = _sitk()
    img = sitk.GetImageFromArray(array)
    a = affine[:3, :3]
    spacing = [float(np.linalg.norm(a[:, c])) for c in (2, 1, 0)]  # i (x), j (y), k (z)
    direction = np.column_stack([a[:, c] / s for c, s in zip((2, 1, 0), spacing, strict=True)])
    img.SetSpacing(spacing)
    img.SetOrigin([float(v) for v in affine[:3, 3]])
    img.SetDirection([float(v) for v in direction.ravel()])
    return img


def _block_means(
    mask: npt.NDArray[np.bool_], pad: Sequence[int], block: npt.NDArray[np.int64]
) -> npt.NDArray[np.float32]:
    """Each ``block``-sized block's share of ``mask`` padded by ``pad`` zeros on every side.

    What SimpleITK's BinShrink gives for the padded mask as floats (blocks from the padded
    array's first voxel; a last partial block dropped), without building the padded full-size
    float array: only the blocks the mask touches are summed.
    """
    n, lead_pad, f = np.asarray(mask.shape), np.asarray(pad), np.asarray(block)
    count = (n + 2 * lead_pad) // f
    lead, first = lead_pad % f, lead_pad // f
    span = -(-(lead + n) // f)  # blocks the mask touches, per axis
    touched = np.zeros(tuple(span * f), dtype=np.uint8)
    touched[tuple(slice(a, a + m) for a, m in zip(lead, n, strict=True))] = mask
    total = int(np.prod(f))
    sums: npt.NDArray[Any] = touched if total < 256 else touched.astype(np.uint16)
    for axis, size in enumerate(f):  # block sums by strided adds, axis by axis: fast
        parts = [
            sums[tuple(slice(k, None, int(size)) if a == axis else slice(None) for a in range(3))]
            for k in range(int(size))
        ]
        sums = parts[0]
        for part in parts[1:]:
            sums = sums + part
    out = np.zeros(tuple(count), dtype=np.float32)
    stop = np.minimum(first + span, count)
    out[tuple(slice(a, b) for a, b in zip(first, stop, strict=True))] = sums[
        tuple(slice(0, b - a) for a, b in zip(first, stop, strict=True))
    ] / float(total)
    return out


def _organ(masks: MeasuredMasks, organ: str) -> npt.NDArray[np.bool_]:
    if organ == "liver":
        assert masks.liver is not None
        return masks.liver | masks.tumor
    return masks.tumor


def _grid_mm(earlier: MeasuredMasks, later: MeasuredMasks) -> float:
    """One isotropic grid step for both visits: ``_GRID_MM``, coarser for a large box."""
    extent = 0.0
    for masks in (earlier, later):
        size_mm = (
            np.asarray(masks.lesions.shape)
            * np.linalg.norm(np.asarray(masks.affine)[:3, :3], axis=0)
            + 2 * _PAD_MM
        )
        extent = max(extent, float(np.prod(size_mm)))
    return float(max(_GRID_MM, (extent / _GRID_VOXELS) ** (1.0 / 3.0)))


def _distance_map(masks: MeasuredMasks, organ: str, grid_mm: float) -> tuple[Any, Any]:
    """Make the feature image aligned, and the organ's mask, on an isotropic grid.

    The feature is the organ's signed distance map (mm, negative inside, clipped), plus the
    tumours' when the organ is the liver; the mask is what the alignment starts from (the
    centres of mass).

    The tumours make the liver's own symmetries (a smooth, nearly ellipsoidal organ turns about
    its axes at little cost) count: they are landmarks inside it. Their changes in size between
    visits shift their distance maps evenly around each tumour, which leaves its position.
    """
    sitk = _sitk()
    spacing = np.linalg.norm(np.asarray(masks.affine)[:3, :3], axis=0)
    pad = [int(np.ceil(_PAD_MM / s)) for s in spacing]
    affine = _box_affine(masks, pad)

    # the mask on an isotropic grid of half the alignment's step (block means, then linear
    # interpolation, cut at one half): the distance map costs a fraction of the full grid's
    step = grid_mm / 2
    padded_zyx = np.asarray(masks.lesions.shape) + 2 * np.asarray(pad)
    fine = [int(np.ceil(n * s / step)) for n, s in zip(padded_zyx, spacing, strict=True)][::-1]
    shrink = np.asarray([max(1, int(step // s)) for s in spacing])
    blocks_affine = affine.copy()  # each block's centre, as BinShrink places it
    blocks_affine[:3, :3] = affine[:3, :3] * shrink
    blocks_affine[:3, 3] = affine[:3, 3] + affine[:3, :3] @ ((shrink - 1) / 2.0)
    grid_origin = [float(v) for v in affine[:3, 3]]

    def signed(mask: npt.NDArray[np.bool_]) -> Any:
        blocks = _sitk_image(_block_means(mask, pad, shrink), blocks_affine)
        coarse = sitk.Resample(
            blocks,
            fine,
            sitk.Transform(),
            sitk.sitkLinear,
            grid_origin,
            [step] * 3,
            blocks.GetDirection(),
            0.0,
            sitk.sitkFloat32,
        )
        dist = sitk.SignedMaurerDistanceMap(
            coarse >= 0.5, insideIsPositive=False, squaredDistance=False, useImageSpacing=True
        )
        return sitk.Clamp(dist, sitk.sitkFloat32, -_CLIP_MM, _CLIP_MM)

    organ_map = signed(_organ(masks, organ))
    feature, far = organ_map, _CLIP_MM
    if organ == "liver" and masks.tumor.any():
        feature, far = organ_map + signed(masks.tumor) * _TUMOUR_WEIGHT, 2 * _CLIP_MM
    size = [
        int(np.ceil(n * s / grid_mm))
        for n, s in zip(feature.GetSize(), feature.GetSpacing(), strict=True)
    ]

    def on_grid(img: Any, outside: float) -> Any:
        return sitk.Resample(
            img,
            size,
            sitk.Transform(),
            sitk.sitkLinear,
            img.GetOrigin(),
            [grid_mm] * 3,
            img.GetDirection(),
            outside,
            sitk.sitkFloat32,
        )

    inside = sitk.Cast(on_grid(organ_map, _CLIP_MM) < 0, sitk.sitkFloat32)
    return on_grid(feature, far), inside


def _to_matrix(transform: Any) -> Matrix:
    """Return the 4x4 matrix of a SimpleITK transform that maps earlier points to later points."""
    origin = np.asarray(transform.TransformPoint((0.0, 0.0, 0.0)))
    out = np.eye(4)
    for c in range(3):
        unit = [0.0, 0.0, 0.0]
        unit[c] = 1.0
        out[:3, c] = np.asarray(transform.TransformPoint(tuple(unit))) - origin
    out[:3, 3] = origin
    return out


def align_visits(earlier: MeasuredMasks, later: MeasuredMasks) -> Alignment:
    """Rigidly align the earlier visit onto the later one (see the module docstring)."""
    sitk = _sitk()
    if earlier.liver is not None and later.liver is not None:
        organ = "liver"
    elif earlier.tumor.any() and later.tumor.any():
        organ = "tumour"
    else:
        return Alignment(np.eye(4), "none", float("nan"))
    if not (_organ(earlier, organ).any() and _organ(later, organ).any()):
        return Alignment(np.eye(4), "none", float("nan"))
    grid_mm = _grid_mm(earlier, later)
    fixed, inside_fixed = _distance_map(earlier, organ, grid_mm)
    moving, inside_moving = _distance_map(later, organ, grid_mm)
    # Registration maps points of the fixed image (earlier) into the moving one (later).
    start = sitk.CenteredTransformInitializer(
        inside_fixed,
        inside_moving,
        sitk.Euler3DTransform(),
        sitk.CenteredTransformInitializerFilter.MOMENTS,
    )
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMeanSquares()
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(_SAMPLING, seed=_SAMPLING_SEED)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=_OPT["learning_rate"],
        minStep=_OPT["min_step"],
        numberOfIterations=int(_OPT["iterations"]),
        relaxationFactor=_OPT["relaxation"],
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel(list(_SHRINK))
    reg.SetSmoothingSigmasPerLevel([float(v) for v in _SHRINK_SIGMAS])
    reg.SetInitialTransform(start, inPlace=False)
    transform = reg.Execute(fixed, moving)
    residual = float(np.sqrt(max(reg.GetMetricValue(), 0.0)))
    matrix = _to_matrix(transform)
    logger.info(
        "aligned visits on the %s: residual %.2f mm, shift %.1f mm, rotation %.1f deg",
        organ,
        residual,
        float(np.linalg.norm(matrix[:3, 3])),
        float(np.degrees(np.arccos(np.clip((np.trace(matrix[:3, :3]) - 1) / 2, -1, 1)))),
    )
    return Alignment(matrix, organ, residual)


def centroids_mm(masks: MeasuredMasks, count: int) -> Matrix:
    """Each lesion's centroid in its own visit's patient space, lesion ``k`` at row ``k - 1``."""
    kji = np.full((count, 3), np.nan)
    for k, box in enumerate(ndimage.find_objects(masks.lesions, max_label=count), start=1):
        if box is not None:  # each lesion's own box: no pass over the whole array per lesion
            voxels = np.argwhere(masks.lesions[box] == k)
            kji[k - 1] = voxels.mean(axis=0) + [b.start for b in box]
    kji += np.asarray(masks.offset_zyx, dtype=np.float64)
    return kji @ masks.affine[:3, :3].T + masks.affine[:3, 3]


def _earlier_on_later_grid(
    earlier: MeasuredMasks, later: MeasuredMasks, alignment: Alignment
) -> npt.NDArray[np.int32]:
    """Move the earlier visit's lesion numbers onto the later visit's kept box.

    Only the part of the later box the earlier lesions can land in is resampled (the corners of
    their box, grown by a voxel for nearest-neighbour rounding, mapped across): elsewhere
    nearest-neighbour resampling would find background anyway.
    """
    sitk = _sitk()
    out = np.zeros(later.lesions.shape, dtype=np.int32)
    lesions = earlier.lesions > 0
    spans = [
        np.flatnonzero(lesions.any(axis=tuple(o for o in range(3) if o != a))) for a in range(3)
    ]
    if any(span.size == 0 for span in spans):
        return out
    # the earlier lesions' box with a voxel of background around it where the array has one
    lo = np.array([max(int(span[0]) - 1, 0) for span in spans])
    hi = np.array([min(int(sp[-1]) + 1, n - 1) for sp, n in zip(spans, lesions.shape, strict=True)])
    corners = np.array(
        [[(lo - 1, hi + 1)[c][a] for a, c in enumerate(bits)] for bits in np.ndindex(2, 2, 2)]
    )
    earlier_box, later_box = _box_affine(earlier, (0, 0, 0)), _box_affine(later, (0, 0, 0))
    in_later = alignment.apply(corners @ earlier_box[:3, :3].T + earlier_box[:3, 3])
    kji = (in_later - later_box[:3, 3]) @ np.linalg.inv(later_box[:3, :3]).T
    start = np.maximum(np.floor(kji.min(axis=0)).astype(np.int64) - 1, 0)
    stop = np.minimum(np.ceil(kji.max(axis=0)).astype(np.int64) + 2, later.lesions.shape)
    if np.any(stop <= start):
        return out
    crop = earlier.lesions[tuple(slice(a, b + 1) for a, b in zip(lo, hi, strict=True))]
    crop_box = earlier_box.copy()
    crop_box[:3, 3] = earlier_box[:3, :3] @ lo + earlier_box[:3, 3]
    source = _sitk_image(np.asarray(crop, dtype=np.int32), crop_box)
    origin = later_box[:3, :3] @ start + later_box[:3, 3]
    spacing = np.linalg.norm(later_box[:3, :3], axis=0)[::-1]  # x, y, z
    direction = later_box[:3, :3][:, ::-1] / spacing
    inverse = np.linalg.inv(alignment.matrix)  # later points -> earlier points
    back = sitk.AffineTransform(3)
    back.SetMatrix([float(v) for v in inverse[:3, :3].ravel()])
    back.SetTranslation([float(v) for v in inverse[:3, 3]])
    moved = sitk.Resample(
        source,
        [int(n) for n in (stop - start)[::-1]],
        back,
        sitk.sitkNearestNeighbor,
        [float(v) for v in origin],
        [float(v) for v in spacing],
        [float(v) for v in direction.ravel()],
        0,
        sitk.sitkInt32,
    )
    out[tuple(slice(a, b) for a, b in zip(start, stop, strict=True))] = sitk.GetArrayFromImage(
        moved
    )
    return out


def _long_axes(lesions: Sequence[Mapping[str, Any]]) -> list[float]:
    return [float(les.get("long_axis_mm") or 0.0) for les in lesions]


def link_visits(
    earlier: MeasuredMasks,
    earlier_lesions: Sequence[Mapping[str, Any]],
    later: MeasuredMasks,
    later_lesions: Sequence[Mapping[str, Any]],
    tolerances: MatchTolerances | None = None,
) -> VisitLinks:
    """Align two measured visits and link their lesions (numbers as in each result's L-ids).

    ``earlier_lesions``/``later_lesions`` are the measurement results' ``lesions`` lists, in
    order (``L1`` first): lesion ``k`` of the masks is entry ``k - 1``.
    """
    alignment = align_visits(earlier, later)
    moved = _earlier_on_later_grid(earlier, later, alignment)
    links = match_lesions(
        moved,
        later.lesions,
        alignment.apply(centroids_mm(earlier, len(earlier_lesions))),
        centroids_mm(later, len(later_lesions)),
        _long_axes(earlier_lesions),
        _long_axes(later_lesions),
        tolerances,
    )
    return VisitLinks(alignment, links)
