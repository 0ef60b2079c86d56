"""Errors raised while reading DICOM, NIfTI/NRRD and segmentation inputs.

Every message says what was wrong and what was expected, and never carries a patient identifier
(names, IDs, birth dates) or an upload's original path beyond its file name.

::

    DicomIOError
     +-- InputNotFoundError (also ValueError): the path does not exist or holds no files
     +-- NotDicomError (also ValueError): a file is not DICOM (or not a supported image format)
     +-- CorruptFileError (also ValueError): truncated or undecodable data
     +-- UnsupportedError (also ValueError): a valid object not handled (SOP class, syntax)
     +-- SeriesSelectionError (also ValueError): no series, or several, where one was expected
     +-- GeometryError (also ValueError): inconsistent or unusable geometry (orientation, gaps)
     +-- LabelError (also ValueError): a segmentation does not fit the series, or unknown label
     +-- ArchiveError (also ValueError): a zip is unsafe (zip slip, zip bomb, nesting) or unreadable
     +-- ElementNotFoundError (also ValueError): a frame or attribute is not in the instance
"""

from __future__ import annotations


class DicomIOError(Exception):
    """Base class of every error raised by :mod:`dicomio`."""


class InputNotFoundError(DicomIOError, ValueError):
    """The input path does not exist, or a folder holds no readable files."""


class NotDicomError(DicomIOError, ValueError):
    """A file is neither DICOM nor a supported image/label format."""


class CorruptFileError(DicomIOError, ValueError):
    """A file is truncated or its pixel data cannot be decoded."""


class UnsupportedError(DicomIOError, ValueError):
    """A valid object that this service does not handle (SOP class, transfer syntax, ...)."""


class SeriesSelectionError(DicomIOError, ValueError):
    """No series, or several series where exactly one was expected."""


class GeometryError(DicomIOError, ValueError):
    """Inconsistent or unusable geometry: mixed orientations, irregular spacing, bad affine."""


class LabelError(DicomIOError, ValueError):
    """A segmentation does not fit the series, or a requested label does not exist."""


class ArchiveError(DicomIOError, ValueError):
    """An archive is unsafe (zip slip, zip bomb, nested archives) or unreadable."""


class ElementNotFoundError(DicomIOError, ValueError):
    """A requested frame or attribute is not in the instance (or is not bulk data)."""
