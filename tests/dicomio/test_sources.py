"""dicomio.sources: the headers of a volume's instances, re-read in slice order for SR/SEG."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dicomio.errors import CorruptFileError, NotDicomError, SeriesSelectionError
from dicomio.series import read_series
from dicomio.sources import read_source_datasets
from tests.dicomio._series_synth import slice_dataset, write, write_stack

#: Slice positions written in shuffled file order (z in mm); the volume sorts them.
_Z = [20.0, 0.0, 10.0, 30.0]


def _stack(folder: Path) -> list[Path]:
    return write_stack(folder, [(0.0, 0.0, z) for z in _Z])


def test_datasets_follow_the_slice_order(tmp_path: Path) -> None:
    """One header per slice, in the volume's k order, without pixels; other files are skipped."""
    _stack(tmp_path)
    other = slice_dataset(position=(0, 0, 0), series_uid="1.2.826.0.1.3680043.8.498.99")
    write(other, tmp_path / "other-series.dcm")
    (tmp_path / "notes.txt").write_text("not DICOM")
    volume = read_series(tmp_path, "1.2.826.0.1.3680043.8.498.10", pixels=False)
    datasets = read_source_datasets(tmp_path, volume)
    assert [str(ds.SOPInstanceUID) for ds in datasets] == list(volume.info.sop_instance_uids)
    z = [float(ds.ImagePositionPatient[2]) for ds in datasets]
    assert z == sorted(_Z) or z == sorted(_Z, reverse=True)
    assert all("PixelData" not in ds for ds in datasets)


def test_a_slice_gone_since_reading_is_reported(tmp_path: Path) -> None:
    """A slice that can no longer be re-read raises CorruptFileError with the count."""
    files = _stack(tmp_path)
    volume = read_series(tmp_path, pixels=False)
    files[2].unlink()
    with pytest.raises(CorruptFileError, match=r"^1 slice\(s\) of the series could not be re-read"):
        read_source_datasets(tmp_path, volume)


def test_multiframe_volume_needs_exactly_one_image(tmp_path: Path) -> None:
    """A volume without per-slice UIDs needs exactly one image of its series in the input."""
    _stack(tmp_path)
    volume = read_series(tmp_path, pixels=False)
    as_multiframe = dataclasses.replace(
        volume, info=dataclasses.replace(volume.info, sop_instance_uids=())
    )
    with pytest.raises(SeriesSelectionError, match="one multi-frame image"):
        read_source_datasets(tmp_path, as_multiframe)


def test_non_dicom_volume_is_refused(tmp_path: Path) -> None:
    """A volume read from NIfTI/NRRD has no DICOM sources: NotDicomError."""
    _stack(tmp_path)
    volume = read_series(tmp_path, pixels=False)
    nifti = dataclasses.replace(
        volume, info=dataclasses.replace(volume.info, source_format="nifti")
    )
    with pytest.raises(NotDicomError, match="read from nifti; expected DICOM"):
        read_source_datasets(tmp_path, nifti)
