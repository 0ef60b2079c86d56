"""Errors raised by the segmentation package.

Messages say what was wrong and what was expected; they carry voxel indices, HU values and
volumes, never patient identifiers or paths.

::

    SegmentationError
     +-- SegmentationInputError (also ValueError): the image, spacing or a mask is unusable
     +-- SeedError (also ValueError): the seed is outside the image, outside the body, outside
     |   the given liver, or not in tissue that can be grown from
     +-- ImplausibleResultError (also ValueError): the result is empty or its volume is outside
         the plausible range (a "liver" of 50 mL or 6 L, a lesion larger than the liver)
"""

from __future__ import annotations

__all__ = [
    "ImplausibleResultError",
    "SeedError",
    "SegmentationError",
    "SegmentationInputError",
]


class SegmentationError(Exception):
    """Base class of every error raised by :mod:`segmentation`."""


class SegmentationInputError(SegmentationError, ValueError):
    """The image, its spacing or a mask is unusable (shape, dtype, non-positive spacing)."""


class SeedError(SegmentationError, ValueError):
    """The seed cannot start a segmentation: outside the image, the body, or the given liver."""


class ImplausibleResultError(SegmentationError, ValueError):
    """The segmentation is empty or its size is outside the plausible range."""
