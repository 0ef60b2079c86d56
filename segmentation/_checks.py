"""Argument checks shared by the liver and lesion segmentations."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from segmentation.errors import SeedError, SegmentationInputError

Spacing = tuple[float, float, float]


def check_image(
    image: npt.ArrayLike, spacing_zyx_mm: Sequence[float]
) -> tuple[npt.NDArray[np.generic], Spacing]:
    """Return a 3-D real-valued image and a positive, finite (z, y, x) spacing, or an error."""
    array = np.asarray(image)
    if array.ndim != 3 or min(array.shape) < 1:
        raise SegmentationInputError(
            f"expected a 3-D (z, y, x) image, got an array of shape {array.shape}"
        )
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise SegmentationInputError(f"expected an integer or float image (HU), got {array.dtype}")
    sp = tuple(float(s) for s in spacing_zyx_mm)
    if len(sp) != 3 or not all(np.isfinite(s) and s > 0 for s in sp):
        raise SegmentationInputError(
            f"spacing_zyx_mm must be three positive finite numbers, got {tuple(spacing_zyx_mm)}"
        )
    return array, (sp[0], sp[1], sp[2])


def check_mask(mask: npt.ArrayLike, shape: Sequence[int], what: str) -> npt.NDArray[np.bool_]:
    """Return a boolean mask on the image grid, or an error naming ``what``."""
    array = np.asarray(mask)
    if tuple(array.shape) != tuple(shape):
        raise SegmentationInputError(
            f"{what} has shape {array.shape} but the image is {tuple(shape)}; expected a mask "
            "on the image grid"
        )
    return np.asarray(array != 0)


def check_seed(seed_zyx: npt.ArrayLike, shape: Sequence[int]) -> tuple[int, int, int]:
    """Return the seed rounded to the nearest voxel; :class:`SeedError` when outside the image."""
    message = f"expected a seed of three finite voxel indices (k, j, i), got {seed_zyx!r}"
    try:
        values = np.asarray(seed_zyx, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SeedError(message) from exc
    if values.shape != (3,) or not np.all(np.isfinite(values)):
        raise SeedError(message)
    rounded = np.floor(values + 0.5).astype(np.int64)
    if np.any(rounded < 0) or np.any(rounded >= np.asarray(shape)):
        shown = ", ".join(f"{v:.1f}" for v in values)
        raise SeedError(
            f"seed at voxel ({shown}) lies outside the image of {tuple(shape)} voxels (z, y, x)"
        )
    return (int(rounded[0]), int(rounded[1]), int(rounded[2]))


def check_in_body(
    image: npt.NDArray[np.generic], seed: tuple[int, int, int], body_threshold_hu: float
) -> float:
    """Return the median HU of the seed's 3x3x3 neighbourhood; :class:`SeedError` when air."""
    box = tuple(slice(max(c - 1, 0), c + 2) for c in seed)
    value = float(np.median(np.asarray(image[box], dtype=np.float64)))
    if value < body_threshold_hu:
        raise SeedError(
            f"seed at voxel {seed} is {value:.0f} HU, below {body_threshold_hu:.0f} HU: it lies "
            "outside the body or in air; expected a click inside the organ"
        )
    return value
