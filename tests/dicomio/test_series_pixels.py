"""Pixel decoding across transfer syntaxes, and every broken input ending in the right error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from dicomio import (
    CorruptFileError,
    DicomIOError,
    GeometryError,
    InputNotFoundError,
    NotDicomError,
    SeriesSelectionError,
    UnsupportedError,
    read_series,
)
from dicomio._pixels import _decode_file
from tests.dicomio._series_synth import write_stack

MR_SMALL = "pydicom-testfiles/mr"
MR_ENCODINGS = [
    "MR_small_RLE.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_expb.dcm",
    "MR_small_implicit.dcm",
    "MR_small_padded.dcm",
]


@pytest.mark.parametrize("name", MR_ENCODINGS, ids=[n[9:-4] for n in MR_ENCODINGS])
def test_mr_small_encodings_decode_identically(shared_data: Path, name: str) -> None:
    """RLE, JPEG-LS, J2K, big endian, implicit VR and padded MR_small equal the native file."""
    ref = read_series(shared_data / MR_SMALL / "MR_small.dcm")
    vol = read_series(shared_data / MR_SMALL / name)
    assert ref.pixels is not None and vol.pixels is not None
    assert vol.pixels.dtype == ref.pixels.dtype == np.int16
    assert np.array_equal(vol.pixels, ref.pixels)
    assert vol.geometry.same_grid(ref.geometry)
    assert vol.spacing_zyx_mm[0] == pytest.approx(0.8)  # single slice: SliceThickness


EMRI = [
    "emri_small_RLE.dcm",
    "emri_small_big_endian.dcm",
    "emri_small_jpeg_2k_lossless.dcm",
    "emri_small_jpeg_ls_lossless.dcm",
]


@pytest.mark.parametrize("name", EMRI, ids=[n[11:-4] for n in EMRI])
def test_enhanced_mr_frames_decode_identically(shared_data: Path, name: str) -> None:
    """The 10 frames of emri_small decode to the same values in every encoding."""
    ref = _decode_file(shared_data / "pydicom-data/mr/emri_small.dcm")
    got = _decode_file(shared_data / "pydicom-data/mr" / name)
    assert ref.shape == (10, 64, 64)
    assert np.array_equal(got.astype(np.int64), ref.astype(np.int64))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("pydicom-data/ct/693_J2KR.dcm", "pydicom-data/ct/693_UNCR.dcm"),
        ("pydicom-testfiles/mr/MR_small_jp2klossless.dcm", "pydicom-testfiles/mr/MR_small.dcm"),
    ],
    ids=["ct-j2k-bitsstored-mismatch", "mr-j2k"],
)
def test_compressed_equals_reference(shared_data: Path, a: str, b: str) -> None:
    """A compressed image decodes to the same values as its reference encoding."""
    got = _decode_file(shared_data / a).astype(np.int64)
    ref = _decode_file(shared_data / b).astype(np.int64)
    assert np.array_equal(got, ref)


@pytest.mark.parametrize(
    "rel",
    ["pydicom-testfiles/broken/JPGExtended.dcm", "pydicom-data/other/JPEG-LL.dcm"],
    ids=["jpeg-extended-12bit", "jpeg-lossless"],
)
def test_jpeg_nm_images_decode(shared_data: Path, rel: str) -> None:
    """JPEG extended and lossless NM images decode to their 1024 x 256 matrix."""
    assert _decode_file(shared_data / rel).shape == (1024, 256)


def test_ct_j2k_reads_as_hu(shared_data: Path) -> None:
    """The JPEG 2000 CT and its uncompressed twin read to identical HU volumes."""
    a = read_series(shared_data / "pydicom-data/ct/693_J2KR.dcm")
    b = read_series(shared_data / "pydicom-data/ct/693_UNCR.dcm")
    assert a.pixels is not None and b.pixels is not None
    assert np.array_equal(a.pixels, b.pixels)
    assert a.spacing_zyx_mm[0] == pytest.approx(20.0)  # SpacingBetweenSlices wins


@pytest.mark.parametrize(
    "rel",
    [
        "pydicom-data/ct/bad_sequence.dcm",
        "pydicom-data/mr/MR2_J2KI.dcm",
        "pydicom-testfiles/ct/J2K_pixelrep_mismatch.dcm",
    ],
    ids=["jpeg-lossless-bad-sequence", "mr-j2k-lossy", "j2k-sign-mismatch"],
)
def test_odd_single_files_read(shared_data: Path, rel: str) -> None:
    """Odd but valid files (VR UN, bad sequences, lossy J2K, sign mismatch) read with pixels."""
    vol = read_series(shared_data / rel)
    assert vol.pixels is not None
    assert vol.pixels.shape == vol.geometry.shape_zyx
    assert vol.info.file_sha256


BROKEN: list[tuple[str, type[DicomIOError]]] = [
    ("pydicom-testfiles/broken/ExplVR_LitEndNoMeta.dcm", SeriesSelectionError),
    ("pydicom-testfiles/broken/JPEG-lossy.dcm", UnsupportedError),
    ("pydicom-testfiles/broken/JPEG2000-embedded-sequence-delimiter.dcm", UnsupportedError),
    ("pydicom-testfiles/broken/JPEG2000.dcm", UnsupportedError),
    ("pydicom-testfiles/broken/JPEGLSNearLossless_16.dcm", UnsupportedError),
    ("pydicom-testfiles/broken/JPGExtended.dcm", UnsupportedError),
    ("pydicom-testfiles/broken/MR_truncated.dcm", CorruptFileError),
    ("pydicom-testfiles/broken/badVR.dcm", SeriesSelectionError),
    ("pydicom-testfiles/broken/image_dfl.dcm", UnsupportedError),
    ("pydicom-testfiles/broken/meta_missing_tsyntax.dcm", CorruptFileError),
    ("pydicom-data/mr/emri_small_jpeg_2k_lossless_too_short.dcm", CorruptFileError),
    ("pydicom-testfiles/rt/rtstruct.dcm", SeriesSelectionError),
    ("pydicom-testfiles/ct/no_meta.dcm", NotDicomError),
    ("dcmqi-liver-seg/segmentations/liver.dcm", SeriesSelectionError),
    ("rt-utils-testdata/one_slice_data/0.dcm", GeometryError),
    ("pydicom-data/ct/explicit_VR-UN.dcm", GeometryError),
]


@pytest.mark.parametrize("pixels", [False, True], ids=["header", "pixels"])
@pytest.mark.parametrize(
    ("rel", "error"), BROKEN, ids=[Path(r).name.removesuffix(".dcm") for r, _ in BROKEN]
)
def test_broken_files_raise_one_line_errors(
    shared_data: Path, rel: str, error: type[DicomIOError], pixels: bool
) -> None:
    """Every broken or unsupported file raises its DicomIOError subclass with one clear line."""
    with pytest.raises(error) as info:
        read_series(shared_data / rel, pixels=pixels)
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 1500
    assert str(shared_data) not in msg


def _random_bytes(tmp: Path) -> Path:
    (tmp / "noise.dcm").write_bytes(np.random.default_rng(1).bytes(4096))
    return tmp


def _empty_folder(tmp: Path) -> Path:
    (tmp / "empty").mkdir()
    return tmp / "empty"


def _only_hidden(tmp: Path) -> Path:
    (tmp / ".DS_Store").write_bytes(b"x")
    (tmp / "DICOMDIR").write_bytes(b"x")
    return tmp


def _truncated_header(tmp: Path) -> Path:
    src = write_stack(tmp / "src", [(0, 0, 0)])[0]
    (tmp / "cut").mkdir()
    (tmp / "cut" / "x.dcm").write_bytes(src.read_bytes()[:200])
    return tmp / "cut"


def _truncated_pixels(tmp: Path) -> Path:
    src = write_stack(tmp / "src", [(0, 0, 0), (0, 0, 1)])
    src[1].write_bytes(src[1].read_bytes()[:-10])
    return tmp / "src"


def _empty_file(tmp: Path) -> Path:
    (tmp / "zero.dcm").write_bytes(b"")
    return tmp / "zero.dcm"


def _two_series(tmp: Path) -> Path:
    write_stack(tmp / "a", [(0, 0, 0), (0, 0, 1)], series_uid="1.2.3.1", description="first")
    write_stack(tmp / "b", [(0, 0, 0)], series_uid="1.2.3.2", description="second")
    return tmp


CASES: list[tuple[str, Callable[[Path], Path], type[DicomIOError], str]] = [
    ("missing-path", lambda t: t / "nope", InputNotFoundError, "does not exist"),
    ("empty-folder", _empty_folder, InputNotFoundError, "holds no files"),
    ("only-hidden-files", _only_hidden, InputNotFoundError, "holds no files"),
    ("random-bytes", _random_bytes, NotDicomError, "not DICOM"),
    ("empty-file", _empty_file, NotDicomError, "not DICOM"),
    ("truncated-header", _truncated_header, CorruptFileError, "x.dcm"),
    ("truncated-pixels", _truncated_pixels, CorruptFileError, "pixel data"),
    ("two-series", _two_series, SeriesSelectionError, "2 image series"),
]


@pytest.mark.parametrize(("name", "make", "error", "needle"), CASES, ids=[c[0] for c in CASES])
def test_bad_inputs(
    tmp_path: Path, name: str, make: Callable[[Path], Path], error: type[DicomIOError], needle: str
) -> None:
    """Missing, empty, non-DICOM, truncated and ambiguous inputs raise the matching error."""
    with pytest.raises(error, match=needle) as info:
        read_series(make(tmp_path), pixels=False)
    assert "\n" not in str(info.value)


def test_series_listing_names_each_series(tmp_path: Path) -> None:
    """The ambiguity error lists UID, modality, description and slice count of every series."""
    with pytest.raises(SeriesSelectionError) as info:
        read_series(_two_series(tmp_path), pixels=False)
    msg = str(info.value)
    assert "1.2.3.1: CT, 'first', 2 slice(s)" in msg
    assert "1.2.3.2: CT, 'second', 1 slice(s)" in msg
    assert "SYNTH" not in msg


def test_series_uid_picks_one_and_unknown_uid_is_refused(tmp_path: Path) -> None:
    """--series-uid picks a series; a UID that is not there is an error listing what is."""
    folder = _two_series(tmp_path)
    assert read_series(folder, "1.2.3.1", pixels=False).geometry.shape_zyx[0] == 2
    assert read_series(folder, "1.2.3.2", pixels=False).info.series_instance_uid == "1.2.3.2"
    with pytest.raises(SeriesSelectionError, match=r"1\.2\.3\.9 is not in the input"):
        read_series(folder, "1.2.3.9", pixels=False)


def test_non_dicom_files_beside_dicom_are_skipped_with_warning(tmp_path: Path) -> None:
    """A stray text file in a DICOM folder is skipped and reported in the warnings."""
    write_stack(tmp_path, [(0, 0, 0), (0, 0, 1)])
    (tmp_path / "notes.txt").write_text("hello")
    vol = read_series(tmp_path, pixels=False)
    assert vol.geometry.shape_zyx[0] == 2
    assert any("not DICOM" in w and "notes.txt" in w for w in vol.info.warnings)
