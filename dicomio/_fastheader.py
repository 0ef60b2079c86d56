"""A small, strict DICOM header scanner for the common case, so the header path avoids pydicom.

Importing pydicom costs about 0.4 s (its pixel plugins pull in GDCM and more), which is a large
part of a one-shot measurement. Most series are Part 10 files in little-endian transfer syntaxes
(implicit VR, explicit VR, or encapsulated JPEG/RLE); their header is a flat run of elements that
this module walks with ``struct``, skipping sequences, until Pixel Data. It keeps only the raw
bytes of the attributes in :data:`WANTED` and decodes them by their dictionary VR.

Anything unusual returns ``None`` and the caller parses the file with pydicom instead: no
``DICM`` prefix, deflated or big-endian transfer syntaxes, explicit VR data under an implicit VR
transfer syntax, functional groups (Enhanced multi-frame), malformed element headers; :func:`scan`
never raises on bad data. :func:`scan_strict` is the same walk, except that an element whose
header or value runs past the end of the file raises :class:`Truncated`: pydicom reads such files
without complaint (it seeks past the end, or returns a short value), so a truncated file would
otherwise read as a shorter, seemingly valid dataset.

References
----------
.. [1] DICOM PS3.5 section 7.1 (data element encoding), 7.5 (nesting of data sets) and
       annex A (transfer syntaxes).
.. [2] DICOM PS3.6 section 6 (the data dictionary: tags and VRs of :data:`WANTED`).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["WANTED", "FastHeader", "Truncated", "decode", "scan", "scan_strict"]

#: Keyword -> (tag, VR) of every attribute the header path reads (checked against pydicom's
#: dictionary by the tests).
WANTED: dict[str, tuple[int, str]] = {
    "SpecificCharacterSet": (0x00080005, "CS"),
    "ImageType": (0x00080008, "CS"),
    "SOPClassUID": (0x00080016, "UI"),
    "SOPInstanceUID": (0x00080018, "UI"),
    "StudyDate": (0x00080020, "DA"),
    "SeriesDate": (0x00080021, "DA"),
    "AcquisitionDate": (0x00080022, "DA"),
    "ContentDate": (0x00080023, "DA"),
    "AcquisitionDateTime": (0x0008002A, "DT"),
    "SeriesTime": (0x00080031, "TM"),
    "AcquisitionTime": (0x00080032, "TM"),
    "ContentTime": (0x00080033, "TM"),
    "Modality": (0x00080060, "CS"),
    "SeriesDescription": (0x0008103E, "LO"),
    "ContrastBolusAgent": (0x00180010, "LO"),
    "ContrastBolusAgentSequence": (0x00180012, "SQ"),
    "SliceThickness": (0x00180050, "DS"),
    "SpacingBetweenSlices": (0x00180088, "DS"),
    "ContrastBolusRoute": (0x00181040, "LO"),
    "ContrastBolusStartTime": (0x00181042, "TM"),
    "GantryDetectorTilt": (0x00181120, "DS"),
    "StudyInstanceUID": (0x0020000D, "UI"),
    "SeriesInstanceUID": (0x0020000E, "UI"),
    "SeriesNumber": (0x00200011, "IS"),
    "InstanceNumber": (0x00200013, "IS"),
    "ImagePositionPatient": (0x00200032, "DS"),
    "ImageOrientationPatient": (0x00200037, "DS"),
    "FrameOfReferenceUID": (0x00200052, "UI"),
    "SamplesPerPixel": (0x00280002, "US"),
    "PhotometricInterpretation": (0x00280004, "CS"),
    "NumberOfFrames": (0x00280008, "IS"),
    "Rows": (0x00280010, "US"),
    "Columns": (0x00280011, "US"),
    "PixelSpacing": (0x00280030, "DS"),
    "BitsAllocated": (0x00280100, "US"),
    "BitsStored": (0x00280101, "US"),
    "PixelRepresentation": (0x00280103, "US"),
    "RescaleIntercept": (0x00281052, "DS"),
    "RescaleSlope": (0x00281053, "DS"),
    "SharedFunctionalGroupsSequence": (0x52009229, "SQ"),
    "PerFrameFunctionalGroupsSequence": (0x52009230, "SQ"),
}
_VR_OF = {tag: vr for tag, vr in WANTED.values()}
_FALLBACK_TAGS = {
    WANTED["SharedFunctionalGroupsSequence"][0],
    WANTED["PerFrameFunctionalGroupsSequence"][0],
}
_LONG_VRS = {
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"SQ",
    b"SV",
    b"UC",
    b"UN",
    b"UR",
    b"UT",
    b"UV",
}
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_PIXEL_FIRST = 0x7FE00008  # Float Pixel Data; Pixel Data is 0x7FE00010
_IMPLICIT_LE = "1.2.840.10008.1.2"
_UNSUPPORTED_TS = {"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.2"}  # deflate, big endian
_MAX_DEPTH = 16
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<L")
_TAG = struct.Struct("<HH")


class _Bad(Exception):
    """Internal: the data is not the simple case; the caller falls back to pydicom."""


class Truncated(Exception):
    """An element runs past the end of the file: ``tag`` and the bytes it lacks."""

    def __init__(self, tag: int, missing: int) -> None:
        super().__init__(f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) lacks {missing} bytes")
        self.tag = tag
        self.missing = missing


@dataclass(frozen=True, slots=True)
class FastHeader:
    """Raw values of the wanted attributes and where Pixel Data starts."""

    meta: Mapping[int, bytes]
    values: Mapping[int, bytes]
    present: frozenset[int]
    implicit: bool
    pixel_offset: int | None
    transfer_syntax: str


def _tag(buf: Any, pos: int) -> int:
    g, e = _TAG.unpack_from(buf, pos)
    return int((g << 16) | e)


def _element(buf: Any, pos: int, n: int, implicit: bool) -> tuple[int, bytes, int, int]:
    """(tag, explicit VR or b'', value start, length) of the element at ``pos``."""
    if pos + 8 > n:
        raise Truncated(_tag(buf, pos) if pos + 4 <= n else 0, pos + 8 - n)
    tag = _tag(buf, pos)
    if implicit or (tag >> 16) == 0xFFFE:
        return tag, b"", pos + 8, int(_U32.unpack_from(buf, pos + 4)[0])
    vr = bytes(buf[pos + 4 : pos + 6])
    if vr in _LONG_VRS:
        if pos + 12 > n:
            raise Truncated(tag, pos + 12 - n)
        return tag, vr, pos + 12, int(_U32.unpack_from(buf, pos + 8)[0])
    if not vr.isalpha() or not vr.isupper():
        raise _Bad
    return tag, vr, pos + 8, int(_U16.unpack_from(buf, pos + 6)[0])


def _skip_sequence(buf: Any, pos: int, n: int, implicit: bool, depth: int) -> int:
    """Position after an undefined-length sequence starting at its first item."""
    if depth > _MAX_DEPTH:
        raise _Bad
    while True:
        tag, _, start, length = _element(buf, pos, n, True)
        if tag == _SEQ_END:
            return start
        if tag != _ITEM:
            raise _Bad
        if length != _UNDEFINED:
            pos = start + length
            continue
        pos = start
        while True:  # an item of undefined length: elements up to the item delimiter
            tag, vr, start, length = _element(buf, pos, n, implicit)
            if tag == _ITEM_END:
                pos = start
                break
            if length == _UNDEFINED:
                pos = _skip_sequence(buf, start, n, implicit or vr == b"UN", depth + 1)
            else:
                pos = start + length
            if pos > n:
                raise Truncated(tag, pos - n)


def _meta(buf: Any, n: int) -> tuple[dict[int, bytes], int]:
    meta: dict[int, bytes] = {}
    pos = 132
    while pos + 8 <= n and _TAG.unpack_from(buf, pos)[0] == 0x0002:
        tag, _, start, length = _element(buf, pos, n, False)
        if length == _UNDEFINED:
            raise _Bad
        if start + length > n:
            raise Truncated(tag, start + length - n)
        meta[tag] = bytes(buf[start : start + length])
        pos = start + length
    return meta, pos


def scan(buf: Any) -> FastHeader | None:
    """Scan a whole file's bytes (or memory map); ``None`` when pydicom must parse it."""
    try:
        return scan_strict(buf)
    except Truncated:
        return None


def scan_strict(buf: Any) -> FastHeader | None:
    """:func:`scan`, raising :class:`Truncated` when an element runs past the end of the data.

    Raises
    ------
    Truncated
        An element's header or value runs past the end of the data.
    """
    n = len(buf)
    if n < 144 or bytes(buf[128:132]) != b"DICM":
        return None
    try:
        meta, pos = _meta(buf, n)
        tsx = meta.get(0x00020010, b"").decode("ascii", "replace").strip("\0 ")
        if not tsx or tsx in _UNSUPPORTED_TS:
            return None
        implicit = tsx == _IMPLICIT_LE
        if implicit and pos + 8 <= n and bytes(buf[pos + 4 : pos + 6]).isalpha():
            return None  # explicit VR data under an implicit VR syntax: pydicom copes
        values: dict[int, bytes] = {}
        present: set[int] = set()
        pixel_offset: int | None = None
        while pos + 8 <= n:
            tag, vr, start, length = _element(buf, pos, n, implicit)
            if tag >= _PIXEL_FIRST:
                pixel_offset = pos
                break
            if tag in _FALLBACK_TAGS:
                return None
            if length == _UNDEFINED:
                if not implicit and vr not in (b"SQ", b"UN"):
                    return None
                end = _skip_sequence(buf, start, n, implicit or vr == b"UN", 0)
                if tag in _VR_OF:
                    present.add(tag)
                    values[tag] = b"" if end - start <= 8 else b"\x01"
                pos = end
                continue
            if start + length > n:
                raise Truncated(tag, start + length - n)
            if tag in _VR_OF:
                present.add(tag)
                values[tag] = bytes(buf[start : start + length])
            pos = start + length
        return FastHeader(meta, values, frozenset(present), implicit, pixel_offset, tsx)
    except (_Bad, struct.error, UnicodeDecodeError):
        return None


def decode(raw: bytes, vr: str, charset: str = "") -> Any:
    """Return a raw value as pydicom gives it for our purposes: str, list of str, int or ints."""
    if vr in ("US", "UL", "SS", "SL"):
        code = {"US": "H", "UL": "L", "SS": "h", "SL": "l"}[vr]
        count = len(raw) // struct.calcsize(code)
        if count == 0:
            return None
        vals = struct.unpack("<" + code * count, raw[: count * struct.calcsize(code)])
        return vals[0] if count == 1 else list(vals)
    if vr == "SQ":
        return raw or None
    encoding = "utf-8" if "ISO_IR 192" in charset else "latin-1"
    text = raw.decode(encoding if vr in ("LO", "SH", "LT", "ST") else "ascii", "replace")
    text = text.strip("\0 ")
    if vr in ("LT", "ST"):
        return text
    parts = text.split("\\")
    return [p.strip() for p in parts] if len(parts) > 1 else text
