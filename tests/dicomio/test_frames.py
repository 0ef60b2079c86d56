"""dicomio.frames: native frame bytes, 1-bit packing, decoding, bulk data and transcoding."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, RLELossless, generate_uid

from dicomio.errors import ElementNotFoundError
from dicomio.frames import (
    PIXEL_DATA,
    bulk_data_chunks,
    frame_bytes,
    part10_bytes,
    stored_transfer_syntax,
    transcode_explicit_le,
)

_ENHANCED_CT = UID("1.2.840.10008.5.1.4.1.1.2.1")


def _instance(pixels: npt.NDArray[np.uint8] | npt.NDArray[np.uint16], bits: int) -> Dataset:
    """A multi-frame monochrome instance of ``pixels`` (frames, rows, columns)."""
    frames, rows, columns = pixels.shape
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = _ENHANCED_CT
    ds.SOPClassUID = _ENHANCED_CT
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, columns, frames
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    if bits == 1:
        ds.PixelData = np.packbits(pixels.astype(np.uint8).ravel(), bitorder="little").tobytes()
    else:
        ds.PixelData = pixels.astype("<u2").tobytes()
    return ds


def _save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def stack16() -> npt.NDArray[np.uint16]:
    """Three 4x5 frames of distinct 16-bit values."""
    return np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5) * 1000


def test_native_frames_are_their_byte_ranges(
    tmp_path: Path, stack16: npt.NDArray[np.uint16]
) -> None:
    """Frames of an uncompressed instance are its little-endian samples, in the order asked."""
    path = _save(_instance(stack16, 16), tmp_path / "a.dcm")
    got = list(frame_bytes(path, [3, 1, 3]))
    third, first = (stack16[k].astype("<u2").tobytes() for k in (2, 0))
    assert got == [third, first, third]


def test_one_bit_frames_are_repacked(tmp_path: Path) -> None:
    """1-bit frames of 9 bits are cut at bit offsets and packed from bit 0 of their own bytes."""
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2, size=(3, 3, 3), dtype=np.uint8)
    path = _save(_instance(bits, 1), tmp_path / "seg.dcm")
    for number in (1, 2, 3):
        (data,) = frame_bytes(path, [number])
        expected = np.packbits(bits[number - 1].ravel(), bitorder="little").tobytes()
        assert data == expected, number
    (whole,) = bulk_data_chunks(path, PIXEL_DATA)
    assert whole == np.packbits(bits.ravel(), bitorder="little").tobytes()


def test_compressed_frames_are_decoded(tmp_path: Path, stack16: npt.NDArray[np.uint16]) -> None:
    """RLE frames decode to the same bytes as the uncompressed instance's frames."""
    ds = _instance(stack16, 16)
    ds.compress(RLELossless, stack16, generate_instance_uid=False)
    path = _save(ds, tmp_path / "rle.dcm")
    assert stored_transfer_syntax(path) == str(RLELossless)
    assert list(frame_bytes(path, [2])) == [stack16[1].astype("<u2").tobytes()]
    assert b"".join(bulk_data_chunks(path, PIXEL_DATA)) == stack16.astype("<u2").tobytes()


def test_transcode_to_explicit_little_endian(
    tmp_path: Path, stack16: npt.NDArray[np.uint16]
) -> None:
    """A compressed instance is re-encoded uncompressed, same pixels and same SOP Instance UID."""
    ds = _instance(stack16, 16)
    ds.compress(RLELossless, stack16, generate_instance_uid=False)
    path = _save(ds, tmp_path / "rle.dcm")
    data = transcode_explicit_le(path)
    assert data[128:132] == b"DICM"
    back = pydicom.dcmread(io.BytesIO(data))
    assert back.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert back.SOPInstanceUID == ds.SOPInstanceUID
    np.testing.assert_array_equal(back.pixel_array, stack16)


def test_part10_bytes_round_trip(stack16: npt.NDArray[np.uint16]) -> None:
    """part10_bytes writes preamble, DICM and file meta, and reads back to the same dataset."""
    ds = _instance(stack16, 16)
    data = part10_bytes(ds)
    assert data[:128] == b"\0" * 128 and data[128:132] == b"DICM"
    assert pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID == ds.SOPInstanceUID


def test_other_binary_attribute_is_bulk_data(
    tmp_path: Path, stack16: npt.NDArray[np.uint16]
) -> None:
    """A binary attribute other than pixel data is given as its bytes."""
    ds = _instance(stack16, 16)
    ds.add_new(0x00091010, "OB", b"\x01\x02\x03\x04")
    path = _save(ds, tmp_path / "a.dcm")
    assert list(bulk_data_chunks(path, 0x00091010)) == [b"\x01\x02\x03\x04"]


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("frame-0", "no frame 0; this instance has frames 1 to 3"),
        ("frame-4", "no frame 4; this instance has frames 1 to 3"),
        ("no-pixels", "has no pixel data"),
        ("absent-attribute", "has no attribute 00091099"),
        ("text-attribute", "attribute 00080018 is not bulk data"),
    ],
    ids=["frame-0", "frame-4", "no-pixels", "absent-attribute", "text-attribute"],
)
def test_missing_frames_and_attributes(
    tmp_path: Path, stack16: npt.NDArray[np.uint16], case: str, match: str
) -> None:
    """A frame or attribute that is not there raises ElementNotFoundError before any read."""
    ds = _instance(stack16, 16)
    if case == "no-pixels":
        del ds.PixelData
    path = _save(ds, tmp_path / "a.dcm")
    with pytest.raises(ElementNotFoundError, match=match):
        if case.startswith("frame-"):
            frame_bytes(path, [1, int(case.split("-")[1])])
        elif case == "no-pixels":
            frame_bytes(path, [1])
        else:
            bulk_data_chunks(path, 0x00091099 if case == "absent-attribute" else 0x00080018)


def test_truncated_pixel_data_is_found_missing(
    tmp_path: Path, stack16: npt.NDArray[np.uint16]
) -> None:
    """A frame cut off the end of the file raises ElementNotFoundError when it is read."""
    path = _save(_instance(stack16, 16), tmp_path / "a.dcm")
    path.write_bytes(path.read_bytes()[:-10])
    chunks = frame_bytes(path, [1, 3])
    assert next(chunks) == stack16[0].astype("<u2").tobytes()
    with pytest.raises(ElementNotFoundError, match="frame 3 is missing"):
        next(chunks)
