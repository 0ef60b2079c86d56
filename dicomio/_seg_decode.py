"""Bring a SEG dataset into a form highdicom decodes: native little-endian pixel data.

highdicom 0.28 (through pydicom 3.0) reads most SEG encodings, but not these three, which the
pydicom-data liver SEG variants use:

- Deflated Image Frame Compression (1.2.840.10008.1.2.8.1, DICOM 2024): each frame is a raw
  deflate stream of the native frame bytes. pydicom 3.0 does not know the UID.
- RLE Lossless with BitsAllocated 1: each frame is one RLE segment holding the frame's bit-packed
  bytes (a frame whose pixel count is not a multiple of 8 is padded to a whole byte). The RLE
  decoders of pydicom and pylibjpeg refuse 1-bit data.
- Explicit VR Big Endian (retired): highdicom only parses little-endian datasets. pydicom decodes
  the pixels; they are re-encoded in little endian.

Frames are re-packed contiguously (1-bit frames are *not* byte-aligned in native encoding) and the
dataset is switched to Explicit VR Little Endian.

References
----------
.. [1] DICOM PS3.5 section 8.1.1 (bit packing of BitsAllocated 1), 8.2.2 and Annex G (RLE),
   A.4.11 (Deflated Image Frame Compression), A.3 (Explicit VR Big Endian, retired).
.. [2] DICOM PS3.3 C.8.20.2 (Segmentation Image Module).
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np
import numpy.typing as npt

from dicomio.errors import CorruptFileError

__all__ = ["DEFLATED_IMAGE_FRAME_UID", "needs_own_decoding", "to_native_little_endian"]

DEFLATED_IMAGE_FRAME_UID = "1.2.840.10008.1.2.8.1"
_RLE_UID = "1.2.840.10008.1.2.5"
_BIG_ENDIAN_UID = "1.2.840.10008.1.2.2"
_EXPLICIT_LE_UID = "1.2.840.10008.1.2.1"


def _transfer_syntax(ds: Any) -> str:
    meta = getattr(ds, "file_meta", None)
    return str(meta.get("TransferSyntaxUID", "") or "") if meta is not None else ""


def needs_own_decoding(ds: Any) -> bool:
    """Whether :func:`to_native_little_endian` must run before highdicom reads ``ds``."""
    ts = _transfer_syntax(ds)
    bits = int(ds.get("BitsAllocated", 0) or 0)
    return ts in (DEFLATED_IMAGE_FRAME_UID, _BIG_ENDIAN_UID) or (ts == _RLE_UID and bits == 1)


def _packbits(data: bytes) -> bytes:
    """Decode one PackBits-compressed RLE segment (DICOM PS3.5 G.3.1)."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        header = data[i]
        i += 1
        if header < 128:
            out += data[i : i + header + 1]
            i += header + 1
        elif header > 128:
            if i >= n:
                break
            out += bytes([data[i]]) * (257 - header)
            i += 1
        # header == 128: no operation
    return bytes(out)


def _rle_frame(frame: bytes) -> bytes:
    if len(frame) < 64:
        raise CorruptFileError("RLE frame shorter than its 64-byte header")
    header = struct.unpack("<16I", frame[:64])
    if header[0] != 1:
        raise CorruptFileError(f"1-bit RLE frame has {header[0]} segments; expected 1")
    return _packbits(frame[header[1] :])


def _frame_bits(raw: bytes, pixels: int) -> npt.NDArray[np.uint8]:
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little")
    if bits.size < pixels:
        raise CorruptFileError(f"a frame holds {bits.size} bits; expected {pixels}")
    return bits[:pixels]


def _encapsulated_frames(ds: Any) -> list[bytes]:
    from pydicom.encaps import generate_frames

    n = int(ds.get("NumberOfFrames", 1) or 1)
    return list(generate_frames(ds.PixelData, number_of_frames=n))


def _decoded_frames(ds: Any) -> npt.NDArray[np.generic]:
    """All frames as an ``(n, rows, cols)`` array of stored values."""
    ts = _transfer_syntax(ds)
    rows, cols = int(ds.Rows), int(ds.Columns)
    n = int(ds.get("NumberOfFrames", 1) or 1)
    bits = int(ds.BitsAllocated)
    if ts == _BIG_ENDIAN_UID:
        arr = np.asarray(ds.pixel_array)
        return arr.reshape(n, rows, cols)
    frames = _encapsulated_frames(ds)
    if ts == DEFLATED_IMAGE_FRAME_UID:
        try:
            raws = [zlib.decompress(f, -15) for f in frames]
        except zlib.error as exc:
            raise CorruptFileError("a deflated SEG frame could not be inflated") from exc
    else:
        raws = [_rle_frame(f) for f in frames]
    if bits == 1:
        return np.stack([_frame_bits(r, rows * cols).reshape(rows, cols) for r in raws])
    dtype = np.dtype("<u1") if bits == 8 else np.dtype("<u2")
    need = rows * cols * dtype.itemsize
    if any(len(r) < need for r in raws):
        raise CorruptFileError(f"a SEG frame is shorter than {need} bytes")
    return np.stack([np.frombuffer(r[:need], dtype=dtype).reshape(rows, cols) for r in raws])


def to_native_little_endian(ds: Any) -> Any:
    """Decode ``ds``'s frames ourselves and store them natively in Explicit VR Little Endian.

    ``ds`` is modified in place and returned. Only for datasets where :func:`needs_own_decoding`.
    """
    from pydicom.pixels.utils import pack_bits

    try:
        frames = _decoded_frames(ds)
    except CorruptFileError:
        raise
    except Exception as exc:  # pydicom/zlib/struct raise many types on broken data
        raise CorruptFileError("the SEG pixel data could not be decoded") from exc
    bits = int(ds.BitsAllocated)
    if bits == 1:
        data = pack_bits(np.ascontiguousarray(frames, dtype=np.uint8).ravel())
        vr = "OB"
    elif bits == 8:
        data = np.ascontiguousarray(frames, dtype="<u1").tobytes()
        vr = "OB"
    else:
        data = np.ascontiguousarray(frames, dtype="<u2").tobytes()
        vr = "OW"
    if len(data) % 2:
        data += b"\x00"
    ds.file_meta.TransferSyntaxUID = _EXPLICIT_LE_UID
    ds.PixelData = data
    ds["PixelData"].VR = vr
    ds["PixelData"].is_undefined_length = False
    ds.set_original_encoding(False, True)
    return ds
