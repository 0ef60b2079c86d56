"""``read_series_and_labels``: the label file read while the series' headers are scanned.

It must give exactly what ``read_series`` then ``read_labels`` give, keep their error order (a
series error first), and judge a label file by its header before decompressing it.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

import dicomio.labels as labels_mod
from dicomio.errors import InputNotFoundError, LabelError, NotDicomError
from dicomio.labels import read_labels, read_series_and_labels
from dicomio.series import read_series
from tests.conftest import SAMPLE_DICOM

SERIES = SAMPLE_DICOM / "ct"
LABELS = SAMPLE_DICOM / "labels.nii.gz"


def _same(a: object, b: object) -> None:
    from dicomio.model import ImageVolume, LabelMap

    assert isinstance(a, tuple) and isinstance(b, tuple)
    va, la = a
    vb, lb = b
    assert isinstance(va, ImageVolume) and isinstance(vb, ImageVolume)
    assert isinstance(la, LabelMap) and isinstance(lb, LabelMap)
    assert va.geometry.same_grid(vb.geometry, tol_mm=0.0)
    assert va.info == vb.info
    assert la.segments == lb.segments and la.file_sha256 == lb.file_sha256
    numbers = [seg.number for seg in la.segments]
    for n in numbers:
        np.testing.assert_array_equal(la.mask([n]), lb.mask([n]))


@pytest.mark.parametrize("early", [True, False], ids=["decompressed-early", "waits-for-grid"])
def test_equals_read_series_then_read_labels(monkeypatch: pytest.MonkeyPatch, early: bool) -> None:
    """Both paths (a file within the early budget, and one that waits for the exact check)."""
    if not early:
        monkeypatch.setattr(labels_mod, "EARLY_BYTES_PER_INPUT_BYTE", 0)
    volume = read_series(SERIES, pixels=False)
    _same(read_series_and_labels(SERIES, LABELS), (volume, read_labels(LABELS, volume)))


def test_series_error_comes_first(tmp_path: Path) -> None:
    """A broken series and a broken label file: the series' error, as in sequential reading."""
    (tmp_path / "series").mkdir()
    (tmp_path / "series" / "a.txt").write_text("not dicom")
    bad_labels = tmp_path / "labels.nii.gz"
    bad_labels.write_bytes(gzip.compress(b"\x5c\x01\x00\x00" + bytes(400)))
    with pytest.raises(NotDicomError):
        read_series_and_labels(tmp_path / "series", bad_labels)
    with pytest.raises(InputNotFoundError, match="series input"):
        read_series_and_labels(tmp_path / "missing", LABELS)


def test_series_error_while_the_label_reader_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The label reader waiting for the grid is released when the series fails (no hang)."""
    monkeypatch.setattr(labels_mod, "EARLY_BYTES_PER_INPUT_BYTE", 0)
    (tmp_path / "series").mkdir()
    (tmp_path / "series" / "a.txt").write_text("not dicom")
    with pytest.raises(NotDicomError):
        read_series_and_labels(tmp_path / "series", LABELS)


def test_label_error_after_a_good_series(tmp_path: Path) -> None:
    copy = tmp_path / "labels.nii.gz"
    shutil.copy(LABELS, copy)
    raw = bytearray(gzip.decompress(copy.read_bytes()))
    raw[40:48] = np.array([3, 10, 10, 10], dtype="<i2").tobytes()  # another grid: 10 x 10 x 10
    copy.write_bytes(gzip.compress(bytes(raw[: 352 + 1000])))
    with pytest.raises(LabelError, match="does not cover the same physical region"):
        read_series_and_labels(SERIES, copy)


def test_gzip_bomb_waits_for_the_grid_and_is_refused_unread(tmp_path: Path) -> None:
    """A header declaring 2 GiB over a few bytes exceeds the early budget; the exact check, made
    once the series is known, refuses it by its header (a read would fail as truncated)."""
    raw = bytearray(gzip.decompress(LABELS.read_bytes()))
    raw[40:48] = np.array([3, 2048, 1024, 1024], dtype="<i2").tobytes()
    bomb = tmp_path / "bomb.nii.gz"
    bomb.write_bytes(gzip.compress(bytes(raw[:352]) + bytes(4096)))
    with pytest.raises(LabelError, match="declares a grid of 2147483648 voxels"):
        read_series_and_labels(SERIES, bomb)


def test_dicom_seg_labels_are_read_after_the_series() -> None:
    volume = read_series(SERIES, pixels=False)
    _same(
        read_series_and_labels(SERIES, SAMPLE_DICOM / "seg.dcm"),
        (volume, read_labels(SAMPLE_DICOM / "seg.dcm", volume)),
    )
