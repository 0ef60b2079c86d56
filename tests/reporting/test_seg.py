"""DICOM SEG of the liver and lesions: written with highdicom, read back, masks equal."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from reporting import (
    ReportingInputError,
    SourceImageError,
    build_seg,
    lesion_labels_from_measurement,
)
from tests.reporting._ct import TinyCT


def _roundtrip(seg: hd.seg.Segmentation) -> hd.seg.Segmentation:
    buf = io.BytesIO()
    seg.save_as(buf)
    return hd.seg.segread(io.BytesIO(buf.getvalue()))


def _masks(
    seg: hd.seg.Segmentation, datasets: list[pydicom.Dataset], ignore_spatial: bool = False
) -> np.ndarray:
    uids = [d.SOPInstanceUID for d in datasets]
    return seg.get_pixels_by_source_instance(
        uids, assert_missing_frames_are_empty=True, ignore_spatial_locations=ignore_spatial
    )


def test_segments_read_back_equal_to_the_masks(tiny_ct: TinyCT) -> None:
    """Segment 1 is the liver without lesions, then one segment per lesion, voxel for voxel."""
    seg = _roundtrip(
        build_seg(tiny_ct.datasets, tiny_ct.lesion_labels, ["L1", "L2"], liver_mask=tiny_ct.liver)
    )
    assert seg.SegmentationType == "BINARY"
    masks = _masks(seg, tiny_ct.datasets).astype(bool)
    assert masks.shape == (*tiny_ct.hu.shape, 3)
    np.testing.assert_array_equal(masks[..., 0], tiny_ct.liver & ~tiny_ct.tumor)
    np.testing.assert_array_equal(masks[..., 1], tiny_ct.lesion_labels == 1)
    np.testing.assert_array_equal(masks[..., 2], tiny_ct.lesion_labels == 2)
    union = masks.any(axis=-1)
    np.testing.assert_array_equal(union, tiny_ct.liver | tiny_ct.tumor)


def test_segment_descriptions_carry_labels_and_tracking(tiny_ct: TinyCT) -> None:
    """Labels are Liver, L1, L2; tracking ids equal the labels and supplied UIDs are kept."""
    uid = "1.2.826.0.1.3680043.8.498.7"
    seg = _roundtrip(
        build_seg(
            tiny_ct.datasets,
            tiny_ct.lesion_labels,
            ["L1", "L2"],
            liver_mask=tiny_ct.liver,
            lesion_uids={"L1": uid},
        )
    )
    labels = [seg.get_segment_description(n).segment_label for n in (1, 2, 3)]
    assert labels == ["Liver", "L1", "L2"]
    assert seg.get_segment_description(2).tracking_uid == uid
    assert seg.get_segment_description(2).tracking_id == "L1"
    assert seg.get_segment_description(1).segmented_property_type.value == "10200004"
    assert seg.get_segment_description(2).segmented_property_type.value == "108369006"
    assert seg.get_source_image_uids()[0][1] == tiny_ct.datasets[0].SeriesInstanceUID


def test_without_liver_lesions_start_at_segment_one(tiny_ct: TinyCT) -> None:
    """With no liver mask the SEG holds the lesions only, as segments 1 and 2."""
    seg = _roundtrip(build_seg(tiny_ct.datasets, tiny_ct.lesion_labels, ["L1", "L2"]))
    masks = _masks(seg, tiny_ct.datasets).astype(bool)
    assert masks.shape[-1] == 2
    np.testing.assert_array_equal(masks[..., 0], tiny_ct.lesion_labels == 1)


def test_lesion_labels_follow_the_measurement_endpoints(tiny_ct: TinyCT) -> None:
    """Components are matched to lesions by their long-axis endpoint, in measurement order."""
    labels = lesion_labels_from_measurement(tiny_ct.tumor, tiny_ct.measurement)
    np.testing.assert_array_equal(labels, tiny_ct.lesion_labels)
    given = [tiny_ct.lesion_labels == 2, tiny_ct.lesion_labels == 1]
    labels = lesion_labels_from_measurement(tiny_ct.tumor, tiny_ct.measurement, given)
    np.testing.assert_array_equal(labels, tiny_ct.lesion_labels)


def test_lesion_labels_refuse_a_foreign_mask(tiny_ct: TinyCT) -> None:
    """A tumour mask that does not hold a lesion's endpoint is an error, not a wrong SEG."""
    empty = np.zeros_like(tiny_ct.tumor)
    with pytest.raises(ReportingInputError, match="L1"):
        lesion_labels_from_measurement(empty, tiny_ct.measurement)
    twice = copy.deepcopy(tiny_ct.measurement)
    twice["lesions"][1]["long_axis_endpoints_rc"] = twice["lesions"][0]["long_axis_endpoints_rc"]
    twice["lesions"][1]["slice_index"] = twice["lesions"][0]["slice_index"]
    with pytest.raises(ReportingInputError, match="L2"):
        lesion_labels_from_measurement(tiny_ct.tumor, twice)


@pytest.mark.parametrize(
    ("labels", "ids", "liver", "error", "needle"),
    [
        (lambda ct: ct.lesion_labels[:-1], ["L1", "L2"], None, SourceImageError, "shape"),
        (lambda ct: ct.lesion_labels, ["L1"], None, ReportingInputError, "0..1"),
        (lambda ct: ct.lesion_labels, ["L1", "L1"], None, ReportingInputError, "unique"),
        (
            lambda ct: ct.lesion_labels.astype(float),
            ["L1", "L2"],
            None,
            ReportingInputError,
            "integer",
        ),
        (lambda ct: np.zeros_like(ct.lesion_labels), [], None, ReportingInputError, "nothing"),
        (
            lambda ct: ct.lesion_labels,
            ["L1", "L2"],
            lambda ct: ct.liver[1:],
            SourceImageError,
            "liver mask",
        ),
    ],
    ids=[
        "short-labels",
        "label-out-of-range",
        "duplicate-ids",
        "float-labels",
        "empty",
        "liver-shape",
    ],
)
def test_bad_masks_are_refused(tiny_ct: TinyCT, labels, ids, liver, error, needle) -> None:  # type: ignore[no-untyped-def]
    """Masks that do not fit the series or the ids raise an error naming the problem."""
    with pytest.raises(error, match=needle):
        build_seg(
            tiny_ct.datasets,
            labels(tiny_ct),
            ids,
            liver_mask=None if liver is None else liver(tiny_ct),
        )


def test_real_liver_ct_keeps_the_reference_liver(shared_data: Path) -> None:
    """On the dcmqi GE CT, the liver re-encoded from liver.dcm keeps its 107,098 voxels."""
    folder = shared_data / "dcmqi-liver-seg" / "segmentations"
    datasets = [pydicom.dcmread(p) for p in sorted((folder / "ct-3slice").glob("*.dcm"))]
    datasets.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    reference = hd.seg.segread(folder / "liver.dcm")
    # dcmqi's SEG does not state SpatialLocationsPreserved; its frames are on the CT grid.
    liver = _masks(reference, datasets, ignore_spatial=True)[..., 0].astype(bool)
    assert [int(n) for n in liver.sum(axis=(1, 2))] == [36_233, 35_645, 35_220]
    lesion = np.zeros(liver.shape, dtype=np.int32)
    lesion[1, 250:260, 200:212] = 1
    assert liver[lesion > 0].all()
    seg = _roundtrip(build_seg(datasets, lesion, ["L1"], liver_mask=liver))
    masks = _masks(seg, datasets).astype(bool)
    union = masks[..., 0] | masks[..., 1]
    assert int(union.sum()) == 107_098
    volume_ml = union.sum() * 0.810547**2 * 1.0 / 1000
    assert volume_ml == pytest.approx(70.362, abs=5e-4)
    np.testing.assert_array_equal(masks[..., 1], lesion > 0)


def test_multiframe_source(shared_data: Path) -> None:
    """A Legacy Converted Enhanced CT source gets a SEG whose frames reference its frames."""
    mf = pydicom.dcmread(shared_data / "dcmqi-liver-seg/segmentations/24x38x3/multiframe/mf.dcm")
    labels = np.zeros((3, int(mf.Rows), int(mf.Columns)), dtype=np.int32)
    labels[1, 10:20, 5:15] = 1
    seg = _roundtrip(build_seg([mf], labels, ["L1"]))
    back = seg.get_pixels_by_source_frame(
        mf.SOPInstanceUID, [1, 2, 3], assert_missing_frames_are_empty=True
    )
    np.testing.assert_array_equal(back[..., 0].astype(bool), labels > 0)
