"""Errors raised while building outputs for other systems (DICOM SR/SEG, SDTM, FHIR, reports).

Every message says what was wrong and what was expected, and never carries a patient identifier
(names, IDs, birth dates) or a full original path.

::

    ReportingError
     +-- ReportingInputError (also ValueError): a measurement, assessment or option is invalid
     |    +-- SourceImageError: the source DICOM images do not fit the masks or the measurement
     +-- MissingDependencyError: an optional library (pandas/pyreadstat for XPT) is not installed
"""

from __future__ import annotations

__all__ = [
    "MissingDependencyError",
    "ReportingError",
    "ReportingInputError",
    "SourceImageError",
]


class ReportingError(Exception):
    """Base class of every error raised by :mod:`reporting`."""


class ReportingInputError(ReportingError, ValueError):
    """A measurement, assessment or option is invalid; the message names the field at fault."""


class SourceImageError(ReportingInputError):
    """The source images are missing attributes, out of order, or do not match the masks."""


class MissingDependencyError(ReportingError):
    """An optional third-party library needed for this output is not installed."""
