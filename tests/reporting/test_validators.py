"""SR and SEG checked by validators nobody here wrote: dicom3tools' dciodvfy, dcmtk's dsrdump.

Sources: the bundled sample, the project's phantom (complete and de-identified) and three real
CT series of
``../shared/data`` (dcmqi GE liver CT, TotalSegmentator AIDE, GE gantry tilt); three more real
series lack a Type 1 attribute and must be refused by name. Each
gets a liver mask and one lesion; the SR and SEG built from them must give zero ``Error`` lines in
``dciodvfy`` and read back with ``dsrdump``. ``.ci/run`` installs both tools (Debian packages
``dicom3tools`` and ``dcmtk``): under ``CI=true`` they must be there; elsewhere the tests skip.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom import Dataset

from recist.diameters import measure_diameters
from reporting import SourceImageError, build_seg, build_sr
from tests.conftest import SAMPLE_DICOM, SHARED_DATA
from tests.reporting._ct import make_tiny_ct

IN_CI = os.environ.get("CI", "").lower() == "true"

REAL_SERIES = {
    "dcmqi-ge-liver": "dcmqi-liver-seg/segmentations/ct-3slice",
    "totalsegmentator-aide": "totalsegmentator-aide-rtstruct/dcm",
    "ge-gantry-tilt": "dcm-qa-ct-gantry-tilt/GE",
    # Real de-identified series that lack a Type 1 attribute: refused by name, never a 500.
    "ircadb-1.17": "3dircadb1.17-liver-tumors/dicom-original-sample/PATIENT_DICOM",
    "totalsegmentator": "totalsegmentator-example/ct_dicom_series/dicom",
    "rt-utils-oriented": "rt-utils-testdata/oriented_data",
}
#: What each incomplete real series lacks.
LACKS = {
    "ircadb-1.17": "FrameOfReferenceUID",
    "totalsegmentator": "StudyInstanceUID",
    "rt-utils-oriented": "FrameOfReferenceUID",
}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is required under CI=true (.ci/run installs it)")
        pytest.skip(f"{name} is not installed (Debian: dicom3tools / dcmtk)")
    return path


def _write(ds: Dataset, folder: Path, name: str) -> Path:
    path = folder / name
    ds.save_as(path, enforce_file_format=True)
    return path


def _dciodvfy(path: Path) -> tuple[list[str], list[str]]:
    """The Error and Warning lines ``dciodvfy`` prints for ``path``."""
    proc = subprocess.run(
        [_tool("dciodvfy"), str(path)], capture_output=True, text=True, timeout=120
    )
    lines = (proc.stdout + proc.stderr).splitlines()
    return [x for x in lines if x.startswith("Error")], [x for x in lines if x.startswith("Warn")]


def _real(name: str) -> list[Dataset]:
    folder = SHARED_DATA / REAL_SERIES[name]
    if not folder.is_dir():
        pytest.skip(f"{folder} is not there")
    datasets = [pydicom.dcmread(p) for p in sorted(folder.iterdir()) if p.is_file()]
    normal = np.cross(
        np.array(datasets[0].ImageOrientationPatient[:3], float),
        np.array(datasets[0].ImageOrientationPatient[3:], float),
    )
    datasets.sort(key=lambda d: float(np.dot(normal, np.array(d.ImagePositionPatient, float))))
    return datasets


def _masks_and_measurement(datasets: list[Dataset]) -> tuple[Any, Any, dict[str, Any]]:
    """A box liver and one disc lesion on the middle slice, measured like the product does."""
    rows, cols = int(datasets[0].Rows), int(datasets[0].Columns)
    shape = (len(datasets), rows, cols)
    spacing_yx = [float(v) for v in datasets[0].PixelSpacing]
    liver = np.zeros(shape, bool)
    liver[:, rows // 4 : 3 * rows // 4, cols // 4 : 3 * cols // 4] = True
    labels = np.zeros(shape, np.int32)
    jj, ii = np.indices((rows, cols))
    radius_px = max(4, int(12.0 / spacing_yx[0]))
    labels[len(datasets) // 2][(jj - rows // 2) ** 2 + (ii - cols // 2) ** 2 <= radius_px**2] = 1
    spacing = (1.0, spacing_yx[0], spacing_yx[1])
    d = measure_diameters(labels == 1, spacing)
    measurement = {
        "series": {
            "series_instance_uid": datasets[0].SeriesInstanceUID,
            "modality": str(datasets[0].Modality),
            "spacing_mm": list(spacing),
        },
        "liver_volume_ml": float(liver.sum()) * float(np.prod(spacing)) / 1000,
        "tumor_volume_ml": float((labels > 0).sum()) * float(np.prod(spacing)) / 1000,
        "burden_fraction": float((labels > 0).sum()) / float(liver.sum()),
        "lesions": [
            {
                "lesion_id": "L1",
                "volume_ml": float((labels > 0).sum()) * float(np.prod(spacing)) / 1000,
                "long_axis_mm": d.long_axis_mm,
                "short_axis_mm": d.short_axis_mm,
                "slice_index": d.slice_index,
                "measurable": d.long_axis_mm >= 10.0,
                "long_axis_endpoints_rc": [list(p) for p in d.long_axis_endpoints_rc],
                "short_axis_endpoints_rc": [list(p) for p in d.short_axis_endpoints_rc],
            }
        ],
        "algorithm_version": "test",
    }
    return liver, labels, measurement


def _deidentified(datasets: list[Dataset]) -> list[Dataset]:
    out = []
    for ds in datasets:
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        copy = pydicom.dcmread(io.BytesIO(buf.getvalue()))
        for keyword in (
            "PatientBirthDate",
            "PatientSex",
            "AccessionNumber",
            "StudyID",
            "StudyTime",
        ):
            if keyword in copy:
                delattr(copy, keyword)
        out.append(copy)
    return out


def _sources(name: str) -> list[Dataset]:
    if name == "sample":
        datasets = [pydicom.dcmread(p) for p in sorted(SAMPLE_DICOM.joinpath("ct").glob("*.dcm"))]
        return sorted(datasets, key=lambda d: float(d.ImagePositionPatient[2]))
    if name == "phantom":
        return make_tiny_ct(seed="validators").datasets
    if name == "phantom-deidentified":
        return _deidentified(make_tiny_ct(seed="validators").datasets)
    return _real(name)


SOURCES = ["sample", "phantom", "phantom-deidentified", *(n for n in REAL_SERIES if n not in LACKS)]


@pytest.mark.parametrize("name", SOURCES)
def test_sr_and_seg_pass_dciodvfy_without_errors(name: str, tmp_path: Path) -> None:
    """dciodvfy reports zero errors on the SR and on the SEG (warnings are allowed)."""
    _tool("dciodvfy")
    datasets = _sources(name)
    liver, labels, measurement = _masks_and_measurement(datasets)
    sr = _write(build_sr(measurement, datasets), tmp_path, "sr.dcm")
    seg = _write(build_seg(datasets, labels, ["L1"], liver_mask=liver), tmp_path, "seg.dcm")
    for path in (sr, seg):
        errors, _ = _dciodvfy(path)
        assert errors == [], f"{path.name} of {name}: {errors}"


@pytest.mark.parametrize("name", sorted(LACKS))
def test_real_series_without_a_type1_attribute_is_refused_by_name(name: str) -> None:
    """Real de-identified series lacking a Type 1 attribute: an error naming it, for SR and SEG."""
    datasets = _real(name)
    liver, labels, measurement = _masks_and_measurement(datasets)
    with pytest.raises(SourceImageError, match=LACKS[name]):
        build_sr(measurement, datasets)
    with pytest.raises(SourceImageError, match=LACKS[name]):
        build_seg(datasets, labels, ["L1"], liver_mask=liver)


@pytest.mark.parametrize("name", ["phantom", "dcmqi-ge-liver"])
def test_sr_reads_back_with_dcmtk(name: str, tmp_path: Path) -> None:
    """dcmtk's dsrdump reads the SR and shows the TID 1500 report and the lesion's long axis."""
    dsrdump = _tool("dsrdump")
    datasets = _sources(name)
    _, _, measurement = _masks_and_measurement(datasets)
    sr = _write(build_sr(measurement, datasets), tmp_path, "sr.dcm")
    proc = subprocess.run([dsrdump, str(sr)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Imaging Measurement Report" in proc.stdout
    shown = re.findall(r'"Long axis"\)="([0-9.]+)" \(mm,UCUM', proc.stdout)
    assert [float(x) for x in shown] == pytest.approx([measurement["lesions"][0]["long_axis_mm"]])


def test_dciodvfy_sees_a_broken_object(tmp_path: Path) -> None:
    """The validator run can fail: an SR without its Type 1 Value Type has errors."""
    _tool("dciodvfy")
    datasets = _sources("phantom")
    _, _, measurement = _masks_and_measurement(datasets)
    sr = build_sr(measurement, datasets)
    del sr.ValueType
    errors, _ = _dciodvfy(_write(sr, tmp_path, "broken.dcm"))
    assert errors
