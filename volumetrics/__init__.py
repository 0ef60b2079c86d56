"""Volumetrics: lesions as 3-D connected components, volumes, total liver volume, tumour burden.

Pure numpy/scipy; takes (z, y, x) masks plus ``spacing_zyx_mm`` and returns frozen dataclasses.
Definitions follow contracts/measure.md; the trial thresholds are in :mod:`volumetrics.thresholds`.
"""

from __future__ import annotations

from volumetrics.burden import BurdenResult, burden_flags, measure_burden
from volumetrics.components import (
    LesionVolume,
    label_lesions,
    lesion_volumes,
    resolve_voxel_volume_mm3,
    volume_ml,
)
from volumetrics.errors import MaskError, VolumetricsError
from volumetrics.matching import LesionLink, LesionLinks, MatchTolerances, match_lesions
from volumetrics.thresholds import (
    BURDEN_HIGH_FRACTION,
    BURDEN_MAX_FRACTION,
    MEASURABLE_LESION_MIN_MM,
)

__all__ = [
    "BURDEN_HIGH_FRACTION",
    "BURDEN_MAX_FRACTION",
    "MEASURABLE_LESION_MIN_MM",
    "BurdenResult",
    "LesionLink",
    "LesionLinks",
    "LesionVolume",
    "MaskError",
    "MatchTolerances",
    "VolumetricsError",
    "burden_flags",
    "label_lesions",
    "lesion_volumes",
    "match_lesions",
    "measure_burden",
    "resolve_voxel_volume_mm3",
    "volume_ml",
]
