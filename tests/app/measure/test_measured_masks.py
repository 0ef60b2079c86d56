"""The masks a measurement keeps: which voxels are L1, L2, ..., the tumour and the liver.

Against the phantom generator's truth (each lesion's voxels are known by construction), for both
ways the pipeline finds lesions (connected components of one tumour label; one SEG segment per
lesion), and through the service: a measurement's SEG is built from the kept masks, so it is
still answered when the segmentation it was made from can no longer be read.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from app.db.models import Measurement, Segmentation
from app.errors import ConflictError
from app.measure.masks import MeasuredMasks
from app.measure.pipeline import MeasureRequest, measure_series
from app.store.blobs import BlobStore
from phantoms import (
    LesionSpec,
    PhantomSpec,
    make_phantom,
    write_dicom_series,
    write_label_nifti,
    write_seg,
)
from reporting import lesion_labels_from_measurement
from tests.app._outputs_setup import upload_and_measure
from tests.app.conftest import Service, session_factory_for

SPEC = PhantomSpec(
    shape_zyx=(24, 72, 72),
    liver_center_lps_mm=(0.0, 0.0, 0.0),
    body_semi_axes_xy_mm=(200.0, 200.0),
    spacing_zyx_mm=(2.5, 1.5, 1.5),
    lesions=(
        LesionSpec((-25.0, -20.0, 5.0), (4.0, 4.0, 4.0)),
        LesionSpec((10.0, 5.0, 0.0), (12.0, 9.0, 8.0)),
        LesionSpec((20.0, -22.0, -8.0), (6.0, 5.0, 5.0)),
    ),
)


def _expected_lesion_numbers(phantom: Any) -> np.ndarray:
    """Truth: the voxels of ``spec.lesions[n-1]`` carry the number of its L-id (rank by size)."""
    out = np.zeros(phantom.spec.shape_zyx, dtype=np.int32)
    for lesion in phantom.truth["lesions"]:
        number = int(lesion["lesion_id"].removeprefix("L"))
        out[phantom.lesion_index == lesion["spec_index"]] = number
    return out


@pytest.mark.parametrize("source", ["nifti-components", "seg-one-segment-per-lesion"])
def test_kept_masks_are_the_truths_lesions(tmp_path: Path, source: str) -> None:
    """Lesion numbers, tumour and liver masks equal the generator's voxels, L-ids by size."""
    phantom = make_phantom(SPEC)
    files = write_dicom_series(phantom, tmp_path / "ct")
    if source == "nifti-components":
        labels = write_label_nifti(phantom, tmp_path / "labels.nii.gz")
    else:
        labels = write_seg(phantom, files, tmp_path / "seg.dcm", liver_includes_tumors=False)
    measured = measure_series(MeasureRequest(series=tmp_path / "ct", labels=labels))
    masks = measured.masks

    assert [les.lesion_id for les in measured.result.lesions] == ["L1", "L2", "L3"]
    np.testing.assert_array_equal(masks.full_lesions(), _expected_lesion_numbers(phantom))
    np.testing.assert_array_equal(masks.full_tumor(), phantom.labels == 2)
    liver = masks.full_liver()
    assert liver is not None
    np.testing.assert_array_equal(liver | masks.full_tumor(), phantom.labels > 0)
    # each lesion's voxel count in the result is the count of its number in the kept labels
    counts = np.bincount(masks.lesions.ravel(), minlength=4)
    assert [les.voxels for les in measured.result.lesions] == counts[1:].tolist()
    # the kept labels are what the outputs derived before they were kept
    np.testing.assert_array_equal(
        masks.full_lesions(),
        lesion_labels_from_measurement(masks.full_tumor(), measured.result.to_json()),
    )


def test_kept_masks_round_trip_and_refuse_damage() -> None:
    """The blob reads back equal; a damaged blob is a 409 conflict, never a wrong mask."""
    rng = np.random.default_rng(7)
    lesions = rng.integers(0, 4, size=(3, 5, 6)).astype(np.int32)
    masks = MeasuredMasks((10, 20, 30), (2, 4, 6), lesions, lesions > 0, lesions == 0)
    back = MeasuredMasks.from_bytes(masks.to_bytes())
    assert back.shape_zyx == (10, 20, 30) and back.offset_zyx == (2, 4, 6)
    np.testing.assert_array_equal(back.full_lesions(), masks.full_lesions())
    np.testing.assert_array_equal(back.full_tumor(), masks.full_tumor())
    assert back.liver is not None and masks.liver is not None
    np.testing.assert_array_equal(back.liver, masks.liver)
    assert back.full_lesions()[2:5, 4:9, 6:12].tolist() == lesions.tolist()
    assert int(back.full_lesions()[0].max()) == 0  # outside the box nothing is a lesion

    no_liver = MeasuredMasks((3, 5, 6), (0, 0, 0), lesions, lesions > 0, None)
    assert MeasuredMasks.from_bytes(no_liver.to_bytes()).full_liver() is None

    blob = masks.to_bytes()
    with pytest.raises(ConflictError, match="cannot be read"):
        MeasuredMasks.from_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="outside"):
        MeasuredMasks((3, 5, 6), (1, 0, 0), lesions, lesions > 0, None)


def test_service_keeps_masks_and_builds_the_seg_from_them(service: Service, tmp_path: Path) -> None:
    """The job stores the masks blob; the SEG needs it, not the segmentation read again."""
    spec = dataclasses.replace(SPEC, lesions=SPEC.lesions[:2])
    phantom = make_phantom(spec)
    files = write_dicom_series(phantom, tmp_path / "ct")
    labels = write_label_nifti(phantom, tmp_path / "labels.nii.gz")
    client = service.client()
    assert client.post("/v1/subjects", json={"subject_id": "MASK-01"}).status_code == 201
    tp = upload_and_measure(client, files, labels, "MASK-01", "baseline", None, True)

    blobs = BlobStore(service.settings.blob_dir)
    with session_factory_for(service.settings)() as s:
        m = s.get(Measurement, tp.measurement_id)
        assert m is not None and m.masks_sha256 is not None
        kept = MeasuredMasks.from_bytes(blobs.path(m.masks_sha256).read_bytes())
        label_blobs = [seg.sha256 for seg in s.execute(select(Segmentation)).scalars()]
    np.testing.assert_array_equal(kept.full_lesions(), _expected_lesion_numbers(phantom))

    # masks blob gone (a restore without it): the segmentation is read again, never a 500
    kept_path = blobs.path(m.masks_sha256)
    kept_bytes = kept_path.read_bytes()
    kept_path.chmod(0o644)
    kept_path.unlink()
    r = client.get(f"/v1/measurements/{tp.measurement_id}/seg")
    assert r.status_code == 200, r.text
    kept_path.write_bytes(kept_bytes)

    for sha in label_blobs:  # the segmentation can no longer be read
        path = blobs.path(sha)
        path.chmod(0o644)
        path.write_bytes(b"no longer a label map")
    r = client.get(f"/v1/measurements/{tp.measurement_id}/seg")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/dicom")
