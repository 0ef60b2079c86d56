"""Classical, deterministic semi-automatic segmentation: the liver from one click, a lesion from
a click or a caliper line.

Pure computation on arrays: numpy, scipy, scikit-image and SimpleITK's filters (used on arrays,
never for reading files). Inputs are a (z, y, x) CT volume in HU, ``spacing_zyx_mm`` and seeds as
voxel indices; outputs are boolean masks on the same grid in frozen dataclasses with the
diagnostics a reader needs to judge them. No model weights, nothing downloaded.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Public name -> (module, attribute). Imported on first use, so that importing one light
#: submodule (e.g. the errors, for the service's error table) does not load the heavy ones.
_LAZY: dict[str, tuple[str, str]] = {
    "ImplausibleResultError": ("segmentation.errors", "ImplausibleResultError"),
    "LesionContrast": ("segmentation.lesion", "LesionContrast"),
    "LesionParameters": ("segmentation.lesion", "LesionParameters"),
    "LesionSegmentation": ("segmentation.lesion", "LesionSegmentation"),
    "LiverParameters": ("segmentation.liver", "LiverParameters"),
    "LiverSegmentation": ("segmentation.liver", "LiverSegmentation"),
    "SeedError": ("segmentation.errors", "SeedError"),
    "SegmentationError": ("segmentation.errors", "SegmentationError"),
    "SegmentationInputError": ("segmentation.errors", "SegmentationInputError"),
    "segment_lesion": ("segmentation.lesion", "segment_lesion"),
    "segment_lesion_from_line": ("segmentation.lesion", "segment_lesion_from_line"),
    "segment_liver": ("segmentation.liver", "segment_liver"),
}

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


def __getattr__(name: str) -> Any:
    """Load a public name from its submodule on first access (PEP 562)."""
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
