"""The fast header scanner agrees with pydicom, and never raises on damaged bytes."""

from __future__ import annotations

import dataclasses
import mmap
from pathlib import Path

import numpy as np
import pytest
from pydicom.datadict import dictionary_VR, tag_for_keyword

from dicomio._fastheader import WANTED, scan
from dicomio._headers import Header, _fast, _slow, read_header
from tests.conftest import SAMPLE_DICOM

_SKIP_SUFFIXES = (".md", ".csv", ".nrrd", ".gz", ".json", ".nii", ".txt")


def test_wanted_table_matches_the_dictionary() -> None:
    """Every tag and VR the scanner reads equals pydicom's data dictionary."""
    for keyword, (tag, vr) in WANTED.items():
        assert tag_for_keyword(keyword) == tag, keyword
        assert dictionary_VR(tag) == vr, keyword


def _both(path: Path) -> tuple[Header | None, Header | Exception | None]:
    size = path.stat().st_size
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        fast = _fast(path, mm, None, size)
        try:
            slow: Header | Exception | None = _slow(path, fh, None, size, True)
        except Exception as exc:  # the comparison below reports it
            slow = exc
    return fast, slow


def _dicom_files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not p.name.endswith(_SKIP_SUFFIXES) and p.stat().st_size > 132
    )


def test_fast_scanner_equals_pydicom_on_all_shared_files(shared_data: Path) -> None:
    """On every real file the scanner takes, its Header equals the pydicom path's field by field."""
    taken = 0
    for path in _dicom_files(shared_data):
        fast, slow = _both(path)
        if fast is None:
            continue
        taken += 1
        assert isinstance(slow, Header), (path.name, slow)
        for f in dataclasses.fields(Header):
            assert getattr(fast, f.name) == getattr(slow, f.name), (path.name, f.name)
    assert taken >= 100


def test_enhanced_multiframe_goes_through_pydicom(shared_data: Path) -> None:
    """Functional groups are left to pydicom: the scanner declines Enhanced objects."""
    with open(shared_data / "pydicom-data/ct/eCT_Supplemental.dcm", "rb") as fh:
        assert scan(fh.read()) is None
    h = read_header(shared_data / "pydicom-data/ct/eCT_Supplemental.dcm")
    assert h is not None and h.multiframe and len(h.frame_geoms) == 2


def test_damaged_bytes_never_raise_from_the_scanner() -> None:
    """Truncations and bit flips of a real file give a result or None, never an exception."""
    data = (sorted((SAMPLE_DICOM / "ct").iterdir())[0]).read_bytes()
    for cut in range(0, 2000, 7):
        scan(data[:cut])
    rng = np.random.default_rng(0)
    for _ in range(300):
        buf = bytearray(data[:3000])
        for i in rng.integers(132, len(buf), size=4):
            buf[int(i)] = int(rng.integers(0, 256))
        scan(bytes(buf))


@pytest.mark.parametrize("hash_file", [False, True], ids=["no-hash", "hash"])
def test_read_header_hash_option(tmp_path: Path, hash_file: bool) -> None:
    """read_header hashes the file only when asked."""
    f = sorted((SAMPLE_DICOM / "ct").iterdir())[0]
    h = read_header(f, hash_file=hash_file)
    assert h is not None
    assert (h.sha256 is not None) is hash_file


def test_native_pixel_read_equals_pydicom(shared_data: Path) -> None:
    """Uncompressed pixels read straight from the file equal pydicom's decode on real files."""
    from dicomio._pixels import _decode_file, _read_native

    compared = 0
    for path in _dicom_files(shared_data):
        try:
            h = read_header(path)
        except Exception:  # corrupt files are covered elsewhere
            continue
        if h is None or h.pixel_problem:
            continue
        native = _read_native(h)
        if native is None:
            continue
        ref = _decode_file(path).reshape(native.shape)
        assert native.dtype == ref.dtype, path.name
        assert np.array_equal(native, ref), path.name
        compared += 1
    assert compared >= 50
