"""DICOM SR TID 1500: written with highdicom, read back with highdicom, values equal."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.sr.codedict import codes

import recist
from reporting import ReportingInputError, SourceImageError, build_sr
from tests.conftest import SHARED_DATA
from tests.reporting._ct import TinyCT, assessment_input, make_tiny_ct

LONG = codes.SCT.LongAxis
SHORT = codes.SCT.ShortAxis
VOLUME = codes.SCT.Volume


def _roundtrip(sr: hd.sr.Comprehensive3DSR) -> hd.sr.Comprehensive3DSR:
    buf = io.BytesIO()
    sr.save_as(buf)
    return hd.sr.srread(io.BytesIO(buf.getvalue()))


def _value(group: hd.sr.MeasurementsAndQualitativeEvaluations, name: object) -> float:
    (measurement,) = group.get_measurements(name=name)
    return float(measurement.value)


def test_lesion_groups_read_back_with_equal_values(tiny_ct: TinyCT) -> None:
    """Each lesion is one planar ROI group whose long axis, short axis and volume equal the JSON."""
    sr = _roundtrip(build_sr(tiny_ct.measurement, tiny_ct.datasets))
    groups = sr.content.get_planar_roi_measurement_groups()
    lesions = tiny_ct.measurement["lesions"]
    assert [g.tracking_identifier for g in groups] == [les["lesion_id"] for les in lesions]
    for group, lesion in zip(groups, lesions, strict=True):
        assert _value(group, LONG) == pytest.approx(lesion["long_axis_mm"], abs=1e-9)
        assert _value(group, SHORT) == pytest.approx(lesion["short_axis_mm"], abs=1e-9)
        assert _value(group, VOLUME) == pytest.approx(lesion["volume_ml"], abs=1e-9)
        (long_axis,) = group.get_measurements(name=LONG)
        assert long_axis.unit.value == "mm"
        assert group.get_measurements(name=VOLUME)[0].unit.value == "ml"
        assert group.finding_type.value == "52988006"
        assert [site.value.value for site in group.finding_sites] == ["10200004"]


def test_image_region_is_the_long_axis_in_patient_coordinates(tiny_ct: TinyCT) -> None:
    """The region is a 2-point SCOORD3D POLYLINE at the LPS positions of the long-axis endpoints."""
    sr = _roundtrip(build_sr(tiny_ct.measurement, tiny_ct.datasets))
    frame_uid = tiny_ct.datasets[0].FrameOfReferenceUID
    for group, lesion in zip(
        sr.content.get_planar_roi_measurement_groups(), tiny_ct.measurement["lesions"], strict=True
    ):
        assert group.roi.graphic_type == hd.sr.GraphicTypeValues3D.POLYLINE
        assert group.roi.frame_of_reference_uid == frame_uid
        k = lesion["slice_index"]
        expected = np.array([[k, r, c] for r, c in lesion["long_axis_endpoints_rc"]], float)
        lps = expected @ tiny_ct.affine[:3, :3].T + tiny_ct.affine[:3, 3]
        np.testing.assert_allclose(group.roi.value, lps, atol=1e-3)
        length = float(np.linalg.norm(lps[1] - lps[0]))
        assert length == pytest.approx(lesion["long_axis_mm"], abs=1e-6)


def test_oblique_series_maps_endpoints_through_the_orientation() -> None:
    """On an oblique series the polyline follows the slice's orientation, and keeps its length."""
    c = np.cos(np.radians(30.0))
    s = np.sin(np.radians(30.0))
    ct = make_tiny_ct(row_dir=(c, s, 0.0), col_dir=(0.0, 0.0, -1.0), seed="oblique")
    sr = _roundtrip(build_sr(ct.measurement, ct.datasets))
    for group, lesion in zip(
        sr.content.get_planar_roi_measurement_groups(), ct.measurement["lesions"], strict=True
    ):
        k = lesion["slice_index"]
        idx = np.array([[k, r, cc] for r, cc in lesion["long_axis_endpoints_rc"]], float)
        np.testing.assert_allclose(
            group.roi.value, idx @ ct.affine[:3, :3].T + ct.affine[:3, 3], atol=1e-3
        )
        assert float(np.linalg.norm(np.diff(group.roi.value, axis=0))) == pytest.approx(
            lesion["long_axis_mm"], abs=1e-3
        )


def test_tracking_uid_is_reused_across_timepoints(tiny_ct: TinyCT) -> None:
    """A supplied lesion UID is the Tracking UID in every report; others derive from the seed."""
    uids = {"L1": "1.2.826.0.1.3680043.8.498.1"}
    first = _roundtrip(
        build_sr(tiny_ct.measurement, tiny_ct.datasets, lesion_uids=uids, uid_seed="m-1")
    )
    second = _roundtrip(
        build_sr(tiny_ct.measurement, tiny_ct.datasets, lesion_uids=uids, uid_seed="m-2")
    )
    a = {
        g.tracking_identifier: g.tracking_uid
        for g in first.content.get_planar_roi_measurement_groups()
    }
    b = {
        g.tracking_identifier: g.tracking_uid
        for g in second.content.get_planar_roi_measurement_groups()
    }
    assert a["L1"] == b["L1"] == uids["L1"]
    assert a["L2"] != b["L2"]
    found = first.content.get_planar_roi_measurement_groups(tracking_uid=uids["L1"])
    assert [g.tracking_identifier for g in found] == ["L1"]


def test_liver_volume_and_burden_groups(tiny_ct: TinyCT) -> None:
    """Liver volume (mL) and the burden group (tumour volume, fraction in %) equal the JSON."""
    m = tiny_ct.measurement
    sr = _roundtrip(build_sr(m, tiny_ct.datasets))
    groups = {g.tracking_identifier: g for g in sr.content.get_image_measurement_groups()}
    assert _value(groups["Liver"], VOLUME) == pytest.approx(m["liver_volume_ml"], abs=1e-9)
    burden = groups["Hepatic tumor burden"]
    assert _value(burden, VOLUME) == pytest.approx(m["tumor_volume_ml"], abs=1e-9)
    fraction = hd.sr.CodedConcept("TUMBURDN", "99LVBRDN", "Tumor Burden Fraction of Liver Volume")
    assert _value(burden, fraction) == pytest.approx(100 * m["burden_fraction"], abs=1e-9)
    (measurement,) = burden.get_measurements(name=fraction)
    assert measurement.unit.value == "%"
    assert sr.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == "99LVBRDN"


def test_no_liver_means_no_liver_groups_and_no_finding_site(tiny_ct: TinyCT) -> None:
    """With ``--liver-label none`` the report has lesions of unknown site and no liver figures."""
    m = copy.deepcopy(tiny_ct.measurement)
    m["liver_volume_ml"] = None
    m["burden_fraction"] = None
    sr = _roundtrip(build_sr(m, tiny_ct.datasets))
    assert sr.content.get_image_measurement_groups() == []
    assert all(not g.finding_sites for g in sr.content.get_planar_roi_measurement_groups())


@pytest.mark.parametrize(
    ("index", "target", "overall", "new"),
    [(1, "112042", "PR", "373067005"), (2, "112043", "PD", "373067005")],
    ids=["follow-up-PR", "follow-up-PD"],
)
def test_recist_response_group_has_the_timepoint_codes(
    tiny_ct: TinyCT, index: int, target: str, overall: str, new: str
) -> None:
    """The response group carries RECIST 1.1, the sum and the DICOM/private response codes."""
    data = assessment_input()
    assessment = recist.assess(data)
    tp = assessment["timepoints"][index]
    sr = _roundtrip(
        build_sr(
            tiny_ct.measurement,
            tiny_ct.datasets,
            assessment=assessment,
            timepoint_date=tp["date"],
            time_point_label="FOLLOW-UP",
        )
    )
    groups = {g.tracking_identifier: g for g in sr.content.get_image_measurement_groups()}
    response = groups["RECIST 1.1 response"]
    evaluations = {q.name.value: q.value for q in response.get_qualitative_evaluations()}
    assert evaluations["112021"].value == "126081"  # Response Evaluation Method = RECIST 1.1
    assert evaluations["TRGRESP"].value == target
    assert evaluations["NTRGRESP"].value == "112046"  # non-CR/non-PD
    assert evaluations["OVRLRESP"].value == overall
    assert evaluations["HEPRESP"].value == tp["hepatic_response"]
    assert evaluations["NEWLPROG"].value == new
    sum_code = hd.sr.CodedConcept("SUMDIAM", "99LVBRDN", "Sum of Diameters")
    assert _value(response, sum_code) == pytest.approx(tp["sum_mm"])


def test_baseline_response_defaults_to_the_study_date(tiny_ct: TinyCT) -> None:
    """Without a date the timepoint is the source StudyDate; baseline has only the method."""
    assessment = recist.assess(assessment_input())
    sr = _roundtrip(build_sr(tiny_ct.measurement, tiny_ct.datasets, assessment=assessment))
    groups = {g.tracking_identifier: g for g in sr.content.get_image_measurement_groups()}
    names = [q.name.value for q in groups["RECIST 1.1 response"].get_qualitative_evaluations()]
    assert names == ["112021"]


def test_evidence_references_the_whole_source_series(tiny_ct: TinyCT) -> None:
    """The SR lists every source instance as evidence and shares the study."""
    sr = _roundtrip(build_sr(tiny_ct.measurement, tiny_ct.datasets))
    (study,) = sr.CurrentRequestedProcedureEvidenceSequence
    (series,) = study.ReferencedSeriesSequence
    assert series.SeriesInstanceUID == tiny_ct.datasets[0].SeriesInstanceUID
    assert {i.ReferencedSOPInstanceUID for i in series.ReferencedSOPSequence} == {
        d.SOPInstanceUID for d in tiny_ct.datasets
    }
    assert sr.StudyInstanceUID == tiny_ct.datasets[0].StudyInstanceUID
    assert sr.SeriesInstanceUID != tiny_ct.datasets[0].SeriesInstanceUID
    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR


def _shuffled(ct: TinyCT) -> list[pydicom.Dataset]:
    return [ct.datasets[i] for i in (1, 0, *range(2, len(ct.datasets)))]


@pytest.mark.parametrize(
    ("mutate", "error", "needle"),
    [
        (lambda ct, m: (_shuffled(ct), m), SourceImageError, "slice order"),
        (lambda ct, m: (ct.datasets[:3], m), SourceImageError, "slices"),
        (
            lambda ct, m: (
                ct.datasets,
                {**m, "series": {**m["series"], "series_instance_uid": "1.2.3"}},
            ),
            SourceImageError,
            "another series",
        ),
        (
            lambda ct, m: (
                ct.datasets,
                {**m, "lesions": [{**m["lesions"][0], "long_axis_endpoints_rc": None}]},
            ),
            ReportingInputError,
            "long_axis_endpoints_rc",
        ),
        (lambda ct, m: (ct.datasets, {**m, "lesions": "x"}), ReportingInputError, "lesions"),
        (lambda ct, m: ([], m), SourceImageError, "no source images"),
    ],
    ids=["unsorted", "too-few-slices", "other-series", "no-endpoints", "bad-lesions", "empty"],
)
def test_bad_input_is_refused_with_a_reason(tiny_ct: TinyCT, mutate, error, needle) -> None:  # type: ignore[no-untyped-def]
    """Inputs that do not fit each other raise a reporting error naming what is wrong."""
    datasets, measurement = mutate(tiny_ct, tiny_ct.measurement)
    with pytest.raises(error, match=needle):
        build_sr(measurement, datasets)


def test_unknown_timepoint_date_is_refused(tiny_ct: TinyCT) -> None:
    """An assessment without the measurement's date is an error listing the dates it has."""
    assessment = recist.assess(assessment_input())
    with pytest.raises(ReportingInputError, match="2020-01-01"):
        build_sr(
            tiny_ct.measurement,
            tiny_ct.datasets,
            assessment=assessment,
            timepoint_date="2021-05-05",
        )


def test_multiframe_source_references_frames(shared_data: Path) -> None:
    """A Legacy Converted Enhanced CT source: regions use the frame planes, images the frames."""
    mf = pydicom.dcmread(shared_data / "dcmqi-liver-seg/segmentations/24x38x3/multiframe/mf.dcm")
    positions = [
        float(f.PlanePositionSequence[0].ImagePositionPatient[2])
        for f in mf.PerFrameFunctionalGroupsSequence
    ]
    measurement = {
        "series": {
            "series_instance_uid": mf.SeriesInstanceUID,
            "modality": "CT",
            "spacing_mm": [1.0, 1.0, 1.0],
        },
        "liver_volume_ml": None,
        "tumor_volume_ml": 0.01,
        "burden_fraction": None,
        "lesions": [
            {
                "lesion_id": "L1",
                "volume_ml": 0.01,
                "long_axis_mm": 5.0,
                "short_axis_mm": 2.0,
                "slice_index": 1,
                "measurable": False,
                "long_axis_endpoints_rc": [[10, 5], [10, 10]],
                "short_axis_endpoints_rc": [[9, 7], [11, 7]],
            }
        ],
        "algorithm_version": "test",
    }
    sr = _roundtrip(build_sr(measurement, [mf]))
    (group,) = sr.content.get_planar_roi_measurement_groups()
    assert group.roi.value[0][2] == pytest.approx(positions[1], abs=1e-3)
    (long_axis,) = group.get_measurements(name=LONG)
    (ref,) = long_axis.referenced_images
    assert ref.referenced_sop_instance_uid == mf.SOPInstanceUID
    assert list(ref.referenced_frame_numbers) == [2]


def test_real_ct_headers_give_a_valid_report(shared_data: Path) -> None:
    """On the dcmqi GE liver CT the SR reports the README's 70.362 mL liver volume."""
    folder = shared_data / "dcmqi-liver-seg" / "segmentations"
    datasets = [pydicom.dcmread(p) for p in sorted((folder / "ct-3slice").glob("*.dcm"))]
    datasets.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    measurement = {
        "series": {
            "series_instance_uid": datasets[0].SeriesInstanceUID,
            "modality": "CT",
            "spacing_mm": [1.0, 0.810547, 0.810547],
        },
        "liver_volume_ml": 107_098 * 0.810547**2 / 1000,
        "tumor_volume_ml": 0.0,
        "burden_fraction": 0.0,
        "lesions": [],
        "algorithm_version": "test",
    }
    sr = _roundtrip(build_sr(measurement, datasets))
    groups = {g.tracking_identifier: g for g in sr.content.get_image_measurement_groups()}
    assert _value(groups["Liver"], VOLUME) == pytest.approx(70.362, abs=5e-4)
    assert SHARED_DATA.is_dir()
