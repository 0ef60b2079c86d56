"""Read what we need of one DICOM file's header, fast, without decoding pixels.

Each file is memory-mapped once: the fast scanner (:mod:`dicomio._fastheader`) reads the common
little-endian single-frame case without pydicom, anything else goes through pydicom
(:mod:`dicomio._pydicom_header`), and the same mapping is hashed (SHA-256) when asked. The Pixel
Data element is then checked without decoding it: native data must be as long as Rows x Columns
x Frames x BitsAllocated says, and encapsulated data must reach its sequence delimiter. A
truncated file is therefore caught on the header-only path too.

References
----------
.. [1] DICOM PS3.5 section 7.1 (data elements) and A.4 (encapsulated pixel data).
.. [2] DICOM PS3.10 section 7.1, "DICOM File Meta Information".
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from dicomio._fastheader import WANTED, FastHeader, Truncated, decode, scan_strict
from dicomio._multiframe import FrameGeom, frame_geometries
from dicomio._values import as_datetime, as_float, as_int, as_str, as_uid, tm_seconds
from dicomio.errors import CorruptFileError

__all__ = ["Header", "read_header", "truncated_error"]

logger = logging.getLogger(__name__)

_DEFLATED = "1.2.840.10008.1.2.1.99"
_PIXEL_TAGS = {(0x7FE0, 0x0010), (0x7FE0, 0x0008), (0x7FE0, 0x0009)}
_META_TAGS = {
    "TransferSyntaxUID": 0x00020010,
    "MediaStorageSOPClassUID": 0x00020002,
    "MediaStorageSOPInstanceUID": 0x00020003,
}


@dataclass(frozen=True, slots=True)
class Header:
    """The attributes of one DICOM file that discovery and volume building use.

    Never holds patient identifiers. Empty strings stand for missing or empty values.
    """

    path: Path
    sha256: str | None
    transfer_syntax: str
    sop_class_uid: str
    sop_instance_uid: str
    series_uid: str
    study_uid: str
    frame_of_reference_uid: str
    modality: str
    series_description: str
    series_number: int | None
    instance_number: int | None
    image_type: tuple[str, ...]
    acquisition_time: datetime | None
    contrast_agent: str | None  # None: attribute absent; "": present but empty
    contrast_route: str
    contrast_start_s: float | None
    acquisition_s: float | None
    rows: int
    columns: int
    frames: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    photometric: str
    has_pixels: bool
    #: Byte offset and length of native (uncompressed, in-place) Pixel Data; None otherwise.
    native_pixels: tuple[int, int] | None
    pixel_problem: str | None
    slice_thickness: float | None
    spacing_between_slices: float | None
    gantry_tilt: float | None
    multiframe: bool
    frame_geoms: tuple[FrameGeom, ...]

    @property
    def name(self) -> str:
        """File name only (messages never show the full original path)."""
        return self.path.name


def _looks_like_raw_dataset(head: bytes) -> bool:
    """Return a file without preamble/meta that starts with a group 0x0008 or 0x0002 element."""
    return head[:2] in (b"\x08\x00", b"\x02\x00")


def _walk_encapsulated(fp: BinaryIO, pos: int, size: int, little: bool) -> str | None:
    fmt = "<HHL" if little else ">HHL"
    items = 0
    while True:
        fp.seek(pos)
        raw = fp.read(8)
        if len(raw) < 8:
            return "the encapsulated pixel data ends before its sequence delimiter (truncated)"
        group, elem, length = struct.unpack(fmt, raw)
        if (group, elem) == (0xFFFE, 0xE0DD):
            return None if items >= 2 else "the encapsulated pixel data holds no fragments"
        if (group, elem) != (0xFFFE, 0xE000):
            return "the encapsulated pixel data has a malformed item"
        pos += 8 + length
        items += 1
        if pos > size:
            return "the encapsulated pixel data ends early (truncated)"


def _pixel_check(
    fp: BinaryIO,
    pos: int,
    size: int,
    little: bool,
    implicit: bool,
    expected_bytes: int | None,
    frame_bytes: int = 0,
) -> tuple[bool, str | None, tuple[int, int] | None]:
    """Whether Pixel Data starts at ``pos``, what is wrong with it, and its native extent.

    Native data shorter than ``expected_bytes`` is truncated; data holding at least one frame
    (``frame_bytes``) more than that means Rows, Columns or NumberOfFrames do not describe it.
    Less than a frame of excess is padding and is ignored, as pydicom does.
    """
    fp.seek(pos)
    head = fp.read(12)
    if len(head) < 8:
        return False, None, None
    g, e = struct.unpack("<HH" if little else ">HH", head[:4])
    if (g, e) not in _PIXEL_TAGS:
        return False, None, None
    if implicit:
        (length,) = struct.unpack("<L" if little else ">L", head[4:8])
        start = pos + 8
    else:
        (length,) = struct.unpack("<L" if little else ">L", head[8:12])
        start = pos + 12
    if length == 0xFFFFFFFF:
        return True, _walk_encapsulated(fp, start, size, little), None
    if start + length > size:
        return True, f"the file ends {start + length - size} bytes before its pixel data", None
    if expected_bytes is not None and length < expected_bytes:
        return True, f"the pixel data is {length} bytes, expected {expected_bytes}", None
    if expected_bytes is not None and length - expected_bytes >= max(frame_bytes, 2):
        return (
            True,
            f"the pixel data is {length} bytes, expected {expected_bytes} (Rows x Columns x "
            "frames x bytes per sample: the header does not describe the data)",
            None,
        )
    return True, None, (start, length) if (g, e) == (0x7FE0, 0x0010) else None


def _expected_native_bytes(rows: int, cols: int, frames: int, spp: int, bits: int) -> int | None:
    if min(rows, cols, frames, spp, bits) <= 0:
        return None
    n = rows * cols * frames * spp
    return (n + 7) // 8 if bits == 1 else n * ((bits + 7) // 8)


class _FastGetter:
    """Attribute values of a :class:`FastHeader`, decoded by dictionary VR."""

    def __init__(self, fast: FastHeader) -> None:
        self._fast = fast
        cs = fast.values.get(WANTED["SpecificCharacterSet"][0], b"")
        self._charset = cs.decode("ascii", "replace")

    def __call__(self, keyword: str) -> Any:
        tag, vr = WANTED[keyword]
        raw = self._fast.values.get(tag)
        return None if raw is None else decode(raw, vr, self._charset)

    def meta(self, keyword: str) -> Any:
        raw = self._fast.meta.get(_META_TAGS[keyword])
        return None if raw is None else decode(raw, "UI")


@dataclass(frozen=True, slots=True)
class _Source:
    """Where the values come from: a getter by keyword, file meta, and the Pixel Data position."""

    get: Callable[[str], Any]
    meta: Callable[[str], Any]
    pixel_pos: int | None
    little_endian: bool
    implicit: bool
    dataset: Any = None  # the pydicom dataset, needed for functional groups only


def _build(path: Path, sha: str | None, src: _Source, fp: BinaryIO, size: int) -> Header:
    get = src.get
    tsx = as_uid(src.meta("TransferSyntaxUID"))
    sop_class = as_uid(get("SOPClassUID")) or as_uid(src.meta("MediaStorageSOPClassUID"))
    sop_inst = as_uid(get("SOPInstanceUID")) or as_uid(src.meta("MediaStorageSOPInstanceUID"))
    rows = as_int(get("Rows")) or 0
    cols = as_int(get("Columns")) or 0
    raw_frames = get("NumberOfFrames")
    frames = as_int(raw_frames) if raw_frames not in (None, "") else 1
    spp = as_int(get("SamplesPerPixel")) or 1
    bits = as_int(get("BitsAllocated")) or 0
    problem: str | None = None
    if frames is None or frames < 1:
        problem = f"NumberOfFrames {as_str(raw_frames)!r} is not a positive integer"
        frames = 1
    has_pixels = tsx == _DEFLATED  # deflated data cannot be checked in place: assume present
    native_pixels: tuple[int, int] | None = None
    if tsx != _DEFLATED and src.pixel_pos is not None:
        native = (
            tsx not in ("",)
            and not tsx.startswith("1.2.840.10008.1.2.4")
            and tsx != ("1.2.840.10008.1.2.5")
        )
        expected = _expected_native_bytes(rows, cols, frames, spp, bits) if native else None
        frame_bytes = expected // frames if expected else 0
        has_pixels, pix_problem, extent = _pixel_check(
            fp, src.pixel_pos, size, src.little_endian, src.implicit, expected, frame_bytes
        )
        if native and src.little_endian and tsx != "1.2.840.10008.1.2.2":
            native_pixels = extent
        problem = problem or pix_problem
    if has_pixels and not tsx:
        problem = problem or "the file meta has no TransferSyntaxUID"
    image_type = tuple(as_str(get("ImageType")).upper().split("\\")) if get("ImageType") else ()
    agent = get("ContrastBolusAgent")
    if agent is None and get("ContrastBolusAgentSequence"):
        agent = "APPLIED"
    groups = src.dataset is not None and (
        get("SharedFunctionalGroupsSequence") is not None
        or get("PerFrameFunctionalGroupsSequence") is not None
    )
    multiframe = frames > 1 or groups
    if multiframe and src.dataset is None:
        raise _NeedsPydicom
    geoms = frame_geometries(src.dataset, frames) if multiframe else (FrameGeom.from_dataset(get),)
    return Header(
        path=path,
        sha256=sha,
        transfer_syntax=tsx,
        sop_class_uid=sop_class,
        sop_instance_uid=sop_inst,
        series_uid=as_uid(get("SeriesInstanceUID")),
        study_uid=as_uid(get("StudyInstanceUID")),
        frame_of_reference_uid=as_uid(get("FrameOfReferenceUID")),
        modality=as_str(get("Modality")).upper(),
        series_description=as_str(get("SeriesDescription")),
        series_number=as_int(get("SeriesNumber")),
        instance_number=as_int(get("InstanceNumber")),
        image_type=image_type,
        acquisition_time=as_datetime(
            get("AcquisitionDate") or get("SeriesDate") or get("StudyDate"),
            get("AcquisitionTime") or get("SeriesTime") or get("ContentTime"),
            get("AcquisitionDateTime"),
        ),
        contrast_agent=None if agent is None else as_str(agent),
        contrast_route=as_str(get("ContrastBolusRoute")),
        contrast_start_s=tm_seconds(get("ContrastBolusStartTime")),
        acquisition_s=tm_seconds(get("AcquisitionTime") or get("SeriesTime")),
        rows=rows,
        columns=cols,
        frames=frames,
        samples_per_pixel=spp,
        bits_allocated=bits,
        bits_stored=as_int(get("BitsStored")) or bits,
        pixel_representation=as_int(get("PixelRepresentation")) or 0,
        photometric=as_str(get("PhotometricInterpretation")).upper(),
        has_pixels=has_pixels,
        native_pixels=native_pixels,
        pixel_problem=problem,
        slice_thickness=as_float(get("SliceThickness")),
        spacing_between_slices=as_float(get("SpacingBetweenSlices")),
        gantry_tilt=as_float(get("GantryDetectorTilt")),
        multiframe=multiframe,
        frame_geoms=geoms,
    )


def _clean(text: str, path: Path) -> str:
    """One line, with the full path of the file reduced to its name (messages never show paths)."""
    return " ".join(text.replace(str(path), path.name).split())


def _corrupt(path: Path, exc: BaseException) -> CorruptFileError:
    return CorruptFileError(
        f"file {path.name!r} is DICOM but its header cannot be read ({type(exc).__name__}: "
        f"{_clean(str(exc), path)[:120]}); expected a complete DICOM file"
    )


class _NeedsPydicom(Exception):
    """Internal: the fast scanner's result is not enough (multi-frame); parse with pydicom."""


def truncated_error(path: Path, exc: Truncated) -> CorruptFileError:
    """Return the error for a Part 10 file that ends inside an element."""
    return CorruptFileError(
        f"file {path.name!r} ends inside a data element (its {exc}; truncated); expected a "
        "complete DICOM file"
    )


def _fast(path: Path, mm: mmap.mmap, sha: str | None, size: int) -> Header | None:
    try:
        fast = scan_strict(mm)
    except Truncated as exc:
        raise truncated_error(path, exc) from exc
    if fast is None:
        return None
    getter = _FastGetter(fast)
    src = _Source(getter, getter.meta, fast.pixel_offset, True, fast.implicit)
    try:
        return _build(path, sha, src, mm, size)  # type: ignore[arg-type]
    except Exception:  # multi-frame, or anything odd: the pydicom path decides
        return None


def _slow(path: Path, fh: BinaryIO, sha: str | None, size: int, is_part10: bool) -> Header | None:
    from dicomio import _pydicom_header as ph  # imported only when needed (slow import)

    fh.seek(0)
    try:
        ds = ph.parse(fh, force=not is_part10)
    except ph.InvalidDicomError:
        return None
    except Exception as exc:  # pydicom raises many types on malformed data
        if not is_part10:
            return None
        raise _corrupt(path, exc) from exc
    if is_part10 and len(ds) == 0:
        raise CorruptFileError(
            f"file {path.name!r} ends within its file meta header (truncated); expected a "
            "complete DICOM file"
        )
    getter = ph.Getter(ds)
    src = _Source(getter, getter.meta, fh.tell(), getter.little_endian, getter.implicit, ds)
    try:
        with warnings.catch_warnings():  # pydicom converts values lazily, warning on odd ones
            warnings.filterwarnings("ignore", category=UserWarning)
            return _build(path, sha, src, fh, size)
    except Exception as exc:
        if not is_part10:
            return None
        raise _corrupt(path, exc) from exc


def read_header(path: Path, *, hash_file: bool = False) -> Header | None:
    """Read one file's header; ``None`` when the file is not DICOM.

    Parameters
    ----------
    path
        The file.
    hash_file
        Also compute the SHA-256 of the whole file (from the same memory map).

    Raises
    ------
    CorruptFileError
        The file starts like DICOM (``DICM`` prefix) but its header cannot be parsed, an element
        runs past the end of the file (truncated), or it has no SOP Class UID.
    OSError
        The file cannot be opened.
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            return None
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            head = bytes(mm[:132])
            is_part10 = head[128:132] == b"DICM"
            if not is_part10 and not _looks_like_raw_dataset(head):
                return None
            sha = hashlib.sha256(mm).hexdigest() if hash_file else None
            header = _fast(path, mm, sha, size) if is_part10 else None
        if header is None:
            header = _slow(path, fh, sha, size, is_part10)
    if header is None:
        return None
    if not header.sop_class_uid:
        if not is_part10:
            return None
        raise CorruptFileError(
            f"file {path.name!r} has no SOP Class UID (neither in the dataset nor in its file "
            "meta); expected a DICOM instance"
        )
    return header
