"""WADO-RS frames and bulk data: uncompressed pixel bytes of stored instances.

A frame is sent in its native layout (Explicit VR Little Endian: little-endian samples, colour by
pixel, 1-bit frames packed little-endian-bitwise). Frames of an uncompressed instance are read
straight from their byte range in the file; compressed ones are decoded by pydicom one frame at a
time. Bulk data of the pixel data is all frames in a row; other binary attributes are their bytes.

References
----------
DICOM PS3.18 section 10.4.1.1.2 (frames), 8.7.3.3 (bulk data media types);
PS3.5 section 8.1.1 and 8.2 (native pixel data encoding, 1-bit packing).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels.utils import pixel_array

from app.api._dicomweb_media import EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN
from app.errors import InvalidRequestError, NotFoundError

__all__ = ["bulk_chunks", "frame_bytes", "parse_frame_list"]

_NATIVE = {EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN}
_FRAMES_RE = re.compile(r"^\s*\d+\s*(,\s*\d+\s*)*$")
_PIXEL_DATA = 0x7FE00010
_MAX_FRAMES_PER_REQUEST = 10_000
_BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}


def parse_frame_list(text: str) -> list[int]:
    """``"1,3,5"`` as frame numbers (1-based); InvalidRequestError otherwise."""
    if not _FRAMES_RE.match(text):
        raise InvalidRequestError(
            f"frame list {text[:40]!r}; expected 1-based frame numbers separated by commas"
        )
    numbers = [int(n) for n in text.split(",")]
    if len(numbers) > _MAX_FRAMES_PER_REQUEST:
        raise InvalidRequestError(f"more than {_MAX_FRAMES_PER_REQUEST} frames in one request")
    return numbers


def _open(path: Path) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, defer_size=1024)


class _Geometry:
    """Frame count and size of an instance's pixel data."""

    def __init__(self, ds: Dataset) -> None:
        if ds.get_item(_PIXEL_DATA, keep_deferred=True) is None:
            raise NotFoundError("this instance has no pixel data; it has no frames")
        self.rows = int(ds.Rows)
        self.columns = int(ds.Columns)
        self.samples = int(ds.get("SamplesPerPixel", 1) or 1)
        self.bits = int(ds.BitsAllocated)
        self.count = int(ds.get("NumberOfFrames", 1) or 1)
        self.frame_bits = self.rows * self.columns * self.samples * self.bits
        self.transfer_syntax = str(ds.file_meta.TransferSyntaxUID)

    def check(self, number: int) -> None:
        if not 1 <= number <= self.count:
            raise NotFoundError(f"no frame {number}; this instance has frames 1 to {self.count}")


def _native_frame(path: Path, offset: int, geo: _Geometry, number: int) -> bytes:
    """A frame's bytes read from its byte range of an uncompressed file (bit-exact for 1-bit)."""
    start_bit = (number - 1) * geo.frame_bits
    first, last = start_bit // 8, (start_bit + geo.frame_bits + 7) // 8
    with open(path, "rb") as fh:
        fh.seek(offset + first)
        data = fh.read(last - first)
    if len(data) < last - first:
        raise NotFoundError(f"frame {number} is missing from the stored pixel data")
    if geo.bits != 1 or (start_bit % 8 == 0 and geo.frame_bits % 8 == 0):
        return data
    bits = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")
    shift = start_bit % 8
    return np.packbits(bits[shift : shift + geo.frame_bits], bitorder="little").tobytes()


def _decoded_frame(path: Path, geo: _Geometry, number: int) -> bytes:
    """A compressed frame decoded to its native little-endian bytes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arr: Any = pixel_array(path, index=number - 1)
    if geo.bits == 1:
        return np.packbits(arr.astype(np.uint8).ravel(), bitorder="little").tobytes()
    arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
    data: bytes = arr.tobytes()
    return data


def _is_native(geo: _Geometry) -> bool:
    return geo.transfer_syntax in _NATIVE and geo.bits in (1, 8, 16, 32, 64)


def _offset(ds: Dataset) -> int:
    raw = ds.get_item(_PIXEL_DATA, keep_deferred=True)
    tell = getattr(raw, "value_tell", None)
    return int(tell) if tell is not None else -1


def frame_bytes(path: Path, numbers: Sequence[int]) -> Iterator[bytes]:
    """The native bytes of each requested frame (checked first, then read one at a time)."""
    ds = _open(path)
    geo = _Geometry(ds)
    for number in numbers:
        geo.check(number)
    offset = _offset(ds) if _is_native(geo) else -1

    def generate() -> Iterator[bytes]:
        for number in numbers:
            if offset >= 0:
                yield _native_frame(path, offset, geo, number)
            else:
                yield _decoded_frame(path, geo, number)

    return generate()


def _all_bits(path: Path, ds: Dataset, geo: _Geometry) -> bytes:
    """The pixel data of a 1-bit instance: every frame's bits end to end, packed."""
    length = (geo.frame_bits * geo.count + 7) // 8
    offset = _offset(ds) if _is_native(geo) else -1
    if offset >= 0:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return fh.read(length)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frames = [
            np.asarray(pixel_array(path, index=i), dtype=np.uint8).ravel() for i in range(geo.count)
        ]
    return np.packbits(np.concatenate(frames), bitorder="little").tobytes()


def bulk_chunks(path: Path, tag: int) -> Iterator[bytes]:
    """The bytes of a top-level binary attribute; for pixel data, every frame uncompressed."""
    ds = _open(path)
    if tag == _PIXEL_DATA:
        geo = _Geometry(ds)
        if geo.bits == 1:
            return iter([_all_bits(path, ds, geo)])
        return frame_bytes(path, range(1, geo.count + 1))
    if ds.get_item(tag, keep_deferred=True) is None:
        raise NotFoundError(f"this instance has no attribute {tag:08X}")
    elem = ds[tag]
    if str(elem.VR) not in _BINARY_VRS or elem.value is None:
        raise NotFoundError(f"attribute {tag:08X} is not bulk data")
    return iter([bytes(elem.value)])
