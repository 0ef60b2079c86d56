"""Reproducible SR and SEG: derived UIDs and fixed timestamps give the same bytes for the same
inputs, other UIDs for another measurement, and files that still read back with highdicom."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import io
import os
import subprocess
import sys
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.sr.codedict import codes

import recist
from reporting import build_seg, build_sr
from tests.conftest import REPO_ROOT
from tests.reporting._ct import TinyCT, assessment_input, make_tiny_ct

#: Content time of the tests: 07:08:09.123456 at UTC+02:00, i.e. 05:08:09.123456 UTC.
CREATED = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))


def _bytes(ds: pydicom.Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf)
    return buf.getvalue()


def _sr(ct: TinyCT, measurement: dict[str, Any] | None = None, **kwargs: Any) -> bytes:
    """SR of the follow-up (with its RECIST response group); no UID supplied unless in kwargs."""
    data = assessment_input(sums=(30.0, 20.0))
    sr = build_sr(
        measurement or ct.measurement,
        ct.datasets,
        assessment=recist.assess(data),
        timepoint_date=data["timepoints"][1]["date"],
        time_point_label="WEEK 8",
        content_datetime=CREATED,
        **kwargs,
    )
    return _bytes(sr)


def _seg(ct: TinyCT, liver: np.ndarray | None = None, **kwargs: Any) -> bytes:
    seg = build_seg(
        ct.datasets,
        ct.lesion_labels,
        ["L1", "L2"],
        liver_mask=ct.liver if liver is None else liver,
        algorithm_version="1.0",
        content_datetime=CREATED,
        **kwargs,
    )
    return _bytes(seg)


def _build(kind: str, ct: TinyCT, **kwargs: Any) -> bytes:
    return _sr(ct, **kwargs) if kind == "sr" else _seg(ct, **kwargs)


def digests() -> dict[str, str]:
    """SHA-256 of the SR and the SEG of the tiny CT (run in another process by a test)."""
    ct = make_tiny_ct()
    return {kind: hashlib.sha256(_build(kind, ct)).hexdigest() for kind in ("sr", "seg")}


def _own_uids(kind: str, content: bytes) -> set[str]:
    """The UIDs the builder made: SOP, series, tracking (and dimension organization) UIDs."""
    if kind == "sr":
        sr: Any = hd.sr.srread(io.BytesIO(content))
        groups = [
            *sr.content.get_planar_roi_measurement_groups(),
            *sr.content.get_image_measurement_groups(),
        ]
        uids = {str(g.tracking_uid) for g in groups}
        assert len(uids) == len(groups) == 5  # L1, L2, liver, burden, response
        return uids | {sr.SOPInstanceUID, sr.SeriesInstanceUID}
    seg = hd.seg.segread(io.BytesIO(content))
    uids = {str(seg.get_segment_description(n).tracking_uid) for n in seg.segment_numbers}
    assert len(uids) == 3
    (organization,) = seg.DimensionOrganizationSequence
    return uids | {
        seg.SOPInstanceUID,
        seg.SeriesInstanceUID,
        organization.DimensionOrganizationUID,
    }


@pytest.mark.parametrize("kind", ["sr", "seg"])
def test_same_inputs_give_byte_identical_files(tiny_ct: TinyCT, kind: str) -> None:
    """Built twice from the same inputs, with no UID supplied, the files are equal byte for byte."""
    first = _build(kind, tiny_ct)
    assert _build(kind, tiny_ct) == first


def test_byte_identical_sr_reads_back_with_the_measured_values(tiny_ct: TinyCT) -> None:
    """The reproducible SR still reads back with highdicom: lesion axes and liver volume equal."""
    sr: Any = hd.sr.srread(io.BytesIO(_sr(tiny_ct)))
    m = tiny_ct.measurement
    for group, lesion in zip(
        sr.content.get_planar_roi_measurement_groups(), m["lesions"], strict=True
    ):
        (long_axis,) = group.get_measurements(name=codes.SCT.LongAxis)
        assert float(long_axis.value) == pytest.approx(lesion["long_axis_mm"], abs=1e-9)
    groups = {g.tracking_identifier: g for g in sr.content.get_image_measurement_groups()}
    (liver,) = groups["Liver"].get_measurements(name=codes.SCT.Volume)
    assert float(liver.value) == pytest.approx(m["liver_volume_ml"], abs=1e-9)
    assert "RECIST 1.1 response" in groups


def test_byte_identical_seg_reads_back_equal_to_the_masks(tiny_ct: TinyCT) -> None:
    """The reproducible SEG still reads back with highdicom: the lesion segments equal the masks."""
    seg = hd.seg.segread(io.BytesIO(_seg(tiny_ct)))
    uids = [d.SOPInstanceUID for d in tiny_ct.datasets]
    masks = seg.get_pixels_by_source_instance(uids, assert_missing_frames_are_empty=True)
    np.testing.assert_array_equal(masks[..., 1].astype(bool), tiny_ct.lesion_labels == 1)
    np.testing.assert_array_equal(masks[..., 2].astype(bool), tiny_ct.lesion_labels == 2)


def _other_content(kind: str, ct: TinyCT) -> dict[str, Any]:
    if kind == "sr":
        m = copy.deepcopy(ct.measurement)
        m["lesions"][1]["volume_ml"] += 0.001
        return {"measurement": m}
    liver = ct.liver.copy()
    k, r, c = np.argwhere(ct.liver & ~ct.tumor)[0]
    liver[k, r, c] = False
    return {"liver": liver}


@pytest.mark.parametrize("kind", ["sr", "seg"])
@pytest.mark.parametrize("change", ["seed", "content"])
def test_another_measurement_gets_other_uids(tiny_ct: TinyCT, kind: str, change: str) -> None:
    """Another measurement id (uid_seed), or other content, shares none of the derived UIDs."""
    if change == "seed":
        a = _build(kind, tiny_ct, uid_seed="measurement-a")
        b = _build(kind, tiny_ct, uid_seed="measurement-b")
    else:
        a = _build(kind, tiny_ct)
        b = _build(kind, tiny_ct, **_other_content(kind, tiny_ct))
    assert _own_uids(kind, a).isdisjoint(_own_uids(kind, b))


def test_files_are_identical_in_another_process() -> None:
    """A process with another hash seed builds the same SR and SEG bytes (no process state)."""
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO_ROOT)}
    code = "from tests.reporting.test_identity import digests; print(digests())"
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == str(digests())


@pytest.mark.parametrize("kind", ["sr", "seg"])
def test_creation_timestamps_are_the_content_datetime_in_utc(tiny_ct: TinyCT, kind: str) -> None:
    """Content and Instance Creation Date/Time and highdicom's contribution time: CREATED in UTC."""
    ds = pydicom.dcmread(io.BytesIO(_build(kind, tiny_ct)))
    assert (ds.ContentDate, ds.ContentTime) == ("20240506", "050809.123456")
    assert (ds.InstanceCreationDate, ds.InstanceCreationTime) == ("20240506", "050809.123456")
    (highdicom,) = [
        item
        for item in ds.ContributingEquipmentSequence
        if item.get("ManufacturerModelName") == "highdicom"
    ]
    assert highdicom.ContributionDateTime == "20240506050809.123456"


def test_sr_and_seg_share_the_supplied_liver_tracking_uid(tiny_ct: TinyCT) -> None:
    """A supplied "Liver" UID tracks the SR liver group and the SEG liver segment alike."""
    uids = {"Liver": "1.2.826.0.1.3680043.8.498.77", "L1": "1.2.826.0.1.3680043.8.498.78"}
    sr: Any = hd.sr.srread(io.BytesIO(_sr(tiny_ct, lesion_uids=uids)))
    groups = {g.tracking_identifier: g for g in sr.content.get_image_measurement_groups()}
    assert str(groups["Liver"].tracking_uid) == uids["Liver"]
    seg = hd.seg.segread(io.BytesIO(_seg(tiny_ct, lesion_uids=uids)))
    assert seg.get_segment_description(1).tracking_uid == uids["Liver"]
    assert seg.get_segment_description(2).tracking_uid == uids["L1"]
