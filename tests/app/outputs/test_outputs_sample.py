"""DICOM outputs of a measurement made from a stored DICOM SEG with one segment per lesion: the
bundled sample study (60 JPEG-LS slices, three lesions), pinned to sample_dicom/truth.json."""

from __future__ import annotations

import io
import json
from typing import Any

import highdicom as hd
import numpy as np
import pytest
from pydicom.sr.codedict import codes

from tests.app.conftest import Service, dicom_parts, wait_for_job
from tests.conftest import SAMPLE_DICOM


@pytest.fixture(scope="module")
def truth() -> dict[str, Any]:
    """sample_dicom/truth.json."""
    return dict(json.loads((SAMPLE_DICOM / "truth.json").read_text(encoding="utf-8")))


def _measure_with_stored_seg(svc: Service) -> dict[str, Any]:
    c = svc.client()
    files = sorted((SAMPLE_DICOM / "ct").glob("*.dcm"))
    study = c.post("/v1/uploads", files=dicom_parts(files)).json()["studies"][0]
    seg_up = c.post("/v1/uploads", files=dicom_parts([SAMPLE_DICOM / "seg.dcm"]))
    assert seg_up.status_code == 201, seg_up.text
    seg_sop = hd.seg.segread(SAMPLE_DICOM / "seg.dcm").SOPInstanceUID
    assert c.post("/v1/subjects", json={"subject_id": "S-SAMPLE"}).status_code == 201
    tp = c.post(
        "/v1/subjects/S-SAMPLE/timepoints",
        json={"label": "bl", "date": "2020-01-01", "baseline": True},
    ).json()["timepoint_id"]
    job = c.post(
        "/v1/measurements",
        json={
            "timepoint_id": tp,
            "series_instance_uid": study["series"][0]["series_instance_uid"],
            "segmentation_sop_instance_uid": seg_sop,
        },
    )
    assert job.status_code == 202, job.text
    done = wait_for_job(c, job.headers["Location"], timeout_s=300)
    assert done["status"] == "succeeded", done
    result: dict[str, Any] = c.get(done["result_url"]).json()
    return result


def test_seg_and_sr_of_a_measurement_from_a_stored_seg(
    service: Service, truth: dict[str, Any]
) -> None:
    """Per-lesion SEG segments give the SEG's lesions back; SR axes equal the measurement."""
    m = _measure_with_stored_seg(service)
    assert m["lesion_count"] == len(truth["lesions"]) == 3
    c = service.client()
    r = c.get(f"/v1/measurements/{m['measurement_id']}/seg")
    assert r.status_code == 200, r.text
    seg = hd.seg.segread(io.BytesIO(r.content))
    assert seg.number_of_segments == 4
    pixels = np.asarray(seg.pixel_array).reshape(-1, seg.Rows, seg.Columns)
    counts = dict.fromkeys(seg.segment_numbers, 0)
    for frame, item in zip(pixels, seg.PerFrameFunctionalGroupsSequence, strict=True):
        number = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        counts[number] += int(np.count_nonzero(frame))
    assert [counts[n] for n in (2, 3, 4)] == [les["voxels"] for les in m["lesions"]]
    assert sum(counts.values()) == m["liver_voxels"] == truth["liver_voxel_count"]
    assert m["tumor_voxels"] == truth["tumor_voxel_count"]

    r = c.get(f"/v1/measurements/{m['measurement_id']}/sr")
    assert r.status_code == 200, r.text
    sr: Any = hd.sr.srread(io.BytesIO(r.content))
    groups = sr.content.get_planar_roi_measurement_groups()
    for group, lesion in zip(groups, m["lesions"], strict=True):
        (long_axis,) = group.get_measurements(name=codes.SCT.LongAxis)
        assert float(long_axis.value) == pytest.approx(lesion["long_axis_mm"], abs=1e-9)
    (series,) = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence
    assert len(series.ReferencedSOPSequence) == truth["series"]["slices"]
