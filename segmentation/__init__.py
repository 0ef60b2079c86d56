"""Classical, deterministic semi-automatic segmentation of the liver and of lesions.

The liver from one click, a lesion from a click or a caliper line.

Pure computation on arrays: numpy, scipy, scikit-image and SimpleITK's filters (used on arrays,
never for reading files). Inputs are a (z, y, x) CT volume in HU, ``spacing_zyx_mm`` and seeds as
voxel indices; outputs are boolean masks on the same grid in frozen dataclasses with the
diagnostics a reader needs to judge them. No model weights, nothing downloaded.
"""

from __future__ import annotations

from segmentation.errors import (
    ImplausibleResultError,
    SeedError,
    SegmentationError,
    SegmentationInputError,
)
from segmentation.lesion import (
    LesionContrast,
    LesionParameters,
    LesionSegmentation,
    segment_lesion,
    segment_lesion_from_line,
)
from segmentation.liver import LiverParameters, LiverSegmentation, segment_liver

__all__ = [
    "ImplausibleResultError",
    "LesionContrast",
    "LesionParameters",
    "LesionSegmentation",
    "LiverParameters",
    "LiverSegmentation",
    "SeedError",
    "SegmentationError",
    "SegmentationInputError",
    "segment_lesion",
    "segment_lesion_from_line",
    "segment_liver",
]
