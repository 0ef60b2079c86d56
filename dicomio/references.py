"""The image series a DICOM SEG or RTSTRUCT says it was drawn on.

A segmentation names its source series in its header: a SEG in the Common Instance Reference
module's Referenced Series Sequence (PS3.3 C.12.2), an RTSTRUCT in the Referenced Frame of
Reference Sequence's RT Referenced Study and Series Sequences (PS3.3 C.8.8.5). A service checks
these against the series it is asked to measure before it queues any work.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dicomio._label_dicom import read_dataset

__all__ = ["referenced_series_uids"]


def _items(ds: Any, keyword: str) -> Iterable[Any]:
    return ds.get(keyword) or ()


def referenced_series_uids(path: Path) -> frozenset[str]:
    """Return the SeriesInstanceUIDs a SEG or RTSTRUCT file references (empty when it names none).

    Raises
    ------
    NotDicomError, CorruptFileError
        The file is not readable DICOM.
    """
    ds = read_dataset(Path(path), stop_before_pixels=True)  # the header is enough
    found = {
        str(item.get("SeriesInstanceUID", "")) for item in _items(ds, "ReferencedSeriesSequence")
    }
    for frame in _items(ds, "ReferencedFrameOfReferenceSequence"):
        for study in _items(frame, "RTReferencedStudySequence"):
            for series in _items(study, "RTReferencedSeriesSequence"):
                found.add(str(series.get("SeriesInstanceUID", "")))
    return frozenset(uid for uid in found if uid)
