"""The source datasets of a series, re-read in slice order for outputs that reference them.

DICOM SR and SEG objects built from a measurement copy patient, study and frame-of-reference
attributes from, and reference every instance of, the series they were measured on. This module
re-reads those headers (no pixel data) from the same input as the :class:`~dicomio.ImageVolume`,
so the outputs' writer (``reporting``) never reads DICOM itself.

References
----------
DICOM PS3.3 section C.8.20 (Segmentation), TID 1500 in PS3.16 (Measurement Report): both
reference their source images by SOP Instance UID.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeAlias

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from dicomio.archive import open_input
from dicomio.errors import CorruptFileError, NotDicomError, SeriesSelectionError
from dicomio.model import ImageVolume

__all__ = ["SourceDataset", "read_source_datasets"]

#: A source instance's header as read here (a pydicom dataset without pixel data).
SourceDataset: TypeAlias = Dataset


def read_source_datasets(source: Path, volume: ImageVolume) -> list[SourceDataset]:
    """Return the headers of the instances ``volume`` was built from, one per slice, in slice order.

    Files of ``source`` that are not DICOM, or belong to another series, are skipped. A volume
    from one multi-frame image gives that one dataset.

    Parameters
    ----------
    source
        The DICOM folder, file or zip the volume was read from (:func:`dicomio.read_series`).
    volume
        The series volume (pixels not needed).

    Returns
    -------
    list of pydicom.dataset.Dataset
        Headers without pixel data, in the order of ``volume.info.sop_instance_uids``.

    Raises
    ------
    NotDicomError
        The volume was not read from DICOM.
    SeriesSelectionError
        The volume has no per-slice instances and ``source`` does not hold exactly one image
        of its series.
    CorruptFileError
        Some slices of the volume cannot be re-read from ``source``.
    """
    info = volume.info
    if info.source_format != "dicom":
        raise NotDicomError(f"the series was read from {info.source_format}; expected DICOM")
    wanted = list(info.sop_instance_uids)
    found: dict[str, Dataset] = {}
    with open_input(source) as inputs:
        for path in inputs.files:
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            except (InvalidDicomError, OSError, ValueError):
                continue
            if str(ds.get("SeriesInstanceUID", "")) == (info.series_instance_uid or ""):
                found[str(ds.SOPInstanceUID)] = ds
    if not wanted:  # one multi-frame image
        if len(found) != 1:
            raise SeriesSelectionError(
                "expected one multi-frame image or one file per slice in the series"
            )
        return list(found.values())
    missing = [uid for uid in wanted if uid not in found]
    if missing:
        raise CorruptFileError(
            f"{len(missing)} slice(s) of the series could not be re-read as DICOM"
        )
    return [found[uid] for uid in wanted]
