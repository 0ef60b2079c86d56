"""Write small synthetic DICOM slices with known geometry for the series tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

STUDY = "1.2.826.0.1.3680043.8.498.1"
FOR = "1.2.826.0.1.3680043.8.498.2"


def slice_dataset(
    *,
    position: Sequence[float],
    orientation: Sequence[float] = (1, 0, 0, 0, 1, 0),
    pixel_spacing: Sequence[float] = (0.5, 0.75),
    pixels: npt.NDArray[Any] | None = None,
    rows: int = 6,
    columns: int = 5,
    series_uid: str = "1.2.826.0.1.3680043.8.498.10",
    study_uid: str = STUDY,
    frame_of_reference_uid: str = FOR,
    modality: str = "CT",
    description: str = "",
    thickness: float | None = 2.5,
    slope: float | None = 1.0,
    intercept: float | None = -1024.0,
    signed: bool = False,
    extra: dict[str, Any] | None = None,
) -> Dataset:
    """A single-frame CT/MR dataset with the given geometry (16-bit pixels)."""
    ds = Dataset()
    sop = generate_uid()
    cls = CTImageStorage if modality == "CT" else MRImageStorage
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = cls
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.SOPClassUID = cls
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_of_reference_uid
    ds.Modality = modality
    ds.SeriesDescription = description
    ds.PatientName = "SYNTH^PATIENT"
    ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
    ds.ImageOrientationPatient = [f"{v:.8f}" for v in orientation]
    ds.PixelSpacing = [f"{v:g}" for v in pixel_spacing]
    if thickness is not None:
        ds.SliceThickness = f"{thickness:g}"
    if slope is not None:
        ds.RescaleSlope = f"{slope:g}"
    if intercept is not None:
        ds.RescaleIntercept = f"{intercept:g}"
    if pixels is None:
        pixels = np.arange(rows * columns, dtype=np.int16 if signed else np.uint16).reshape(
            rows, columns
        )
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    ds.PixelData = pixels.astype(pixels.dtype.newbyteorder("<")).tobytes()
    for key, value in (extra or {}).items():
        setattr(ds, key, value)
    return ds


def write(ds: Dataset, path: Path) -> Path:
    """Save a dataset as a DICOM Part 10 file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_stack(
    folder: Path,
    positions: Sequence[Sequence[float]],
    *,
    values: Sequence[int] | None = None,
    **kwargs: Any,
) -> list[Path]:
    """One file per position; slice m has every pixel equal to ``values[m]`` (default m + 1)."""
    rows = kwargs.pop("rows", 6)
    columns = kwargs.pop("columns", 5)
    out = []
    for m, pos in enumerate(positions):
        v = (m + 1) if values is None else values[m]
        px = np.full((rows, columns), v, dtype=np.uint16)
        out.append(write(slice_dataset(position=pos, pixels=px, **kwargs), folder / f"f{m:03d}"))
    return out
