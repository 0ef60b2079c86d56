"""RECIST 1.1: lesion diameters, and response assessment over time (mRECIST as an option).

Pure package: numpy arrays and plain values in, frozen dataclasses out; no I/O, no other
first-party package. Numeric criteria live in :mod:`recist.criteria`.
"""

from __future__ import annotations

from recist.assessment import assess, assess_subject, check_record
from recist.diameters import (
    Diameters,
    caliper_length_lps_mm,
    caliper_length_mm,
    measure_diameters,
    measure_lesions,
    slice_diameters,
)
from recist.errors import MeasurementError, RecistError, RecistInputError
from recist.model import (
    Assessment,
    AssessmentInput,
    Criteria,
    HepaticProgression,
    Lesion,
    LesionRole,
    Measurement,
    NewLesion,
    NonTargetStatus,
    Options,
    ResponseCategory,
    ScopeResult,
    TargetStatus,
    Timepoint,
    TimepointResult,
)

__all__ = [
    "Assessment",
    "AssessmentInput",
    "Criteria",
    "Diameters",
    "HepaticProgression",
    "Lesion",
    "LesionRole",
    "Measurement",
    "MeasurementError",
    "NewLesion",
    "NonTargetStatus",
    "Options",
    "RecistError",
    "RecistInputError",
    "ResponseCategory",
    "ScopeResult",
    "TargetStatus",
    "Timepoint",
    "TimepointResult",
    "assess",
    "assess_subject",
    "caliper_length_lps_mm",
    "caliper_length_mm",
    "check_record",
    "measure_diameters",
    "measure_lesions",
    "slice_diameters",
]
