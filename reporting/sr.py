"""DICOM Structured Report (TID 1500 Measurement Report) of one measurement, with highdicom.

Content of the report (Comprehensive 3D SR, PS3.3 A.35.13):

- One **planar ROI measurement group** (TID 1410) per lesion: tracking identifier (the lesion id,
  ``"L1"``, and a Tracking Unique Identifier that stays the same across timepoints when the
  caller supplies it), finding type Lesion (SCT 52988006), finding site Liver (SCT 10200004;
  only when the measurement has a liver), the image region = the long axis as an SCOORD3D
  POLYLINE in patient coordinates (LPS mm) on the frame of reference of the source series, and
  the measurements Long axis (SCT 103339001), Short axis (SCT 103340004), each with its own
  SCOORD3D line and the source slice it was measured on, and Volume (SCT 118565006, mL).
- One **measurement group** (TID 1501) "Liver": Volume of the total liver (mL).
- One **measurement group** "Hepatic tumor burden": hepatic tumour volume (mL) and the tumour
  burden fraction of the liver volume (%; private code TUMBURDN, see :mod:`reporting._codes`).
- When an assessment is given, one **measurement group** "RECIST 1.1 response" for the
  timepoint of this measurement: Response Evaluation Method = RECIST 1.1 (DCM 126081), the sum
  of diameters (mm), target and non-target responses (DICOM CID 6144 codes where they exist),
  new-lesion progression, and the overall and hepatic responses.
- Evidence: the whole source series (Current Requested Procedure Evidence Sequence); the Image
  Library lists the slices the lesions were measured on (single-frame sources).

Nothing is random (:mod:`reporting._identity`): a group's Tracking UID is the one supplied for
its tracking identifier (a lesion id, ``"Liver"``, ...) or is derived from ``uid_seed`` and that
identifier; the Series Instance UID, when not supplied, from ``uid_seed``; the SOP Instance UID,
when not supplied, from a hash of every input. With ``content_datetime`` fixed, the same inputs
give the same file, byte for byte.

References
----------
.. [1] DICOM PS3.16 TID 1500, TID 1410, TID 1501, TID 1502 (time point context).
.. [2] Herz C, et al. highdicom: a Python library for standardized encoding of image annotations
   and machine learning model outputs in pathology and radiology. J Digit Imaging 2022;35:1719.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reporting._geometry import (
    character_set,
    completed_sources,
    copied_header_warnings_ignored,
    source_frames,
)
from reporting._identity import derived_uid, input_key, stamp_creation
from reporting._parse import as_date
from reporting.errors import SourceImageError
from reporting.model import AssessmentSummary, MeasurementSummary

if TYPE_CHECKING:
    import highdicom as hd
    from pydicom import Dataset

__all__ = ["build_sr"]

logger = logging.getLogger(__name__)


def build_sr(
    measurement: Mapping[str, Any] | MeasurementSummary,
    source_images: Sequence[Dataset],
    *,
    assessment: Mapping[str, Any] | AssessmentSummary | None = None,
    timepoint_date: dt.date | str | None = None,
    time_point_label: str | None = None,
    lesion_uids: Mapping[str, str] | None = None,
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
    series_number: int = 901,
    instance_number: int = 1,
    manufacturer: str = "liverburden",
    uid_seed: str | None = None,
    content_datetime: dt.datetime | None = None,
) -> hd.sr.Comprehensive3DSR:
    """Build the TID 1500 measurement report of one measurement (see the module docstring).

    Parameters
    ----------
    measurement
        The measure JSON (contracts/measure.md), with each lesion's ``slice_index``,
        ``long_axis_endpoints_rc`` and ``short_axis_endpoints_rc``.
    source_images
        The measured series as pydicom datasets in slice order (the measurement's ``k``): one
        per slice, or one multi-frame image. Pixel data is not needed.
    assessment
        Optional assessment output (contracts/recist-assess.md) of the subject; the response of
        the timepoint ``timepoint_date`` is reported.
    timepoint_date
        Date of this measurement's timepoint in ``assessment``; defaults to the source images'
        StudyDate.
    time_point_label
        Time point (TID 1502) written in every group, e.g. ``"BASELINE"``; none when omitted.
    lesion_uids
        Tracking identifier (lesion id, ``"Liver"``, ``"Hepatic tumor burden"``, ``"RECIST 1.1
        response"``) -> Tracking Unique Identifier to reuse (same finding across timepoints);
        the others get a UID derived from ``uid_seed`` and the identifier.
    series_instance_uid, sop_instance_uid
        Default: derived from ``uid_seed``, and from a hash of every input, respectively.
    uid_seed
        Identity of the measurement (e.g. its id) from which the UIDs not supplied are derived;
        default: a hash of every input.
    content_datetime
        When the content was created (e.g. the measurement's creation time), written in UTC as
        Content and Instance Creation Date/Time; default: now. Fix it for a reproducible file.

    Returns
    -------
    highdicom.sr.Comprehensive3DSR
        The SR instance; ``.save_as(path)`` or ``dcmwrite`` it.

    Raises
    ------
    ReportingInputError
        The measurement or assessment is invalid, or does not belong to the source series.
    SourceImageError
        The source images are incomplete or out of slice order.
    """
    import highdicom as hd

    from reporting import _codes as codes
    from reporting import _sr_content as content

    m = (
        measurement
        if isinstance(measurement, MeasurementSummary)
        else (MeasurementSummary.from_json(measurement))
    )
    source_images = completed_sources(source_images)
    frames = source_frames(source_images)
    first = frames[0].dataset
    if m.series_instance_uid and m.series_instance_uid != str(first.SeriesInstanceUID):
        raise SourceImageError(
            "the source images belong to another series than the measurement; expected series "
            f"{m.series_instance_uid}"
        )
    summary: AssessmentSummary | None = None
    if isinstance(assessment, AssessmentSummary):
        summary = assessment
    elif assessment is not None:
        summary = AssessmentSummary.from_json(assessment)
    uids = dict(lesion_uids or {})
    key = input_key(
        "sr",
        repr(m),
        [(f.sop_instance_uid, f.frame_number) for f in frames],
        repr(summary),
        str(timepoint_date),
        time_point_label,
        uids,
        series_instance_uid,
        series_number,
        instance_number,
        manufacturer,
        uid_seed,
        None if content_datetime is None else content_datetime.isoformat(),
    )
    seed = uid_seed or key

    def tracking_uid(identifier: str) -> str:
        return uids.get(identifier) or derived_uid(seed, "tracking", identifier)

    time_point = hd.sr.TimePointContext(time_point_label) if time_point_label else None
    hepatic = m.liver_volume_ml is not None
    groups: list[Any] = [
        content.lesion_group(
            les, frames, tracking_uid(les.lesion_id), hepatic, m.algorithm_version, time_point
        )
        for les in m.lesions
    ]
    groups.extend(content.liver_groups(m, time_point, tracking_uid))
    if summary is not None:
        raw_date = timepoint_date if timepoint_date is not None else getattr(first, "StudyDate", "")
        date = as_date(
            raw_date
            if not isinstance(raw_date, str) or "-" in raw_date
            else f"{raw_date[:4]}-{raw_date[4:6]}-{raw_date[6:8]}",
            "timepoint_date",
        )
        groups.append(
            content.response_group(summary, date, time_point, m.algorithm_version, tracking_uid)
        )

    observer = hd.sr.ObserverContext(
        observer_type=hd.sr.CodedConcept("121007", "DCM", "Device"),
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=content.DEVICE_UID,
            name="liverburden",
            manufacturer_name=manufacturer,
            model_name=f"liverburden {m.algorithm_version}",
        ),
    )
    procedure = codes.MR_PROCEDURE if str(first.get("Modality", "")) == "MR" else codes.CT_PROCEDURE
    library = sorted({les.slice_index for les in m.lesions})
    # The Image Library (TID 1600) lists the measured slices; highdicom describes single-frame
    # images only, so a multi-frame source is referenced by the evidence and the measurements.
    multiframe = frames[0].frame_number is not None
    referenced = [] if multiframe else [frames[k].dataset for k in library]
    with copied_header_warnings_ignored():
        report = hd.sr.MeasurementReport(
            observation_context=hd.sr.ObservationContext(observer_device_context=observer),
            procedure_reported=procedure,
            imaging_measurements=groups,
            referenced_images=referenced or None,
        )
        evidence = [first] if multiframe else [f.dataset for f in frames]
        sr = hd.sr.Comprehensive3DSR(
            evidence=evidence,
            content=report,
            series_instance_uid=series_instance_uid or derived_uid(seed, "series"),
            series_number=series_number,
            sop_instance_uid=sop_instance_uid or derived_uid(key, "sop"),
            instance_number=instance_number,
            manufacturer=manufacturer,
            is_complete=True,
            is_final=True,
            series_description="liverburden measurement report",
            specific_character_set=character_set(first),
        )
    sr.CodingSchemeIdentificationSequence = [content.coding_scheme_identification()]
    sr.SoftwareVersions = m.algorithm_version
    if content_datetime is not None:
        stamp_creation(sr, content_datetime)
    logger.info("built SR with %d lesion groups", len(m.lesions))
    return sr
