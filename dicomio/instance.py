"""The identifying attributes of one stored DICOM instance (no pixels, no patient data).

:func:`read_instance_header` reads a file on disk (fast scanner); :func:`read_instance_header_from`
reads an open binary file, as an upload or a STOW-RS part arrives, through pydicom.

References
----------
DICOM PS3.10 section 7.1 (Part 10 file format: preamble, ``DICM``, file meta information).
DICOM PS3.3 Annex F (Basic Directory IOD: the DICOMDIR, SOP Class 1.2.840.10008.1.3.10).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from dicomio._headers import read_header
from dicomio.errors import CorruptFileError, NotDicomError
from dicomio.model import Phase
from dicomio.phase import PhaseClues, classify_phase

__all__ = [
    "PART10_PREFIX",
    "InstanceHeader",
    "lacks_preamble",
    "read_instance_header",
    "read_instance_header_from",
]

#: What a Part 10 file starts with: a 128-byte preamble (zeros here) and the prefix ``DICM``.
PART10_PREFIX = b"\x00" * 128 + b"DICM"
_META_GROUP = b"\x02\x00"  # group 0002 (file meta information), little endian
_MEDIA_DIRECTORY = "1.2.840.10008.1.3.10"


@dataclass(frozen=True, slots=True)
class InstanceHeader:
    """UIDs, modality and contrast phase of one instance, as an archive indexes it."""

    sop_instance_uid: str
    sop_class_uid: str
    series_instance_uid: str
    study_instance_uid: str
    modality: str
    instance_number: int | None
    phase: Phase


def read_instance_header(path: Path, *, require_complete: bool = False) -> InstanceHeader:
    """Read one file's identifying header (fast path; pydicom only for unusual encodings).

    Parameters
    ----------
    path
        The file.
    require_complete
        Also refuse a file whose Pixel Data is truncated or does not match its header (checked
        from the element lengths, without decoding), as an archive must before it stores it.

    Raises
    ------
    NotDicomError
        The file is not DICOM.
    CorruptFileError
        The file starts like DICOM but its header cannot be parsed, an element runs past the end
        of the file; with ``require_complete``, its pixel data is incomplete.
    """
    header = read_header(path)
    if header is None:
        raise NotDicomError(
            f"{path.name} is not a DICOM file; expected a DICOM Part 10 file (preamble, 'DICM')"
        )
    if require_complete and header.pixel_problem:
        raise CorruptFileError(f"{path.name}: {header.pixel_problem}; expected complete pixel data")
    delay = (
        None
        if header.contrast_start_s is None or header.acquisition_s is None
        else header.acquisition_s - header.contrast_start_s
    )
    phase = classify_phase(
        PhaseClues(
            description=header.series_description,
            contrast_agent=header.contrast_agent,
            contrast_route=header.contrast_route,
            contrast_delay_s=delay,
        )
    )
    return InstanceHeader(
        sop_instance_uid=header.sop_instance_uid,
        sop_class_uid=header.sop_class_uid,
        series_instance_uid=header.series_uid,
        study_instance_uid=header.study_uid,
        modality=header.modality,
        instance_number=header.instance_number,
        phase=phase,
    )


def lacks_preamble(head: bytes) -> bool:
    """Whether a file starts with its file meta information but without preamble and ``DICM``.

    What ``pydicom.dcmwrite`` writes for a dataset built in memory; prefix such a file with
    :data:`PART10_PREFIX` to make it a Part 10 file.

    Parameters
    ----------
    head
        The file's first 132 bytes (fewer when the file is shorter).
    """
    return head[128:132] != b"DICM" and head[:2] == _META_GROUP


def _seconds(value: object) -> float | None:
    from pydicom.valuerep import TM

    try:
        t = TM(str(value)) if value not in (None, "") else None
    except ValueError:
        return None
    if t is None:
        return None
    return t.hour * 3600.0 + t.minute * 60.0 + t.second + t.microsecond / 1e6


def _phase(ds: Any) -> Phase:
    """Return the contrast phase by rules 1-3 of :mod:`dicomio.phase` (description, agent, time)."""
    agent = ds.get("ContrastBolusAgent")
    start = _seconds(ds.get("ContrastBolusStartTime"))
    acquired = _seconds(ds.get("AcquisitionTime"))
    clues = PhaseClues(
        description=str(ds.get("SeriesDescription", "") or ""),
        contrast_agent=None if agent is None else str(agent),
        contrast_route=str(ds.get("ContrastBolusRoute", "") or ""),
        contrast_delay_s=None if start is None or acquired is None else acquired - start,
    )
    return classify_phase(clues)


def _text(ds: Any, keyword: str) -> str:
    return str(ds.get(keyword, "") or "").strip()


def read_instance_header_from(fp: IO[bytes], name: str = "file") -> InstanceHeader:
    """Read the identifying header of a Part 10 file open for reading (no pixel data).

    The UIDs are returned as found (stripped, possibly empty or malformed): whether they are
    acceptable is the caller's policy. The file position is left after the header.

    Parameters
    ----------
    fp
        A binary file positioned at the start of a Part 10 file.
    name
        A display name for error messages (a file name, never a full path).

    Returns
    -------
    InstanceHeader
        UIDs, modality, instance number and contrast phase.

    Raises
    ------
    NotDicomError
        Not a DICOM Part 10 file, or a DICOMDIR index instead of an instance.
    CorruptFileError
        The header cannot be parsed, or one of the values read is malformed.
    """
    # pydicom is imported here, not at module import: the measurement's hot path imports dicomio
    # and reads headers with the fast scanner, and pays for pydicom only when it needs it.
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # odd-but-readable headers are not our concern here
            ds = pydicom.dcmread(fp, stop_before_pixels=True)
    except InvalidDicomError as exc:
        raise NotDicomError(
            f"{name} is not a DICOM file; expected a DICOM Part 10 file (128-byte preamble, 'DICM')"
        ) from exc
    except Exception as exc:
        raise CorruptFileError(f"{name}: unreadable DICOM header ({type(exc).__name__})") from exc
    sop_class = str(
        ds.get("SOPClassUID", "") or getattr(ds.file_meta, "MediaStorageSOPClassUID", "")
    )
    if sop_class == _MEDIA_DIRECTORY:
        raise NotDicomError(f"{name} is a DICOMDIR index, not an instance; send the instances")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            number = ds.get("InstanceNumber")
            return InstanceHeader(
                sop_instance_uid=_text(ds, "SOPInstanceUID"),
                sop_class_uid=sop_class,
                series_instance_uid=_text(ds, "SeriesInstanceUID"),
                study_instance_uid=_text(ds, "StudyInstanceUID"),
                modality=str(ds.get("Modality", "") or "")[:16],
                instance_number=int(number) if number not in (None, "") else None,
                phase=_phase(ds),
            )
    except (ValueError, TypeError, OverflowError) as exc:
        raise CorruptFileError(
            f"{name}: malformed value in the DICOM header ({type(exc).__name__}); expected "
            "values of the VR of each attribute (DICOM PS3.5 section 6.2)"
        ) from exc
