"""RTSTRUCT placement rules on structure sets written here, with analytic masks."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian

from dicomio.errors import CorruptFileError, LabelError
from dicomio.labels import read_labels
from dicomio.model import ImageVolume
from dicomio.rtstruct import RTSTRUCT_SOP_CLASS_UID, labelmap_from_rtstruct
from tests.dicomio._label_targets import geometry_from, volume_on

FOR_UID = "1.2.826.0.1.3680043.10.1.9"
UIDS = ("1.2.826.0.1.3680043.10.1.1", "1.2.826.0.1.3680043.10.1.2", "1.2.826.0.1.3680043.10.1.3")
# 3 slices at z = 0, 2, 4 mm; 20 x 20 pixels of 1 mm; voxel (k, j, i) centre at (x=i, y=j, z=2k).
TARGET = volume_on(
    geometry_from((3, 20, 20), (2.0, 1.0, 1.0), (0.0, 0.0, 0.0)),
    uids=UIDS,
    frame_of_reference_uid=FOR_UID,
)

Contour = tuple[list[tuple[float, float]], float, str | None, str]  # (x, y) points, z, ref, type


def _square(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _rtstruct(
    rois: dict[int, tuple[str, list[Contour]]],
    for_uid: str = FOR_UID,
    listed: list[int] | None = None,
) -> Dataset:
    """Minimal RT Structure Set: ROIs (number -> name, contours); ``listed`` limits the SSROI."""
    ds = Dataset()
    ds.SOPClassUID = RTSTRUCT_SOP_CLASS_UID
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.1.100"
    ds.Modality = "RTSTRUCT"
    frame = Dataset()
    frame.FrameOfReferenceUID = for_uid
    ds.ReferencedFrameOfReferenceSequence = Sequence([frame])
    ssroi, roic = [], []
    for number, (name, contours) in rois.items():
        if listed is None or number in listed:
            item = Dataset()
            item.ROINumber = number
            item.ROIName = name
            item.ReferencedFrameOfReferenceUID = for_uid
            ssroi.append(item)
        rc = Dataset()
        rc.ReferencedROINumber = number
        items = []
        for points, z, ref, kind in contours:
            c = Dataset()
            c.ContourGeometricType = kind
            c.NumberOfContourPoints = len(points)
            c.ContourData = [v for x, y in points for v in (x, y, z)]
            if ref is not None:
                img = Dataset()
                img.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
                img.ReferencedSOPInstanceUID = ref
                c.ContourImageSequence = Sequence([img])
            items.append(c)
        if items:
            rc.ContourSequence = Sequence(items)
        roic.append(rc)
    ds.StructureSetROISequence = Sequence(ssroi)
    ds.ROIContourSequence = Sequence(roic)
    return ds


def _ring(ref: str | None, z: float = 2.0) -> list[Contour]:
    """A 10 x 10 square (x, y 2..11) with a 4 x 4 hole (5..8) on slice 1: 100 - 2 x 2 voxels."""
    return [
        (_square(2, 2, 11, 11), z, ref, "CLOSED_PLANAR"),
        (_square(5, 5, 8, 8), z, ref, "CLOSED_PLANAR"),
    ]


def _single(lm: Any, number: int = 1) -> Any:
    return lm.mask([number])


def test_contours_by_reference_with_a_hole() -> None:
    """Two nested contours on the referenced slice: outer ring kept, hole interior removed."""
    lm = labelmap_from_rtstruct(_rtstruct({1: ("Liver", _ring(UIDS[1]))}), TARGET)
    mask = _single(lm)
    assert mask.sum(axis=(1, 2)).tolist() == [0, 100 - 4, 0]
    assert mask[1, 2:12, 2:12].sum() == 96 and not mask[1, 6:8, 6:8].any()
    assert lm.warnings == ()


@pytest.mark.parametrize(
    ("z", "slice_index"),
    [(2.0, 1), (2.9, 1), (3.1, 2), (-0.9, 0), (4.9, 2)],
    ids=["on-plane", "0.45-slice-below-next", "0.55-slice", "just-before-first", "just-past-last"],
)
def test_contours_without_reference_go_to_the_nearest_plane(z: float, slice_index: int) -> None:
    """Without a reference, a contour goes to the nearest slice plane within the grid."""
    lm = labelmap_from_rtstruct(_rtstruct({1: ("x", _ring(None, z))}), TARGET)
    counts = [0, 0, 0]
    counts[slice_index] = 96
    assert _single(lm).sum(axis=(1, 2)).tolist() == counts


@pytest.mark.parametrize("z", [-1.1, 5.1], ids=["below", "above"])
def test_contours_beyond_the_grid_without_reference_are_refused(z: float) -> None:
    """A contour more than half a slice beyond the first or last slice does not fit the series."""
    with pytest.raises(LabelError, match="slice position"):
        labelmap_from_rtstruct(_rtstruct({1: ("x", _ring(None, z))}), TARGET)


def test_reference_wins_over_the_contour_plane() -> None:
    """A contour at z = 0 referencing slice 2 goes to slice 2, with an off-plane warning."""
    lm = labelmap_from_rtstruct(_rtstruct({1: ("x", _ring(UIDS[2], 0.0))}), TARGET)
    assert _single(lm).sum(axis=(1, 2)).tolist() == [0, 0, 96]
    assert any("more than half a slice" in w for w in lm.warnings)


def test_reference_to_an_image_not_in_the_series_is_refused() -> None:
    """One contour on an unknown image makes the whole structure set refused, with the count."""
    rois = {1: ("a", _ring(UIDS[0])), 2: ("b", _ring("1.2.3.999"))}
    with pytest.raises(
        LabelError, match=r"references 1 image\(s\) that are not in the series \(1 of the 2"
    ):
        labelmap_from_rtstruct(_rtstruct(rois), TARGET)


def test_other_frame_of_reference_by_position_is_refused() -> None:
    """Placed by position, contours in another frame of reference are refused."""
    with pytest.raises(LabelError, match="frame of reference"):
        labelmap_from_rtstruct(_rtstruct({1: ("x", _ring(None))}, for_uid="1.2.3"), TARGET)


def test_empty_rois_points_and_unlisted_rois() -> None:
    """Empty ROIs are empty segments; POINT contours are skipped; unlisted ROIs get no name."""
    rois: dict[int, tuple[str, list[Contour]]] = {
        1: ("Liver", []),
        2: ("Marker", [([(5.0, 5.0)], 2.0, UIDS[1], "POINT")]),
        3: ("Lesion 1", _ring(UIDS[0], 0.0)),
        4: ("Lesion 2", _ring(UIDS[2], 4.0)),
        7: ("ghost", _ring(UIDS[1])),
    }
    lm = labelmap_from_rtstruct(_rtstruct(rois, listed=[1, 2, 3, 4]), TARGET)
    assert [(s.number, s.name, s.single_lesion) for s in lm.segments] == [
        (1, "Liver", False),
        (2, "Marker", False),
        (3, "Lesion 1", True),
        (4, "Lesion 2", True),
        (7, "", False),
    ]
    assert [int(lm.mask([n]).sum()) for n in (1, 2, 3, 4, 7)] == [0, 0, 96, 96, 96]
    assert any("1 POINT" in w for w in lm.warnings)


def test_non_planar_contour_is_refused() -> None:
    """A contour whose points span two slices is not on the series' image planes."""
    contour = ([(2.0, 2.0), (9.0, 2.0), (9.0, 9.0)], 0.0, UIDS[0], "CLOSED_PLANAR")
    ds = _rtstruct({1: ("x", [contour])})
    ds.ROIContourSequence[0].ContourSequence[0].ContourData = [2, 2, 0, 9, 2, 0, 9, 9, 4]
    with pytest.raises(LabelError, match="not parallel"):
        labelmap_from_rtstruct(ds, TARGET)


def test_contour_beyond_the_image_is_cut_with_a_warning() -> None:
    """A contour that leaves the 20 x 20 image is cut at the border and reported."""
    contour = (_square(15, 15, 24, 24), 2.0, UIDS[1], "CLOSED_PLANAR")
    lm = labelmap_from_rtstruct(_rtstruct({1: ("x", [contour])}), TARGET)
    assert int(_single(lm).sum()) == 5 * 5
    assert any("beyond the image" in w for w in lm.warnings)


def test_malformed_contour_data_is_corrupt() -> None:
    """ContourData that is not x/y/z triplets is a broken file."""
    ds = _rtstruct({1: ("x", _ring(UIDS[1]))})
    ds.ROIContourSequence[0].ContourSequence[0].ContourData = [1, 2, 3, 4]
    with pytest.raises(CorruptFileError, match="triplets"):
        labelmap_from_rtstruct(ds, TARGET)


def test_rtstruct_file_is_recognised_by_content(tmp_path: Path) -> None:
    """read_labels reads a structure set file (any name) and records its SHA-256."""
    ds = _rtstruct({1: ("Liver", _ring(UIDS[1])), 2: ("Tumor 1", [])})
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(RTSTRUCT_SOP_CLASS_UID)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = tmp_path / "structures.bin"
    ds.save_as(path, enforce_file_format=True)
    target: ImageVolume = TARGET
    lm = read_labels(path, target)
    assert lm.source_kind == "rtstruct"
    assert lm.file_sha256 == (hashlib.sha256(path.read_bytes()).hexdigest(),)
    assert int(lm.mask([1]).sum()) == 96
    assert np.array_equal(lm.mask([2]), np.zeros(TARGET.geometry.shape_zyx, dtype=bool))
