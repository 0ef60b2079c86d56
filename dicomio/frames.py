"""Pixel frames and bulk data of a stored instance, and its re-encoding in a native syntax.

A frame is given in its native layout (Explicit VR Little Endian: little-endian samples, colour by
pixel, 1-bit frames packed little-endian-bitwise). Frames of an uncompressed instance are read
straight from their byte range in the file; compressed ones are decoded by pydicom one frame at a
time. The bulk data of the pixel data is all frames end to end; other binary attributes are their
bytes. :func:`transcode_explicit_le` re-encodes a whole instance (decompressed) in Explicit VR
Little Endian; :func:`part10_bytes` encodes a dataset as a Part 10 file.

References
----------
DICOM PS3.5 section 8.1.1 and 8.2 (native pixel data encoding, 1-bit packing), A.4 (encapsulation).
DICOM PS3.10 section 7.1 (Part 10 file format, file meta information).
DICOM PS3.18 section 10.4.1.1.2 (frames), 8.7.3.3 (bulk data).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_file_meta_info
from pydicom.pixels.utils import pixel_array
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicomio.errors import CorruptFileError, ElementNotFoundError, NotDicomError

__all__ = [
    "PIXEL_DATA",
    "bulk_data_chunks",
    "frame_bytes",
    "part10_bytes",
    "stored_transfer_syntax",
    "transcode_explicit_le",
]

#: The Pixel Data tag (7FE0,0010).
PIXEL_DATA = 0x7FE00010
_NATIVE = {str(ExplicitVRLittleEndian), str(ImplicitVRLittleEndian)}
_BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}


def _open(path: Path) -> Dataset:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds: Dataset = pydicom.dcmread(path, defer_size=1024)
    except InvalidDicomError as exc:
        raise NotDicomError(f"{path.name} is not a DICOM file; expected a Part 10 file") from exc
    except OSError:
        raise
    except Exception as exc:
        raise CorruptFileError(
            f"{path.name}: unreadable DICOM file ({type(exc).__name__})"
        ) from exc
    return ds


class _Layout:
    """Frame count and size of an instance's pixel data."""

    def __init__(self, ds: Dataset) -> None:
        if ds.get_item(PIXEL_DATA, keep_deferred=True) is None:
            raise ElementNotFoundError("this instance has no pixel data; it has no frames")
        self.rows = int(ds.Rows)
        self.columns = int(ds.Columns)
        self.samples = int(ds.get("SamplesPerPixel", 1) or 1)
        self.bits = int(ds.BitsAllocated)
        self.count = int(ds.get("NumberOfFrames", 1) or 1)
        self.frame_bits = self.rows * self.columns * self.samples * self.bits
        self.transfer_syntax = str(ds.file_meta.TransferSyntaxUID)

    def check(self, number: int) -> None:
        if not 1 <= number <= self.count:
            raise ElementNotFoundError(
                f"no frame {number}; this instance has frames 1 to {self.count}"
            )

    @property
    def native(self) -> bool:
        return self.transfer_syntax in _NATIVE and self.bits in (1, 8, 16, 32, 64)


def _native_frame(path: Path, offset: int, layout: _Layout, number: int) -> bytes:
    """Return a frame's bytes from its byte range of an uncompressed file (bit-exact for 1-bit)."""
    start_bit = (number - 1) * layout.frame_bits
    first, last = start_bit // 8, (start_bit + layout.frame_bits + 7) // 8
    with open(path, "rb") as fh:
        fh.seek(offset + first)
        data = fh.read(last - first)
    if len(data) < last - first:
        raise ElementNotFoundError(f"frame {number} is missing from the stored pixel data")
    if layout.bits != 1 or (start_bit % 8 == 0 and layout.frame_bits % 8 == 0):
        return data
    bits = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")
    shift = start_bit % 8
    return np.packbits(bits[shift : shift + layout.frame_bits], bitorder="little").tobytes()


def _decode(path: Path, index: int) -> Any:
    """One frame (0-based) decoded by pydicom; decoder failures are CorruptFileError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pixel_array(path, index=index)
    except OSError:
        raise
    except Exception as exc:
        raise CorruptFileError(
            f"{path.name}: frame {index + 1} cannot be decoded ({type(exc).__name__}); expected "
            "pixel data in a transfer syntax with an installed decoder"
        ) from exc


def _decoded_frame(path: Path, layout: _Layout, number: int) -> bytes:
    """Return a compressed frame decoded to its native little-endian bytes."""
    arr = _decode(path, number - 1)
    if layout.bits == 1:
        return np.packbits(arr.astype(np.uint8).ravel(), bitorder="little").tobytes()
    arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
    data: bytes = arr.tobytes()
    return data


def _offset(ds: Dataset) -> int:
    raw = ds.get_item(PIXEL_DATA, keep_deferred=True)
    tell = getattr(raw, "value_tell", None)
    return int(tell) if tell is not None else -1


def frame_bytes(path: Path, numbers: Sequence[int]) -> Iterator[bytes]:
    """Yield the native bytes of each requested frame, read (or decoded) one at a time.

    The header is read and every frame number checked before this returns; the frames themselves
    are read as the iterator is consumed.

    Parameters
    ----------
    path
        A Part 10 file.
    numbers
        1-based frame numbers, in the order wanted (repeats allowed).

    Returns
    -------
    Iterator[bytes]
        One ``bytes`` per requested frame.

    Raises
    ------
    ElementNotFoundError
        The instance has no pixel data, a frame number is out of range, or (while iterating) a
        frame is missing from truncated pixel data.
    CorruptFileError
        The file cannot be parsed, or (while iterating) a compressed frame cannot be decoded.
    """
    ds = _open(path)
    layout = _Layout(ds)
    for number in numbers:
        layout.check(number)
    offset = _offset(ds) if layout.native else -1

    def generate() -> Iterator[bytes]:
        for number in numbers:
            if offset >= 0:
                yield _native_frame(path, offset, layout, number)
            else:
                yield _decoded_frame(path, layout, number)

    return generate()


def _all_bits(path: Path, ds: Dataset, layout: _Layout) -> bytes:
    """Return the pixel data of a 1-bit instance: every frame's bits end to end, packed."""
    length = (layout.frame_bits * layout.count + 7) // 8
    offset = _offset(ds) if layout.native else -1
    if offset >= 0:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return fh.read(length)
    frames = [np.asarray(_decode(path, i), dtype=np.uint8).ravel() for i in range(layout.count)]
    return np.packbits(np.concatenate(frames), bitorder="little").tobytes()


def bulk_data_chunks(path: Path, tag: int) -> Iterator[bytes]:
    """Yield the bytes of a top-level binary attribute; for pixel data, every frame uncompressed.

    Parameters
    ----------
    path
        A Part 10 file.
    tag
        The attribute's tag as an integer (``0x7FE00010`` for Pixel Data).

    Returns
    -------
    Iterator[bytes]
        The value in one or more chunks (one per frame for multi-bit pixel data).

    Raises
    ------
    ElementNotFoundError
        The instance has no such attribute, or its value is not binary (not bulk data).
    CorruptFileError
        The file cannot be parsed or its pixel data cannot be decoded.
    """
    ds = _open(path)
    if tag == PIXEL_DATA:
        layout = _Layout(ds)
        if layout.bits == 1:
            return iter([_all_bits(path, ds, layout)])
        return frame_bytes(path, range(1, layout.count + 1))
    if ds.get_item(tag, keep_deferred=True) is None:
        raise ElementNotFoundError(f"this instance has no attribute {tag:08X}")
    elem = ds[tag]
    if str(elem.VR) not in _BINARY_VRS or elem.value is None:
        raise ElementNotFoundError(f"attribute {tag:08X} is not bulk data")
    return iter([bytes(elem.value)])


def stored_transfer_syntax(path: Path) -> str:
    """Return the Transfer Syntax UID of a Part 10 file, from its file meta information only.

    Raises
    ------
    NotDicomError
        Not a Part 10 file.
    CorruptFileError
        The file meta information cannot be parsed or has no Transfer Syntax UID.
    """
    try:
        meta = read_file_meta_info(path)
        return str(meta.TransferSyntaxUID)
    except InvalidDicomError as exc:
        raise NotDicomError(f"{path.name} is not a DICOM file; expected a Part 10 file") from exc
    except OSError:
        raise
    except Exception as exc:
        raise CorruptFileError(
            f"{path.name}: unreadable file meta information ({type(exc).__name__}); expected a "
            "Transfer Syntax UID (0002,0010)"
        ) from exc


def part10_bytes(ds: Dataset) -> bytes:
    """Return a dataset encoded as a Part 10 file (preamble, ``DICM``, file meta information)."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def transcode_explicit_le(path: Path) -> bytes:
    """Return a stored instance re-encoded in Explicit VR Little Endian (decompressed when needed).

    The whole instance is read into memory. The SOP Instance UID is kept.

    Raises
    ------
    NotDicomError
        Not a DICOM file.
    CorruptFileError
        The file cannot be parsed, decompressed or re-encoded.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
            if ds.file_meta.TransferSyntaxUID.is_compressed:
                ds.decompress(generate_instance_uid=False)
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            return part10_bytes(ds)
    except InvalidDicomError as exc:
        raise NotDicomError(f"{path.name} is not a DICOM file; expected a Part 10 file") from exc
    except OSError:
        raise
    except Exception as exc:
        raise CorruptFileError(
            f"{path.name} cannot be re-encoded in Explicit VR Little Endian "
            f"({type(exc).__name__}); expected decodable pixel data"
        ) from exc
