"""RECIST 1.1: lesion diameters, and response assessment over time (mRECIST as an option).

Pure package: numpy arrays and plain values in, frozen dataclasses out; no I/O, no other
first-party package. Numeric criteria live in :mod:`recist.criteria`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Submodule of each public name: loaded on first use, so ``recist.criteria`` or
#: ``recist.diameters`` (the measurement path) do not pay for the assessment engine's import.
_HOME: dict[str, tuple[str, ...]] = {
    "recist.assessment": ("assess", "assess_subject", "check_record"),
    "recist.diameters": (
        "Diameters",
        "caliper_length_lps_mm",
        "caliper_length_mm",
        "measure_diameters",
        "measure_lesions",
        "slice_diameters",
    ),
    "recist.errors": ("MeasurementError", "RecistError", "RecistInputError"),
    "recist.model": (
        "Assessment",
        "AssessmentInput",
        "Criteria",
        "HepaticProgression",
        "Lesion",
        "LesionRole",
        "Measurement",
        "NewLesion",
        "NonTargetStatus",
        "Options",
        "ResponseCategory",
        "ScopeResult",
        "TargetStatus",
        "Timepoint",
        "TimepointResult",
    ),
}
_MODULE_OF = {name: module for module, names in _HOME.items() for name in names}

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


def __getattr__(name: str) -> Any:
    """A public name, imported from its submodule on first access (PEP 562)."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
