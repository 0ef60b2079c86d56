"""The identifying attributes of one stored DICOM instance (no pixels, no patient data)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dicomio._headers import read_header
from dicomio.errors import NotDicomError
from dicomio.model import Phase
from dicomio.phase import PhaseClues, classify_phase

__all__ = ["InstanceHeader", "read_instance_header"]


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


def read_instance_header(path: Path) -> InstanceHeader:
    """Read one file's identifying header (fast path; pydicom only for unusual encodings).

    Raises
    ------
    NotDicomError
        The file is not DICOM.
    CorruptFileError
        The file starts like DICOM but its header cannot be parsed.
    """
    header = read_header(path)
    if header is None:
        raise NotDicomError(
            f"{path.name} is not a DICOM file; expected a DICOM Part 10 file (preamble, 'DICM')"
        )
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
