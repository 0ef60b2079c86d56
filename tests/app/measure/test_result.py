"""The typed measurement result: what the pipeline returns, what the database stores, read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.measure.pipeline import MeasureRequest, measure_series, run_measurement
from app.measure.result import MeasurementResult

SAMPLE = Path(__file__).resolve().parents[3] / "sample_dicom"


@pytest.fixture(scope="module")
def sample() -> MeasurementResult:
    return measure_series(MeasureRequest(SAMPLE / "ct", labels=SAMPLE / "labels.nii.gz")).result


def test_stored_json_reads_back_as_the_same_result(sample: MeasurementResult) -> None:
    """JSON (as the database column keeps it) -> typed -> JSON changes nothing, either way."""
    stored = json.loads(json.dumps(sample.to_json()))
    again = MeasurementResult.from_json(stored)
    assert again == sample
    assert again.to_json() == stored


def test_the_json_is_what_run_measurement_prints(sample: MeasurementResult) -> None:
    """``liverburden measure --json``, batch lines and jobs share one document."""
    doc = run_measurement(MeasureRequest(SAMPLE / "ct", labels=SAMPLE / "labels.nii.gz"))
    assert doc == sample.to_json()
    truth = json.loads((SAMPLE / "truth.json").read_text())
    assert sample.liver_volume_ml == pytest.approx(truth["liver_volume_ml"], abs=1e-3)
    assert [les.lesion_id for les in sample.lesions] == ["L1", "L2", "L3"]
    assert all(les.organ == "liver" and les.hepatic for les in sample.lesions)


def _earlier_version_document() -> dict[str, Any]:
    """A measure JSON as version 0.1.0 stored it: the contract's keys, none of the later extras."""
    return {
        "series": {
            "series_instance_uid": "1.2.3",
            "modality": "CT",
            "slices": 119,
            "spacing_mm": [1.6, 0.743, 0.743],
            "slice_thickness_mm": 1.6,
        },
        "liver_volume_ml": 1860.623,
        "tumor_volume_ml": 164.281,
        "burden_fraction": 0.08829,
        "eligibility": {
            "burden_le_70pct": True,
            "burden_gt_25pct": False,
            "measurable_liver_lesion": True,
        },
        "lesions": [
            {
                "lesion_id": "L1",
                "volume_ml": 85.644,
                "long_axis_mm": 64.99,
                "short_axis_mm": 51.2,
                "slice_index": 96,
                "measurable": True,
            }
        ],
        "inputs": {"input_sha256": "ab" * 32},
        "algorithm_version": "0.1.0",
    }


def test_a_document_of_an_earlier_version_reads_with_its_extras_unknown() -> None:
    """Keys added since (organ, hepatic share, ...) read as ``None``, never as a guess."""
    result = MeasurementResult.from_json(_earlier_version_document())
    assert result.has_liver and result.burden_fraction == pytest.approx(0.08829)
    assert result.series.study_instance_uid is None and result.series.missing_slices == ()
    assert result.hepatic_share is None and result.extrahepatic_tumor_volume_ml is None
    assert result.eligibility.measurable_lesion is None
    (les,) = result.lesions
    assert (les.organ, les.hepatic, les.segment) == (None, None, None)
    assert les.long_axis_endpoints_rc == ()
    assert "organ" not in result.to_json()["lesions"][0]


def test_a_measurement_without_a_liver_has_no_burden() -> None:
    """``--liver-label none``: no liver, no burden, lesions taken as hepatic."""
    result = measure_series(
        MeasureRequest(SAMPLE / "ct", labels=SAMPLE / "labels.nii.gz", liver_label="none")
    ).result
    assert not result.has_liver
    assert result.burden_fraction is None and result.eligibility.burden_le_70pct is None
    assert result.eligibility.measurable_liver_lesion is None
    assert all(les.organ == "liver" and les.hepatic for les in result.lesions)
    assert MeasurementResult.from_json(result.to_json()) == result
