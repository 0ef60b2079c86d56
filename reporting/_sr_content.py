"""The content items of the TID 1500 report that :func:`reporting.sr.build_sr` assembles.

Kept apart from :mod:`reporting.sr` so that importing the reporting package does not load
highdicom (about half a second); ``build_sr`` imports this module when it runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import highdicom as hd
import numpy as np
from pydicom import Dataset
from pydicom.uid import generate_uid

from reporting import _codes as codes
from reporting._geometry import SourceFrame
from reporting.errors import ReportingInputError, SourceImageError
from reporting.model import AssessmentSummary, LesionMeasurement, MeasurementSummary

DEVICE_UID = str(generate_uid(entropy_srcs=["liverburden", "measurement device"]))

#: Tracking identifier -> its Tracking UID (supplied or derived).
_TrackingUid = Callable[[str], str]


def _algorithm(version: str) -> hd.sr.AlgorithmIdentification:
    return hd.sr.AlgorithmIdentification(name="liverburden", version=version)


def _line(frame: SourceFrame, points_rc: Any) -> np.ndarray:
    return np.asarray(frame.rc_to_lps(np.asarray(points_rc, dtype=np.float64)), dtype=np.float64)


def _source_image(frame: SourceFrame) -> hd.sr.SourceImageForMeasurement:
    return hd.sr.SourceImageForMeasurement(
        referenced_sop_class_uid=frame.sop_class_uid,
        referenced_sop_instance_uid=frame.sop_instance_uid,
        referenced_frame_numbers=None if frame.frame_number is None else [frame.frame_number],
    )


def _axis_measurement(
    name: hd.sr.CodedConcept, value_mm: float, frame: SourceFrame, version: str
) -> hd.sr.Measurement:
    return hd.sr.Measurement(
        name=name,
        value=value_mm,
        unit=codes.MM,
        algorithm_id=_algorithm(version),
        referenced_images=[_source_image(frame)],
    )


def lesion_group(
    lesion: LesionMeasurement,
    frames: Sequence[SourceFrame],
    tracking_uid: str,
    hepatic: bool,
    version: str,
    time_point: hd.sr.TimePointContext | None,
) -> hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations:
    if lesion.slice_index >= len(frames):
        raise SourceImageError(
            f"lesion {lesion.lesion_id} lies on slice {lesion.slice_index} but the source series "
            f"has {len(frames)} slices; expected the series the measurement was made on"
        )
    frame = frames[lesion.slice_index]
    if lesion.long_axis_endpoints_rc is None:
        raise ReportingInputError(
            f"lesion {lesion.lesion_id}: long_axis_endpoints_rc is missing; the SR image region "
            "needs the long axis endpoints"
        )
    region = hd.sr.ImageRegion3D(
        graphic_type=hd.sr.GraphicTypeValues3D.POLYLINE,
        graphic_data=_line(frame, lesion.long_axis_endpoints_rc),
        frame_of_reference_uid=frame.frame_of_reference_uid,
    )
    measurements = [
        _axis_measurement(codes.LONG_AXIS, lesion.long_axis_mm, frame, version),
        _axis_measurement(codes.SHORT_AXIS, lesion.short_axis_mm, frame, version),
        hd.sr.Measurement(
            name=codes.VOLUME,
            value=lesion.volume_ml,
            unit=codes.ML,
            algorithm_id=_algorithm(version),
        ),
    ]
    return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=tracking_uid, identifier=lesion.lesion_id),
        referenced_region=region,
        time_point_context=time_point,
        finding_type=codes.LESION,
        finding_sites=[hd.sr.FindingSite(codes.LIVER)] if hepatic else None,
        algorithm_id=_algorithm(version),
        measurements=measurements,
    )


def _tracking(identifier: str, tracking_uid: _TrackingUid) -> hd.sr.TrackingIdentifier:
    return hd.sr.TrackingIdentifier(uid=tracking_uid(identifier), identifier=identifier)


def liver_groups(
    m: MeasurementSummary,
    time_point: hd.sr.TimePointContext | None,
    tracking_uid: _TrackingUid,
) -> list[hd.sr.MeasurementsAndQualitativeEvaluations]:
    if m.liver_volume_ml is None:
        return []
    liver = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking("Liver", tracking_uid),
        time_point_context=time_point,
        finding_type=codes.LIVER,
        algorithm_id=_algorithm(m.algorithm_version),
        measurements=[hd.sr.Measurement(codes.VOLUME, m.liver_volume_ml, codes.ML)],
    )
    burden_measurements = [hd.sr.Measurement(codes.VOLUME, m.tumor_volume_ml, codes.ML)]
    if m.burden_fraction is not None:
        burden_measurements.append(
            hd.sr.Measurement(codes.BURDEN_FRACTION, 100.0 * m.burden_fraction, codes.PERCENT)
        )
    burden = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking("Hepatic tumor burden", tracking_uid),
        time_point_context=time_point,
        finding_type=codes.NEOPLASM,
        finding_sites=[hd.sr.FindingSite(codes.LIVER)],
        algorithm_id=_algorithm(m.algorithm_version),
        measurements=burden_measurements,
    )
    return [liver, burden]


def response_group(
    assessment: AssessmentSummary,
    date: dt.date,
    time_point: hd.sr.TimePointContext | None,
    version: str,
    tracking_uid: _TrackingUid,
) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    tp = assessment.timepoint(date)
    if tp is None:
        raise ReportingInputError(
            f"the assessment has no timepoint dated {date.isoformat()}; expected one of "
            + ", ".join(t.date.isoformat() for t in assessment.timepoints)
        )
    evaluations = [hd.sr.QualitativeEvaluation(codes.RESPONSE_METHOD, codes.RECIST_1_1)]
    pairs = (
        (codes.TARGET_RESPONSE, codes.TARGET_RESPONSE_CODES, tp.target_response),
        (codes.NON_TARGET_RESPONSE, codes.NON_TARGET_RESPONSE_CODES, tp.non_target_response),
        (codes.OVERALL_RESPONSE, codes.OVERALL_RESPONSE_CODES, tp.overall_response),
        (codes.HEPATIC_RESPONSE, codes.OVERALL_RESPONSE_CODES, tp.hepatic_response),
    )
    for name, table, value in pairs:
        if value is not None:
            evaluations.append(hd.sr.QualitativeEvaluation(name, table[value]))
    if not tp.baseline:
        evaluations.append(
            hd.sr.QualitativeEvaluation(
                codes.NEW_LESION_PROGRESSION, codes.YES if tp.new_lesions else codes.NO
            )
        )
    measurements = []
    if tp.sum_mm is not None:
        measurements.append(hd.sr.Measurement(codes.SUM_OF_DIAMETERS, tp.sum_mm, codes.MM))
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking("RECIST 1.1 response", tracking_uid),
        time_point_context=time_point,
        algorithm_id=_algorithm(version),
        measurements=measurements or None,
        qualitative_evaluations=evaluations,
    )


def coding_scheme_identification() -> Dataset:
    item = Dataset()
    item.CodingSchemeDesignator = codes.PRIVATE_SCHEME
    item.CodingSchemeName = codes.PRIVATE_SCHEME_NAME
    item.CodingSchemeResponsibleOrganization = "liverburden core lab"
    return item
