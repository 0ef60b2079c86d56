"""Refuse a NIfTI file whose voxel data is shorter than its header says.

ITK's NIfTI reader (niftilib's ``nifti_read_buffer``) fills the voxels a truncated file lacks with
zeros and reports success: a label map cut in half reads as a half-empty segmentation, and a
header that claims a huge grid over a few bytes makes it allocate (and zero) that grid. The header
says how many bytes of voxel data follow ``vox_offset``: the product of ``dim[1..dim[0]]`` times
``bitpix / 8``. So, before ITK reads a file:

- ``.nii``: the file must reach ``vox_offset`` + that many bytes;
- ``.nii.gz``: the gzip trailer's ISIZE (the uncompressed size modulo 2**32) must equal that end;
  when it does not (a truncated stream, trailing data, several gzip members), the stream is
  inflated once to count its bytes, and a stream that ends early is refused.

A 348-byte header without the ``n+1`` magic is read by ITK as an Analyze 7.5 header with its
voxels in the same file, so it is checked the same way. Files that are not single-file NIfTI
(NRRD, MetaImage, ``.hdr``/``.img`` pairs) are left to ITK, whose readers for them report
truncation themselves.

References
----------
.. [1] NIfTI-1 data format, https://nifti.nimh.nih.gov/nifti-1 (``dim``, ``bitpix``,
   ``vox_offset``; magic ``n+1``), and the NIfTI-2 header (540 bytes, 64-bit fields).
.. [2] RFC 1952, "GZIP file format specification", section 2.3.1 (CRC32, ISIZE trailer).
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

from dicomio.errors import CorruptFileError

__all__ = ["check_nifti_length"]

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
#: Bytes per voxel of each NIfTI datatype code (nifti1.h; niftilib refuses other codes).
_DATATYPE_BYTES = {
    2: 1,
    4: 2,
    8: 4,
    16: 4,
    32: 8,
    64: 8,
    128: 3,
    256: 1,
    512: 2,
    768: 4,
    1024: 8,
    1280: 8,
    1536: 16,
    1792: 16,
    2048: 32,
    2304: 4,
}


def _byte_order(head: bytes, fmt: str, at: int) -> str | None:
    """``"<"`` or ``">"``: the order in which ``dim[0]`` (at ``at``) is 1..7, as niftilib does."""
    size = struct.calcsize(fmt)
    for order in ("<", ">"):
        (dim0,) = struct.unpack(order + fmt, head[at : at + size])
        if 1 <= dim0 <= 7:
            return order
    return None


def _header_end(head: bytes) -> int | None:
    """Byte offset where a single-file NIfTI's voxel data ends, or ``None`` (not NIfTI / odd).

    As niftilib reads it: the byte order is the one in which ``dim[0]`` is 1..7, the voxel size
    comes from ``datatype`` (not ``bitpix``), a dimension below 1 counts as 1, and a header is
    NIfTI by its ``sizeof_hdr`` or by its magic (ITK reads a bad ``sizeof_hdr`` after ``n+1``).
    The magic is not required (ITK reads a magic-less 348-byte header as Analyze 7.5, voxels
    in the same file); only the ``ni1`` / ``ni2`` magic of a header/image pair is left alone.
    """
    if len(head) < 4:
        return None
    sizes = {struct.unpack("<i", head[:4])[0], struct.unpack(">i", head[:4])[0]}
    n1 = 348 in sizes or head[344:347] == b"n+1"  # ITK reads either (a bad sizeof_hdr too)
    n2 = 540 in sizes or head[4:7] == b"n+2"
    if n1 and len(head) >= 348 and head[344:347] != b"ni1":
        order = _byte_order(head, "h", 40)
        if order is None:
            return None
        dims = struct.unpack(order + "8h", head[40:56])
        (datatype,) = struct.unpack(order + "h", head[70:72])
        (offset_f,) = struct.unpack(order + "f", head[108:112])
        offset = int(offset_f) if math.isfinite(offset_f) and offset_f > 0 else 0
        min_offset = 352
    elif n2 and len(head) >= 540 and head[4:7] != b"ni2":
        order = _byte_order(head, "q", 16)
        if order is None:
            return None
        (datatype,) = struct.unpack(order + "h", head[12:14])
        dims = struct.unpack(order + "8q", head[16:80])
        (offset,) = struct.unpack(order + "q", head[168:176])
        min_offset = 544
    else:
        return None
    nbyper = _DATATYPE_BYTES.get(datatype)
    if nbyper is None:
        return None  # ITK refuses an unknown datatype itself
    voxels = 1
    for d in dims[1 : dims[0] + 1]:
        voxels *= max(int(d), 1)
    return int(max(offset, min_offset) + voxels * nbyper)


def _gunzip_head(path: Path) -> bytes:
    """Return the first uncompressed bytes of a gzip file, as far as they go (cut streams too)."""
    with open(path, "rb") as fh:
        data = fh.read(_CHUNK)
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, 544)
    except zlib.error:
        return b""  # not gzip data at all: ITK reports it


def _inflated_size(path: Path) -> int:
    """Uncompressed size of a gzip file, by inflating it (all members); raise when it ends early."""
    total = 0
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                total += len(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise CorruptFileError(
            f"{path.name} is a truncated or damaged gzip stream ({type(exc).__name__}); expected "
            "a complete .nii.gz file"
        ) from exc
    return total


def check_nifti_length(path: Path) -> None:
    """Raise :class:`CorruptFileError` when a NIfTI file holds fewer voxel bytes than it declares.

    Anything that is not a single-file NIfTI (or gzip of one) passes unchecked.
    """
    with open(path, "rb") as fh:
        head = fh.read(544)
        size = os.fstat(fh.fileno()).st_size
        gz = head.startswith(_GZIP_MAGIC)
        if gz:
            if size < 18:
                raise CorruptFileError(f"{path.name} is too short to be a gzip file")
            fh.seek(size - 4)
            (isize,) = struct.unpack("<I", fh.read(4))
    if gz:
        head = _gunzip_head(path)
    end = _header_end(head)
    if end is None:
        return
    if gz:
        if isize == end % 2**32:
            return
        size = _inflated_size(path)
    if size < end:
        raise CorruptFileError(
            f"{path.name} holds {max(size, 0)} bytes where its NIfTI header needs {end} (voxel "
            "data missing: truncated file, or a header that does not describe it); expected a "
            "complete NIfTI file"
        )
