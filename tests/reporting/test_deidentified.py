"""SR and SEG from de-identified sources: Type 2 attributes absent, empty or odd, Type 1 missing.

De-identified images routinely lack Type 2 attributes (PatientBirthDate, AccessionNumber, ...).
The derived objects copy what a source carries and write the standard's empty value for the rest;
a missing Type 1 attribute is refused with an error that names it. The corpus is made here from
the project's phantom and a real GE liver CT of ``../shared/data`` (dcmqi-liver-seg).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom import Dataset

from reporting import SourceImageError, build_seg, build_sr
from tests.conftest import SHARED_DATA, TYPE2_PATIENT_STUDY
from tests.reporting._ct import TinyCT, make_tiny_ct

#: Type 2 attributes of the Patient, General Study and General Series modules.
TYPE2 = (*TYPE2_PATIENT_STUDY, "SeriesNumber")
#: Type 1 attributes an SR or SEG cannot be made without.
TYPE1 = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID", "Modality")
#: Odd but valid values: UTF-8 names (ISO_IR 192), the longest strings the VRs allow.
ODD: dict[str, Any] = {
    "PatientName": "Müller^Zoë^José",
    "PatientID": "X" * 64,
    "AccessionNumber": "A" * 16,
    "StudyID": "S" * 16,
    "ReferringPhysicianName": "Dr^Ångström",
    "StudyDescription": "Leber " + "ä" * 58,
    "SeriesDescription": "ße" * 32,
}

Mutation = Callable[[Dataset], None]


def _removed(keyword: str) -> Mutation:
    def mutate(ds: Dataset) -> None:
        if keyword in ds:
            delattr(ds, keyword)

    return mutate


def _emptied(keyword: str) -> Mutation:
    def mutate(ds: Dataset) -> None:
        setattr(ds, keyword, None)

    return mutate


def _odd(ds: Dataset) -> None:
    ds.SpecificCharacterSet = "ISO_IR 192"
    for keyword, value in ODD.items():
        setattr(ds, keyword, value)


def _all_type2_removed(ds: Dataset) -> None:
    for keyword in (*TYPE2, "SeriesDescription", "StudyDescription", "InstitutionName"):
        if keyword in ds:
            delattr(ds, keyword)


VARIANTS: list[tuple[str, Mutation]] = [
    *[(f"{k}-removed", _removed(k)) for k in TYPE2],
    *[(f"{k}-empty", _emptied(k)) for k in TYPE2],
    ("SeriesDescription-removed", _removed("SeriesDescription")),
    ("all-type2-removed", _all_type2_removed),
    ("odd-values", _odd),
]


def _variant(datasets: list[Dataset], mutate: Mutation) -> list[Dataset]:
    """Each dataset written and read back after ``mutate``, as a de-identifier would leave it."""
    out = []
    for ds in datasets:
        copy = pydicom.dcmread(io.BytesIO(_bytes(ds)))
        mutate(copy)
        out.append(pydicom.dcmread(io.BytesIO(_bytes(copy))))
    return out


def _bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _read_back(obj: Dataset) -> Dataset:
    return pydicom.dcmread(io.BytesIO(_bytes(obj)))


def _check_copied(derived: Dataset, source: Dataset) -> None:
    """Every patient/study Type 2 attribute is present; equal to the source's when it had one."""
    for keyword in TYPE2_PATIENT_STUDY:
        assert keyword in derived, f"{keyword} missing from the derived object"
        if source.get(keyword):
            assert str(derived[keyword].value) == str(source[keyword].value), keyword
        else:
            assert derived[keyword].is_empty, f"{keyword} should be empty"


@pytest.fixture(scope="module")
def phantom() -> TinyCT:
    return make_tiny_ct(seed="deid")


@pytest.mark.parametrize(("name", "mutate"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_sr_and_seg_from_a_deidentified_phantom(
    phantom: TinyCT, name: str, mutate: Mutation
) -> None:
    """SR and SEG are made, read back, and carry each Type 2 attribute (value or empty)."""
    sources = _variant(phantom.datasets, mutate)
    sr = _read_back(build_sr(phantom.measurement, sources))
    _check_copied(sr, sources[0])
    assert hd.sr.srread(io.BytesIO(_bytes(sr))).SOPClassUID == sr.SOPClassUID
    seg = build_seg(sources, phantom.lesion_labels, ["L1", "L2"], liver_mask=phantom.liver)
    seg_back = _read_back(seg)
    _check_copied(seg_back, sources[0])
    masks = hd.seg.segread(io.BytesIO(_bytes(seg_back))).get_pixels_by_source_instance(
        [d.SOPInstanceUID for d in sources], assert_missing_frames_are_empty=True
    )
    np.testing.assert_array_equal(masks[..., 1].astype(bool), phantom.lesion_labels == 1)
    if name == "odd-values":
        assert str(sr.PatientName) == ODD["PatientName"]
        assert str(seg_back.PatientName) == ODD["PatientName"]


@pytest.mark.parametrize("keyword", TYPE1)
def test_missing_type1_attribute_is_refused_by_name(phantom: TinyCT, keyword: str) -> None:
    """A source without a Type 1 attribute gives an error naming it, for SR and SEG alike."""
    sources = _variant(phantom.datasets, _removed(keyword))
    with pytest.raises(SourceImageError, match=keyword):
        build_sr(phantom.measurement, sources)
    with pytest.raises(SourceImageError, match=keyword):
        build_seg(sources, phantom.lesion_labels, ["L1", "L2"], liver_mask=phantom.liver)


def test_caller_datasets_are_not_changed(phantom: TinyCT) -> None:
    """Filling the empty values happens on copies: the caller's datasets keep their absences."""
    sources = _variant(phantom.datasets, _removed("PatientBirthDate"))
    build_sr(phantom.measurement, sources)
    assert all("PatientBirthDate" not in ds for ds in sources)


@pytest.mark.parametrize(
    "mutate", [_removed("PatientBirthDate"), _all_type2_removed], ids=["birthdate", "all-type2"]
)
def test_real_ge_liver_ct_deidentified(mutate: Mutation) -> None:
    """The dcmqi GE liver CT without its Type 2 attributes still gives an SR and a SEG."""
    folder = SHARED_DATA / "dcmqi-liver-seg" / "segmentations" / "ct-3slice"
    if not folder.is_dir():
        pytest.skip(f"{folder} is not there")
    datasets = [pydicom.dcmread(p) for p in sorted(folder.glob("*.dcm"))]
    datasets.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    sources = _variant(datasets, mutate)
    measurement = {
        "series": {
            "series_instance_uid": sources[0].SeriesInstanceUID,
            "modality": "CT",
            "spacing_mm": [1.0, 0.810547, 0.810547],
        },
        "liver_volume_ml": 70.362,
        "tumor_volume_ml": 0.0,
        "burden_fraction": 0.0,
        "lesions": [],
        "algorithm_version": "test",
    }
    sr = _read_back(build_sr(measurement, sources))
    _check_copied(sr, sources[0])
    liver = np.zeros((len(sources), int(sources[0].Rows), int(sources[0].Columns)), dtype=bool)
    liver[:, 100:200, 100:200] = True
    seg = _read_back(build_seg(sources, np.zeros(liver.shape, np.int32), [], liver_mask=liver))
    _check_copied(seg, sources[0])


def test_shared_data_is_read_in_place() -> None:
    """The real series comes from ../shared/data, never a copy in the repository."""
    assert Path(SHARED_DATA).resolve().parts[-2:] == ("shared", "data")
