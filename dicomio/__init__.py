"""DICOM and label files in: discover series, read CT/MR volumes, read segmentations.

The public surface of the package; everything else is private (``dicomio._*``).
"""

from __future__ import annotations

from dicomio.archive import ArchiveLimits, InputFiles, open_input
from dicomio.discover import SeriesSummary, discover
from dicomio.errors import (
    ArchiveError,
    CorruptFileError,
    DicomIOError,
    GeometryError,
    InputNotFoundError,
    LabelError,
    NotDicomError,
    SeriesSelectionError,
    UnsupportedError,
)
from dicomio.hashing import sha256_bytes, sha256_file
from dicomio.instance import InstanceHeader, read_instance_header
from dicomio.labels import read_labels, read_mask, read_series_and_labels, select_segments
from dicomio.model import (
    Geometry,
    ImageVolume,
    LabelMap,
    Phase,
    Region,
    Segment,
    SeriesInfo,
    nonzero_box,
    union_box,
)
from dicomio.phase import PhaseClues, classify_phase, study_phases
from dicomio.series import read_series, select_series

# ------------------------------------------------------------------------------------------------

__all__ = [
    "ArchiveError",
    "ArchiveLimits",
    "CorruptFileError",
    "DicomIOError",
    "Geometry",
    "GeometryError",
    "ImageVolume",
    "InputFiles",
    "InputNotFoundError",
    "InstanceHeader",
    "LabelError",
    "LabelMap",
    "NotDicomError",
    "Phase",
    "PhaseClues",
    "Region",
    "Segment",
    "SeriesInfo",
    "SeriesSelectionError",
    "SeriesSummary",
    "UnsupportedError",
    "classify_phase",
    "discover",
    "nonzero_box",
    "open_input",
    "preload",
    "read_instance_header",
    "read_labels",
    "read_mask",
    "read_series",
    "read_series_and_labels",
    "select_segments",
    "select_series",
    "sha256_bytes",
    "sha256_file",
    "study_phases",
    "union_box",
]


def preload() -> None:
    """Import now the libraries dicomio's readers load on first use.

    SimpleITK (NIfTI, NRRD), pydicom and highdicom, and the DICOM SEG / RTSTRUCT readers: for
    long-lived processes (workers before they fork), so that no request pays for the imports.
    Command-line runs leave them to first use (``import dicomio`` stays cheap).
    """
    import importlib

    for name in ("SimpleITK", "pydicom", "highdicom", "dicomio.seg", "dicomio.rtstruct"):
        importlib.import_module(name)
