"""Read what we need of one DICOM file's header, fast, without decoding pixels.

One pass per file: the bytes are read once, hashed (SHA-256) and parsed with
``stop_before_pixels`` and ``specific_tags``. The Pixel Data element is then checked without
decoding it: native data must be as long as Rows x Columns x Frames x BitsAllocated says, and
encapsulated data must reach its sequence delimiter. A truncated file is therefore caught on the
header-only path too.

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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.tag import Tag

from dicomio._multiframe import FrameGeom, frame_geometries
from dicomio._values import as_datetime, as_float, as_int, as_str, as_uid, tm_seconds
from dicomio.errors import CorruptFileError

__all__ = ["Header", "read_header", "sha256_path"]

logger = logging.getLogger(__name__)

_DEFLATED = "1.2.840.10008.1.2.1.99"
_PIXEL_TAGS = {(0x7FE0, 0x0010), (0x7FE0, 0x0008), (0x7FE0, 0x0009)}

_KEYWORDS = [
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "FrameOfReferenceUID",
    "Modality",
    "SeriesDescription",
    "SeriesNumber",
    "InstanceNumber",
    "ImageType",
    "AcquisitionDate",
    "AcquisitionTime",
    "AcquisitionDateTime",
    "SeriesDate",
    "SeriesTime",
    "ContentDate",
    "ContentTime",
    "StudyDate",
    "ContrastBolusAgent",
    "ContrastBolusRoute",
    "ContrastBolusStartTime",
    "ContrastBolusAgentSequence",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "SamplesPerPixel",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "PhotometricInterpretation",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "SpacingBetweenSlices",
    "GantryDetectorTilt",
    "RescaleSlope",
    "RescaleIntercept",
    "SharedFunctionalGroupsSequence",
    "PerFrameFunctionalGroupsSequence",
    "SpecificCharacterSet",
]
#: The tags read from each header, converted once (pydicom converts keywords on every read).
TAGS = [Tag(k) for k in _KEYWORDS]


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
    """A file without preamble/meta that starts with a group 0x0008 or 0x0002 element."""
    return head[:2] in (b"\x08\x00", b"\x02\x00")


def _parse(fp: BinaryIO, force: bool) -> Any:
    return pydicom.dcmread(fp, stop_before_pixels=True, force=force, specific_tags=TAGS)


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
    fp: BinaryIO, size: int, ds: Any, expected_bytes: int | None
) -> tuple[bool, str | None]:
    """Whether Pixel Data follows the header, and what is wrong with it (``None`` if fine)."""
    pos = fp.tell()
    fp.seek(pos)
    head = fp.read(12)
    if len(head) < 8:
        return False, None
    little = bool(getattr(ds, "is_little_endian", True))
    implicit = bool(getattr(ds, "is_implicit_VR", False))
    g, e = struct.unpack("<HH" if little else ">HH", head[:4])
    if (g, e) not in _PIXEL_TAGS:
        return False, None
    if implicit:
        (length,) = struct.unpack("<L" if little else ">L", head[4:8])
        start = pos + 8
    else:
        (length,) = struct.unpack("<L" if little else ">L", head[8:12])
        start = pos + 12
    if length == 0xFFFFFFFF:
        return True, _walk_encapsulated(fp, start, size, little)
    if start + length > size:
        return True, f"the file ends {start + length - size} bytes before its pixel data does"
    if expected_bytes is not None and length < expected_bytes:
        return True, f"the pixel data is {length} bytes, expected {expected_bytes}"
    return True, None


def _expected_native_bytes(rows: int, cols: int, frames: int, spp: int, bits: int) -> int | None:
    if min(rows, cols, frames, spp, bits) <= 0:
        return None
    n = rows * cols * frames * spp
    return (n + 7) // 8 if bits == 1 else n * ((bits + 7) // 8)


def _build(path: Path, sha: str | None, ds: Any, fp: BinaryIO, size: int) -> Header:
    meta = getattr(ds, "file_meta", None)
    tsx = as_uid(meta.get("TransferSyntaxUID")) if meta is not None else ""
    sop_class = as_uid(ds.get("SOPClassUID")) or (
        as_uid(meta.get("MediaStorageSOPClassUID")) if meta is not None else ""
    )
    sop_inst = as_uid(ds.get("SOPInstanceUID")) or (
        as_uid(meta.get("MediaStorageSOPInstanceUID")) if meta is not None else ""
    )
    rows = as_int(ds.get("Rows")) or 0
    cols = as_int(ds.get("Columns")) or 0
    raw_frames = ds.get("NumberOfFrames")
    frames = as_int(raw_frames) if raw_frames not in (None, "") else 1
    spp = as_int(ds.get("SamplesPerPixel")) or 1
    bits = as_int(ds.get("BitsAllocated")) or 0
    problem: str | None = None
    if frames is None or frames < 1:
        problem = f"NumberOfFrames {as_str(raw_frames)!r} is not a positive integer"
        frames = 1
    has_pixels = True
    if tsx != _DEFLATED:
        native = (
            tsx not in ("",)
            and not tsx.startswith("1.2.840.10008.1.2.4")
            and tsx != ("1.2.840.10008.1.2.5")
        )
        expected = _expected_native_bytes(rows, cols, frames, spp, bits) if native else None
        has_pixels, pix_problem = _pixel_check(fp, size, ds, expected)
        problem = problem or pix_problem
    if has_pixels and not tsx:
        problem = problem or "the file meta has no TransferSyntaxUID"
    image_type = (
        tuple(as_str(ds.get("ImageType")).upper().split("\\")) if ds.get("ImageType") else ()
    )
    agent = ds.get("ContrastBolusAgent")
    if agent is None and ds.get("ContrastBolusAgentSequence"):
        agent = "APPLIED"
    multiframe = (
        frames > 1
        or "SharedFunctionalGroupsSequence" in ds
        or "PerFrameFunctionalGroupsSequence" in ds
    )
    geoms = frame_geometries(ds, frames) if multiframe else (FrameGeom.from_dataset(ds),)
    return Header(
        path=path,
        sha256=sha,
        transfer_syntax=tsx,
        sop_class_uid=sop_class,
        sop_instance_uid=sop_inst,
        series_uid=as_uid(ds.get("SeriesInstanceUID")),
        study_uid=as_uid(ds.get("StudyInstanceUID")),
        frame_of_reference_uid=as_uid(ds.get("FrameOfReferenceUID")),
        modality=as_str(ds.get("Modality")).upper(),
        series_description=as_str(ds.get("SeriesDescription")),
        series_number=as_int(ds.get("SeriesNumber")),
        instance_number=as_int(ds.get("InstanceNumber")),
        image_type=image_type,
        acquisition_time=as_datetime(
            ds.get("AcquisitionDate") or ds.get("SeriesDate") or ds.get("StudyDate"),
            ds.get("AcquisitionTime") or ds.get("SeriesTime") or ds.get("ContentTime"),
            ds.get("AcquisitionDateTime"),
        ),
        contrast_agent=None if agent is None else as_str(agent),
        contrast_route=as_str(ds.get("ContrastBolusRoute")),
        contrast_start_s=tm_seconds(ds.get("ContrastBolusStartTime")),
        acquisition_s=tm_seconds(ds.get("AcquisitionTime") or ds.get("SeriesTime")),
        rows=rows,
        columns=cols,
        frames=frames,
        samples_per_pixel=spp,
        bits_allocated=bits,
        bits_stored=as_int(ds.get("BitsStored")) or bits,
        pixel_representation=as_int(ds.get("PixelRepresentation")) or 0,
        photometric=as_str(ds.get("PhotometricInterpretation")).upper(),
        has_pixels=has_pixels,
        pixel_problem=problem,
        slice_thickness=as_float(ds.get("SliceThickness")),
        spacing_between_slices=as_float(ds.get("SpacingBetweenSlices")),
        gantry_tilt=as_float(ds.get("GantryDetectorTilt")),
        multiframe=multiframe,
        frame_geoms=geoms,
    )


def _corrupt(path: Path, exc: BaseException) -> CorruptFileError:
    return CorruptFileError(
        f"file {path.name!r} is DICOM but its header cannot be read ({type(exc).__name__}: "
        f"{str(exc)[:120]}); expected a complete DICOM file"
    )


def sha256_path(path: Path) -> str:
    """SHA-256 of a file through a memory map (no copy; the GIL is released while hashing)."""
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return hashlib.sha256(b"").hexdigest()
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return hashlib.sha256(mm).hexdigest()


def read_header(path: Path, *, sha256: str | None = None) -> Header | None:
    """Read one file's header; ``None`` when the file is not DICOM.

    ``sha256`` is stored as the file's digest (computed by the caller, possibly in a thread).

    Raises
    ------
    CorruptFileError
        The file starts like DICOM (``DICM`` prefix) but its header cannot be parsed.
    OSError
        The file cannot be opened.
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        head = fh.read(132)
        fh.seek(0)
        is_part10 = head[128:132] == b"DICM"
        if not is_part10 and not _looks_like_raw_dataset(head):
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = _parse(fh, force=not is_part10)
            except InvalidDicomError:
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
            try:
                header = _build(path, sha256, ds, fh, size)
            except Exception as exc:
                if not is_part10:
                    return None
                raise _corrupt(path, exc) from exc
    if not header.sop_class_uid:
        if not is_part10:
            return None
        raise CorruptFileError(
            f"file {path.name!r} has no SOP Class UID (neither in the dataset nor in its file "
            "meta); expected a DICOM instance"
        )
    return header
