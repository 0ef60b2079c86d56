"""Helpers of the DICOMweb tests: synthetic instances and multipart/related bodies."""

from __future__ import annotations

import io

import numpy as np
import pydicom.uid
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"


def synthetic_instance(
    study_uid: str,
    series_uid: str,
    number: int,
    *,
    frames: int = 1,
    rows: int = 16,
    columns: int = 16,
    bits: int = 16,
    seed: int = 0,
) -> Dataset:
    """A small uncompressed CT instance (multi-frame when ``frames > 1``) with random pixels."""
    rng = np.random.default_rng(seed + number)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    sop_class = CT_IMAGE_STORAGE if frames == 1 else ENHANCED_CT_STORAGE
    ds.file_meta.MediaStorageSOPClassUID = pydicom.uid.UID(sop_class)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.PatientName = "SYNTHETIC^PHANTOM"
    ds.PatientID = "SYN-001"
    ds.StudyDate = "20240315"
    ds.StudyTime = "101500"
    ds.Modality = "CT"
    ds.SeriesNumber = 7
    ds.SeriesDescription = "synthetic"
    ds.InstanceNumber = number
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    if bits == 1:
        pixels = rng.integers(0, 2, size=(frames, rows, columns), dtype=np.uint8)
        ds.PixelData = np.packbits(pixels.ravel(), bitorder="little").tobytes()
    else:
        dtype = {8: np.uint8, 16: np.uint16}[bits]
        pixels = rng.integers(0, 2**bits - 1, size=(frames, rows, columns), dtype=dtype)
        ds.PixelData = pixels.astype(np.dtype(dtype).newbyteorder("<")).tobytes()
    ds["PixelData"].VR = "OB" if bits <= 8 else "OW"
    return ds


def to_bytes(ds: Dataset) -> bytes:
    """A dataset as a DICOM Part 10 file's bytes."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def multipart(parts: list[bytes], boundary: str = "b0undary-xyz") -> tuple[bytes, str]:
    """A multipart/related application/dicom body of ``parts`` and its Content-Type."""
    chunks = [
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p + b"\r\n"
        for p in parts
    ]
    body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


__all__ = ["multipart", "synthetic_instance", "to_bytes"]
