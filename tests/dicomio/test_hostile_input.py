"""Hostile input through the dicomio API: every bad file ends in one specific DicomIOError.

A valid synthetic study (the fuzzers' seed study: a 4-slice CT phantom, its label map, SEG and
RTSTRUCT) is corrupted in one precise way per case: truncated at every 16th of its length and
inside its header, random bytes, wrong VRs, huge declared lengths, inconsistent pixel data,
unsafe zips, label maps of the wrong geometry or type, SEGs and RTSTRUCTs that are malformed or
drawn on other images. Cases marked "fuzz" rebuild an input the fuzzers in ``benchmarks/`` found
to crash a reader (fixed since).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import UID, ImplicitVRLittleEndian

import dicomio
from dicomio import (
    ArchiveError,
    CorruptFileError,
    DicomIOError,
    GeometryError,
    ImageVolume,
    InputNotFoundError,
    LabelError,
    NotDicomError,
    SeriesSelectionError,
    UnsupportedError,
)
from tests.dicomio import _hostile as h

ErrorType = type[DicomIOError]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> h.SeedStudy:
    """The valid study every case corrupts."""
    return h.write_seed_study(tmp_path_factory.mktemp("seed"))


@pytest.fixture(scope="module")
def target(study: h.SeedStudy) -> ImageVolume:
    """The seed series, headers only: the grid segmentations are read onto."""
    return dicomio.read_series(study.ct_dir, pixels=False)


def _meta_end(path: Path) -> int:
    """Offset of the first dataset element after the file meta group."""
    data = path.read_bytes()
    group_length = int.from_bytes(data[140:144], "little")  # (0002,0000) UL value
    return 144 + group_length


def _cuts(size: int, header: list[int]) -> list[int]:
    return sorted({size * k // 16 for k in range(16)} | {c for c in header if c < size})


def _expected_cut_error(cut: int, meta_end: int) -> tuple[ErrorType, ...]:
    if cut < 132:
        return (NotDicomError,)
    if cut < meta_end:  # inside the file meta: DICOM by its prefix, but unreadable
        return (NotDicomError, CorruptFileError)
    return (CorruptFileError,)


HEADER_CUTS = [1, 64, 128, 131, 132, 136, 140, 150, 200, 300, 400, 500]

# ------------------------------------------------------------------------------------------------
# Series: truncation, random bytes


def test_truncated_slice_alone(study: h.SeedStudy, tmp_path: Path) -> None:
    """A slice cut at every 16th of its length and inside its header is refused on its own."""
    src = study.ct_files[1]
    meta_end = _meta_end(src)
    for cut in _cuts(src.stat().st_size, HEADER_CUTS):
        path = h.truncate(src, tmp_path / f"cut{cut}" / "IM.dcm", cut)
        with pytest.raises(DicomIOError) as info:
            dicomio.read_series(path, pixels=True)
        assert isinstance(info.value, _expected_cut_error(cut, meta_end)), (cut, info.value)


def test_truncated_slice_among_valid_ones(study: h.SeedStudy, tmp_path: Path) -> None:
    """A DICOM slice cut anywhere after its prefix makes the series fail, headers only too."""
    src = study.ct_files[1]
    for cut in [c for c in _cuts(src.stat().st_size, HEADER_CUTS) if c >= 132]:
        folder = h.copy_study_slices(study, tmp_path / f"cut{cut}")
        h.truncate(src, folder / src.name, cut)
        with pytest.raises(CorruptFileError, match=src.name):
            dicomio.read_series(folder, pixels=False)


@pytest.mark.parametrize(
    ("size", "dicm", "expected"),
    [
        (1, False, NotDicomError),
        (131, False, NotDicomError),
        (132, False, NotDicomError),
        (5000, False, NotDicomError),
        (0, True, CorruptFileError),
        (16, True, CorruptFileError),
        (5000, True, CorruptFileError),
    ],
    ids=["1", "131", "132", "5000", "dicm-only", "dicm-16", "dicm-5000"],
)
def test_random_bytes_as_series(tmp_path: Path, size: int, dicm: bool, expected: ErrorType) -> None:
    """Random bytes are not DICOM; after a DICM prefix they are a corrupt DICOM file."""
    path = tmp_path / "x.dcm"
    path.write_bytes(h.random_bytes(size, seed=size, dicm=dicm))
    with pytest.raises(expected):
        dicomio.read_series(path)


@pytest.mark.parametrize("dicm", [False, True], ids=["plain", "dicm"])
def test_random_bytes_as_labels(tmp_path: Path, target: ImageVolume, dicm: bool) -> None:
    """Random bytes given as a segmentation are refused as not DICOM / corrupt."""
    path = tmp_path / "labels.dcm"
    path.write_bytes(h.random_bytes(3000, seed=7, dicm=dicm))
    with pytest.raises(CorruptFileError if dicm else NotDicomError):
        dicomio.read_labels(path, target)


def test_random_files_beside_a_series_are_skipped(study: h.SeedStudy, tmp_path: Path) -> None:
    """Non-DICOM files beside a series are skipped and counted in a warning."""
    folder = h.copy_study_slices(study, tmp_path / "s")
    (folder / "notes.bin").write_bytes(h.random_bytes(4000, seed=3, dicm=False))
    volume = dicomio.read_series(folder, pixels=False)
    assert volume.geometry.shape_zyx == (4, 24, 24)
    assert any("not DICOM" in w for w in volume.info.warnings)


# ------------------------------------------------------------------------------------------------
# Series: wrong values, wrong VRs, inconsistent pixel data


def _rgb(ds: Dataset) -> None:
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = bytes(int(ds.Rows) * int(ds.Columns) * 3)


def _pixel_data(factor: float) -> h.Mutation:
    def mutate(ds: Dataset) -> None:
        data = bytes(ds.PixelData)
        ds.PixelData = (data * 2)[: int(len(data) * factor)]

    return mutate


def _delete(keyword: str) -> h.Mutation:
    def mutate(ds: Dataset) -> None:
        delattr(ds, keyword)

    return mutate


def _transfer_syntax(uid: str) -> h.Mutation:
    def mutate(ds: Dataset) -> None:
        ds.file_meta.TransferSyntaxUID = UID(uid)

    return mutate


SPACING, ORIENTATION, POSITION = "PixelSpacing", "ImageOrientationPatient", "ImagePositionPatient"
C, G, U = CorruptFileError, GeometryError, UnsupportedError

# (id, mutation, error, whether the error needs the pixels decoded)
SERIES_CASES: list[tuple[str, h.Mutation, ErrorType, bool]] = [
    ("rows-as-text", h.raw("Rows", "LO", "abc"), C, False),
    ("columns-zero", h.raw("Columns", "US", 0), C, False),
    ("pixel-spacing-text", h.raw(SPACING, "LO", "x\\y"), G, False),
    ("pixel-spacing-negative", h.raw(SPACING, "DS", ["-0.7", "0.7"]), G, False),
    ("pixel-spacing-zero", h.raw(SPACING, "DS", ["0", "0"]), G, False),
    ("pixel-spacing-1e30", h.raw(SPACING, "DS", ["1e30", "1e30"]), G, False),
    ("orientation-zeros", h.raw(ORIENTATION, "DS", ["0"] * 6), G, False),
    ("orientation-not-orthogonal", h.raw(ORIENTATION, "DS", [1, 0, 0, 1, 0, 0]), G, False),
    ("orientation-not-unit", h.raw(ORIENTATION, "DS", [2, 0, 0, 0, 2, 0]), G, False),
    ("position-nan", h.raw(POSITION, "LO", "NaN\\0\\0"), G, False),
    ("position-inf", h.raw(POSITION, "LO", "inf\\0\\0"), G, False),
    ("position-1e308", h.raw(POSITION, "DS", ["1e308"] * 3), G, False),
    ("position-missing", _delete(POSITION), G, False),
    ("bits-allocated-1", h.raw("BitsAllocated", "US", 1), C, False),
    ("bits-allocated-12", h.raw("BitsAllocated", "US", 12), U, False),
    ("bits-allocated-64", h.raw("BitsAllocated", "US", 64), C, False),
    ("rgb-ct", _rgb, U, False),
    ("photometric-rgb-one-sample", h.raw("PhotometricInterpretation", "CS", "RGB"), U, False),
    ("pixel-data-half", _pixel_data(0.5), C, False),
    ("pixel-data-double", _pixel_data(2.0), C, False),
    ("pixel-data-missing", _delete("PixelData"), C, False),
    ("frames-1e9", h.raw("NumberOfFrames", "IS", "1000000000"), C, False),
    ("frames-text", h.raw("NumberOfFrames", "LO", "abc"), C, False),
    ("frames-zero", h.raw("NumberOfFrames", "IS", "0"), C, False),
    ("rescale-intercept-1e30", h.raw("RescaleIntercept", "DS", "1e30"), C, True),
    ("rescale-slope-1e30", h.raw("RescaleSlope", "DS", "1e30"), C, True),
    ("transfer-syntax-unknown", _transfer_syntax("1.2.3.4.5"), U, False),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [c[1:3] for c in SERIES_CASES], ids=[c[0] for c in SERIES_CASES]
)
def test_every_slice_corrupted(
    study: h.SeedStudy, tmp_path: Path, mutate: h.Mutation, expected: ErrorType
) -> None:
    """A series whose slices all carry the same bad value is refused with the error named."""
    folder = h.rewrite_series(study, tmp_path / "s", mutate)
    with pytest.raises(expected):
        dicomio.read_series(folder, pixels=True)


@pytest.mark.parametrize(
    ("mutate", "expected", "pixels"),
    [c[1:] for c in SERIES_CASES],
    ids=[c[0] for c in SERIES_CASES],
)
def test_one_slice_corrupted(
    study: h.SeedStudy, tmp_path: Path, mutate: h.Mutation, expected: ErrorType, pixels: bool
) -> None:
    """One bad slice among valid ones fails the series (headers only, unless pixels matter)."""
    folder = h.rewrite_series(study, tmp_path / "s", mutate, which=[1])
    with pytest.raises(expected):
        dicomio.read_series(folder, pixels=pixels)


def test_rle_segment_overflow_panicking_the_decoder(tmp_path: Path) -> None:
    """RLE data that makes the Rust decoder panic is corrupt pixel data (fuzz)."""
    path = h.rle_overflowing(tmp_path)
    assert dicomio.read_series(path, pixels=False).geometry.shape_zyx == (1, 24, 24)
    with pytest.raises(CorruptFileError, match="cannot be decoded") as info:
        dicomio.read_series(path, pixels=True)
    assert type(info.value.__cause__).__name__ == "PanicException"


def test_absurd_rescale_is_harmless_without_pixels(study: h.SeedStudy, tmp_path: Path) -> None:
    """A header-only read (what a measurement needs) does not depend on the rescale values."""
    folder = h.rewrite_series(study, tmp_path / "s", h.raw("RescaleIntercept", "DS", "1e30"))
    assert dicomio.read_series(folder, pixels=False).geometry.shape_zyx == (4, 24, 24)


def test_negative_slice_thickness_is_ignored(study: h.SeedStudy, tmp_path: Path) -> None:
    """A negative SliceThickness is no thickness: the spacing stands in for the RECIST rule."""
    folder = h.rewrite_series(study, tmp_path / "s", h.raw("SliceThickness", "DS", "-5"))
    assert dicomio.read_series(folder, pixels=False).info.slice_thickness_mm is None


def test_pixel_padding_below_one_frame_is_accepted(study: h.SeedStudy, tmp_path: Path) -> None:
    """Pixel data longer than needed by less than one frame is padding, not a header mismatch."""
    folder = h.rewrite_series(study, tmp_path / "s", _pixel_data(1.25))
    volume = dicomio.read_series(folder, pixels=True)
    assert volume.pixels is not None and volume.pixels.shape == (4, 24, 24)


# (id, tag, VR, declared length)
LENGTH_CASES = [
    ("text-value-0xFFFFFFF0", 0x0040A160, b"UT", 0xFFFFFFF0),
    ("pixel-data-0xFFFFFFF0", 0x7FE00010, b"OW", 0xFFFFFFF0),
    ("series-description-0xFFFF", 0x0008103E, b"LO", 0xFFFF),
]


@pytest.mark.parametrize(
    ("tag", "vr", "length"), [c[1:] for c in LENGTH_CASES], ids=[c[0] for c in LENGTH_CASES]
)
def test_huge_declared_element_length(
    study: h.SeedStudy, tmp_path: Path, tag: int, vr: bytes, length: int
) -> None:
    """An element that declares more bytes than the file holds makes the file corrupt."""

    def add(ds: Dataset) -> None:
        if tag not in ds:
            ds.add_new(tag, vr.decode(), "x")

    src = h.dicom_with(study.ct_files[1], tmp_path / "src" / "IM.dcm", add)
    bad = h.patch_element_length(src, tmp_path / "bad" / "IM.dcm", tag, vr, length)
    with pytest.raises(CorruptFileError):
        dicomio.read_series(bad, pixels=False)
    folder = h.copy_study_slices(study, tmp_path / "folder")
    (folder / study.ct_files[1].name).write_bytes(bad.read_bytes())
    with pytest.raises(CorruptFileError):
        dicomio.read_series(folder, pixels=False)


def test_huge_declared_length_in_implicit_vr(study: h.SeedStudy, tmp_path: Path) -> None:
    """In Implicit VR every length has 4 bytes: 0xFFFFFFF0 on a short text is refused too."""

    def implicit(ds: Dataset) -> None:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian

    src = h.dicom_with(study.ct_files[1], tmp_path / "src" / "IM.dcm", implicit)
    data = src.read_bytes()
    tag = b"\x08\x00\x3e\x10"  # SeriesDescription
    at = data.index(tag)
    bad = tmp_path / "IM.dcm"
    bad.write_bytes(data[: at + 4] + (0xFFFFFFF0).to_bytes(4, "little") + data[at + 8 :])
    with pytest.raises(CorruptFileError):
        dicomio.read_series(bad, pixels=False)


# ------------------------------------------------------------------------------------------------
# Zips


def _slices(study: h.SeedStudy) -> dict[str, bytes]:
    return {f"s/{p.name}": p.read_bytes() for p in study.ct_files}


ZipCase = Callable[[h.SeedStudy, Path], Path]


def _zip_nested(depth: int) -> ZipCase:
    def build(study: h.SeedStudy, tmp: Path) -> Path:
        (tmp / "n.zip").write_bytes(h.nested_zip(_slices(study), depth))
        return tmp / "n.zip"

    return build


def _zip_named(name: str, symlink: bool = False) -> ZipCase:
    def build(study: h.SeedStudy, tmp: Path) -> Path:
        members = {**_slices(study), name: study.ct_files[0].read_bytes()}
        return h.zip_of(tmp / "z.zip", members, symlinks=[name] if symlink else [])

    return build


def _zip_lying(study: h.SeedStudy, tmp: Path) -> Path:
    return h.lying_zip(tmp / "lie.zip", declared=1000, actual=8 << 20)


def _zip_bomb(study: h.SeedStudy, tmp: Path) -> Path:
    return h.zip_of(tmp / "bomb.zip", {"big.dcm": b"\0" * (4 << 20)})


def _zip_damaged(study: h.SeedStudy, tmp: Path) -> Path:
    return h.corrupt_deflate(tmp / "bad.zip", study)


def _zip_truncated(study: h.SeedStudy, tmp: Path) -> Path:
    whole = h.zip_of(tmp / "whole.zip", _slices(study))
    return h.truncate(whole, tmp / "half.zip", whole.stat().st_size // 2)


def _zip_encrypted(study: h.SeedStudy, tmp: Path) -> Path:
    z = h.zip_of(tmp / "enc.zip", {"IM.dcm": study.ct_files[0].read_bytes()})
    data = bytearray(z.read_bytes())
    data[6] |= 1  # local header general purpose flag: encrypted
    central = bytes(data).rfind(b"PK\x01\x02")
    data[central + 8] |= 1
    z.write_bytes(bytes(data))
    return z


def _zip_name_not_utf8(study: h.SeedStudy, tmp: Path) -> Path:
    """A member name flagged UTF-8 that is not (zipfile's UnicodeDecodeError: fuzz)."""
    z = h.zip_of(tmp / "utf.zip", {"IM\u00d5.dcm": study.ct_files[0].read_bytes()})
    data = z.read_bytes()
    assert data.count("\u00d5".encode()) == 2  # local header and central directory
    z.write_bytes(data.replace("\u00d5".encode(), b"\xd5\x41"))
    return z


def _zip_only_unnamed(study: h.SeedStudy, tmp: Path) -> Path:
    return h.zip_of(tmp / "unnamed.zip", {"": study.ct_files[0].read_bytes()})


ZIP_CASES: list[tuple[str, ZipCase, ErrorType, str]] = [
    ("nested-depth-2", _zip_nested(2), ArchiveError, "itself a zip"),
    ("nested-depth-6", _zip_nested(6), ArchiveError, "itself a zip"),
    ("traversal", _zip_named("../../escaped.dcm"), ArchiveError, "outside the archive"),
    ("traversal-deep", _zip_named("a/b/../../../escaped.dcm"), ArchiveError, "outside"),
    ("absolute", _zip_named("/tmp/escaped.dcm"), ArchiveError, "absolute"),
    ("symlink", _zip_named("link.dcm", symlink=True), ArchiveError, "symbolic link"),
    ("inflates-beyond-its-size", _zip_lying, ArchiveError, "cannot be read|larger than"),
    ("bomb-ratio", _zip_bomb, ArchiveError, "zip bomb"),
    ("damaged-deflate-fuzz", _zip_damaged, ArchiveError, "cannot be read"),
    ("truncated", _zip_truncated, ArchiveError, "cannot be read"),
    ("encrypted", _zip_encrypted, ArchiveError, "encrypted"),
    ("name-not-utf8-fuzz", _zip_name_not_utf8, ArchiveError, "cannot be read"),
    ("only-an-unnamed-member-fuzz", _zip_only_unnamed, InputNotFoundError, "no files"),
]


@pytest.mark.parametrize(
    ("build", "expected", "needle"), [c[1:] for c in ZIP_CASES], ids=[c[0] for c in ZIP_CASES]
)
def test_unsafe_or_broken_zip(
    study: h.SeedStudy, tmp_path: Path, build: ZipCase, expected: ErrorType, needle: str
) -> None:
    """Unsafe or broken zips are refused, and nothing lands outside the extraction folder."""
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    path = build(study, work)
    with pytest.raises(expected, match=needle):
        dicomio.read_series(path, pixels=False)
    assert not list(tmp_path.rglob("escaped.dcm"))
    assert not Path("/tmp/escaped.dcm").exists()


# ------------------------------------------------------------------------------------------------
# Label maps and masks (NIfTI / NRRD)

LabelCase = Callable[[h.SeedStudy, Path], Path]


def _labels(study: h.SeedStudy) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(sitk.ReadImage(str(study.labels_nrrd)))


def _other_region(study: h.SeedStudy, tmp: Path) -> Path:
    return h.label_image(study.labels_nrrd, tmp / "l.nii.gz", origin_shift_mm=1000.0)


def _fewer_slices(study: h.SeedStudy, tmp: Path) -> Path:
    return h.label_image(study.labels_nrrd, tmp / "l.nii.gz", _labels(study)[:3].copy())


def _two_d(study: h.SeedStudy, tmp: Path) -> Path:
    return h.label_image(study.labels_nrrd, tmp / "l.nii.gz", _labels(study)[1].copy())


def _four_d(study: h.SeedStudy, tmp: Path) -> Path:
    a = _labels(study)
    return h.label_image(study.labels_nrrd, tmp / "l.nii.gz", np.stack([a, a]))


def _rgb_labels(study: h.SeedStudy, tmp: Path) -> Path:
    a = _labels(study).astype(np.uint8)
    return h.label_image(study.labels_nrrd, tmp / "l.nii.gz", np.stack([a, a, a], -1), vector=True)


def _values(kind: str) -> LabelCase:
    def build(study: h.SeedStudy, tmp: Path) -> Path:
        a = _labels(study).astype(np.float64)
        if kind == "fractional":
            a = a * 0.5
        elif kind == "nan":
            a[0, 0, 0] = np.nan
        elif kind == "inf":
            a[0, 0, 0] = np.inf
        else:
            a = a * 1e300
        return h.label_image(study.labels_nrrd, tmp / "l.nrrd", a)

    return build


def _huge_grid_header(study: h.SeedStudy, tmp: Path) -> Path:
    return h.nifti_claiming(study.labels_nii, tmp / "l.nii", (4000, 4000, 4000))


def _gzip_of_garbage(study: h.SeedStudy, tmp: Path) -> Path:
    import gzip

    (tmp / "l.nii.gz").write_bytes(gzip.compress(h.random_bytes(2000, seed=1, dicm=False)))
    return tmp / "l.nii.gz"


def _gzip_stream_damaged_fuzz(study: h.SeedStudy, tmp: Path) -> Path:
    data = bytearray(study.labels_nii_gz.read_bytes())
    data[40:60] = bytes(b ^ 0x5A for b in data[40:60])
    (tmp / "labels").write_bytes(bytes(data))  # no suffix: the kind is told by content
    return tmp / "labels"


def _magicless_header_fuzz(study: h.SeedStudy, tmp: Path) -> Path:
    """The fuzzers' OOM: a 348-byte header without magic (Analyze) claiming a huge grid."""
    path = h.nifti_claiming(study.labels_nii, tmp / "l.nii", (24, 9496, 1024))
    data = bytearray(path.read_bytes())
    data[344:348] = b"\0\0\0\0"
    path.write_bytes(bytes(data))
    return path


def _bad_sizeof_hdr_fuzz(study: h.SeedStudy, tmp: Path) -> Path:
    """The fuzzers' 2 GB input: a bad sizeof_hdr, an ``n+1`` header claiming 150 M voxels."""
    path = h.nifti_claiming(study.labels_nii, tmp / "l.nii", (24, 6144, 1024))
    data = bytearray(path.read_bytes())
    data[0:4] = b"\x5c\x01\xf7\xff"
    path.write_bytes(bytes(data))
    return path


LABEL_CASES: list[tuple[str, LabelCase, ErrorType]] = [
    ("other-region", _other_region, LabelError),
    ("fewer-slices", _fewer_slices, LabelError),
    ("two-d", _two_d, LabelError),
    ("four-d", _four_d, LabelError),
    ("rgb", _rgb_labels, LabelError),
    ("fractional", _values("fractional"), LabelError),
    ("nan", _values("nan"), LabelError),
    ("infinite", _values("inf"), LabelError),
    ("beyond-int64", _values("huge"), LabelError),
    ("header-claims-huge-grid", _huge_grid_header, LabelError),  # refused by its header
    ("magicless-header-claims-huge-grid-fuzz", _magicless_header_fuzz, LabelError),
    ("bad-sizeof-hdr-huge-grid-fuzz", _bad_sizeof_hdr_fuzz, LabelError),
    ("gzip-of-garbage", _gzip_of_garbage, CorruptFileError),
    ("gzip-stream-damaged-fuzz", _gzip_stream_damaged_fuzz, CorruptFileError),
]


@pytest.mark.parametrize(
    ("build", "expected"), [c[1:] for c in LABEL_CASES], ids=[c[0] for c in LABEL_CASES]
)
def test_bad_label_map(
    study: h.SeedStudy, target: ImageVolume, tmp_path: Path, build: LabelCase, expected: ErrorType
) -> None:
    """Label maps of the wrong region, shape, type or values, or broken files, are refused."""
    with pytest.raises(expected):
        dicomio.read_labels(build(study, tmp_path), target)


@pytest.mark.parametrize(
    ("build", "expected"),
    [(c[1], c[2]) for c in LABEL_CASES if c[0] in ("two-d", "fractional", "other-region", "nan")],
    ids=["other-region", "two-d", "fractional", "nan"],
)
def test_bad_mask(
    study: h.SeedStudy, target: ImageVolume, tmp_path: Path, build: LabelCase, expected: ErrorType
) -> None:
    """Binary masks follow the label map rules."""
    with pytest.raises(expected):
        dicomio.read_mask(build(study, tmp_path), target)


@pytest.mark.parametrize("kind", ["nii", "nii_gz", "nrrd_raw", "nrrd"])
def test_truncated_label_file(
    study: h.SeedStudy, target: ImageVolume, tmp_path: Path, kind: str
) -> None:
    """A label file cut anywhere is corrupt: never a label map with its missing part zero-filled."""
    src = {
        "nii": study.labels_nii,
        "nii_gz": study.labels_nii_gz,
        "nrrd_raw": study.labels_nrrd_raw,
        "nrrd": study.labels_nrrd,
    }[kind]
    suffix = "".join(src.suffixes)
    for cut in _cuts(src.stat().st_size, [1, 64, 200, 347, 348, 352, 400]):
        path = h.truncate(src, tmp_path / f"cut{cut}" / f"labels{suffix}", cut)
        with pytest.raises(CorruptFileError):
            dicomio.read_labels(path, target)
        if kind.startswith("nii"):
            with pytest.raises(CorruptFileError):
                dicomio.read_mask(path, target)


def test_truncated_nifti_read_as_series(study: h.SeedStudy, tmp_path: Path) -> None:
    """A NIfTI image read as the series is checked the same way before its voxels are read."""
    path = h.truncate(study.labels_nii, tmp_path / "img.nii", study.labels_nii.stat().st_size - 1)
    assert dicomio.read_series(path, pixels=False).geometry.shape_zyx == (4, 24, 24)
    with pytest.raises(CorruptFileError):
        dicomio.read_series(path, pixels=True)


# ------------------------------------------------------------------------------------------------
# DICOM SEG


def test_truncated_seg(study: h.SeedStudy, target: ImageVolume, tmp_path: Path) -> None:
    """A SEG cut at every 16th and inside its header is refused, never read as a partial SEG."""
    meta_end = _meta_end(study.seg)
    for cut in _cuts(study.seg.stat().st_size, HEADER_CUTS):
        path = h.truncate(study.seg, tmp_path / f"seg{cut}.dcm", cut)
        with pytest.raises(DicomIOError) as info:
            dicomio.read_labels(path, target)
        assert isinstance(info.value, _expected_cut_error(cut, meta_end)), (cut, info.value)


def _new_uids(ds: Dataset) -> None:
    ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[str(ds.SOPInstanceUID)])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SeriesInstanceUID = UID("1.2.826.0.1.3680043.10.1043.99")


def test_seg_of_another_series(study: h.SeedStudy, tmp_path: Path) -> None:
    """A SEG drawn on other images (same grid, other UIDs) does not fit the series."""
    other = dicomio.read_series(
        h.rewrite_series(study, tmp_path / "other", _new_uids), pixels=False
    )
    with pytest.raises(LabelError, match="not in the series"):
        dicomio.read_labels(study.seg, other)


def _seg_case(mutate: h.Mutation) -> Callable[[h.SeedStudy, Path], Path]:
    def build(study: h.SeedStudy, tmp: Path) -> Path:
        return h.dicom_with(study.seg, tmp / "seg.dcm", mutate)

    return build


def _unknown_vr(source: str) -> Callable[[h.SeedStudy, Path], Path]:
    """ReferencedSOPInstanceUID written with the VR 'WI' (the fuzzers' NotImplementedError)."""

    def build(study: h.SeedStudy, tmp: Path) -> Path:
        src = study.seg if source == "seg" else study.rtstruct
        return h.replace_bytes(src, tmp / "x.dcm", b"\x08\x00\x55\x11UI", b"\x08\x00\x55\x11WI")

    return build


def _odd_bits_allocated(study: h.SeedStudy, tmp: Path) -> Path:
    """BitsAllocated (US) of 3 bytes in Implicit VR (the fuzzers' BytesLengthException)."""

    def implicit(ds: Dataset) -> None:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian

    src = h.dicom_with(study.seg, tmp / "implicit.dcm", implicit)
    element = b"\x28\x00\x00\x01" + (2).to_bytes(4, "little") + b"\x01\x00"
    odd = b"\x28\x00\x00\x01" + (3).to_bytes(4, "little") + b"\x01\x00\x00"
    data = src.read_bytes()
    assert data.count(element) == 1
    (tmp / "seg.dcm").write_bytes(data.replace(element, odd))
    return tmp / "seg.dcm"


def _two_valued_spatial_locations(ds: Dataset) -> None:
    """SpatialLocationsPreserved with two values (highdicom's SQLite frame index refused it)."""
    source = ds.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0]
    source.SourceImageSequence[0].SpatialLocationsPreserved = ["YES", "NO"]


SEG_CASES: list[tuple[str, Callable[[h.SeedStudy, Path], Path], ErrorType]] = [
    (
        "segmentation-type-unknown",
        _seg_case(h.raw("SegmentationType", "CS", "BANANA")),
        UnsupportedError,
    ),
    ("rows-as-text", _seg_case(h.raw("Rows", "LO", "abc")), CorruptFileError),
    ("segment-sequence-missing", _seg_case(_delete("SegmentSequence")), CorruptFileError),
    ("pixel-data-missing", _seg_case(_delete("PixelData")), CorruptFileError),
    ("unknown-vr-in-sequence-fuzz", _unknown_vr("seg"), CorruptFileError),
    ("bits-allocated-odd-length-fuzz", _odd_bits_allocated, CorruptFileError),
    (
        "spatial-locations-two-values-fuzz",
        _seg_case(_two_valued_spatial_locations),
        CorruptFileError,
    ),
    ("ct-slice-given-as-seg", lambda s, t: s.ct_files[0], UnsupportedError),
]


@pytest.mark.parametrize(
    ("build", "expected"), [c[1:] for c in SEG_CASES], ids=[c[0] for c in SEG_CASES]
)
def test_bad_seg(
    study: h.SeedStudy, target: ImageVolume, tmp_path: Path, build: LabelCase, expected: ErrorType
) -> None:
    """Malformed SEGs are refused with the error named."""
    with pytest.raises(expected):
        dicomio.read_labels(build(study, tmp_path), target)


# ------------------------------------------------------------------------------------------------
# RTSTRUCT


def test_truncated_rtstruct(study: h.SeedStudy, target: ImageVolume, tmp_path: Path) -> None:
    """An RTSTRUCT cut anywhere is refused, never read as a structure set with fewer ROIs."""
    meta_end = _meta_end(study.rtstruct)
    for cut in _cuts(study.rtstruct.stat().st_size, HEADER_CUTS):
        path = h.truncate(study.rtstruct, tmp_path / f"rt{cut}.dcm", cut)
        with pytest.raises(DicomIOError) as info:
            dicomio.read_labels(path, target)
        assert isinstance(info.value, _expected_cut_error(cut, meta_end)), (cut, info.value)


def _first_tumour_contour(ds: Dataset) -> Dataset:
    contour: Dataset = ds.ROIContourSequence[1].ContourSequence[0]
    return contour


def _contour_data(values: list[str] | str, vr: str = "DS") -> h.Mutation:
    def mutate(ds: Dataset) -> None:
        c = _first_tumour_contour(ds)
        c[0x30060050] = pydicom.DataElement(0x30060050, vr, values)

    return mutate


def _coordinates_1e30(ds: Dataset) -> None:
    c = _first_tumour_contour(ds)
    c.ContourData = ["1e30" if i % 3 != 2 else v for i, v in enumerate(c.ContourData)]


def _referencing(uid: str) -> h.Mutation:
    def mutate(ds: Dataset) -> None:
        for rc in ds.ROIContourSequence:
            for c in rc.ContourSequence:
                c.ContourImageSequence[0].ReferencedSOPInstanceUID = uid

    return mutate


def _other_frame_without_references(ds: Dataset) -> None:
    for rc in ds.ROIContourSequence:
        for c in rc.ContourSequence:
            del c.ContourImageSequence
    ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID = "1.2.3.4"
    for item in ds.StructureSetROISequence:
        item.ReferencedFrameOfReferenceUID = "1.2.3.4"


def _not_planar(ds: Dataset) -> None:
    c = _first_tumour_contour(ds)
    values = [float(v) for v in c.ContourData]
    values[2::3] = [values[2] + 6.0 * (i % 3) for i in range(len(values) // 3)]
    c.ContourData = [f"{v:.3f}" for v in values]


def _roi_number_as_text(ds: Dataset) -> None:
    ds.StructureSetROISequence[0][0x30060022] = pydicom.DataElement(0x30060022, "LO", "abc")


def _rt_case(mutate: h.Mutation) -> Callable[[h.SeedStudy, Path], Path]:
    def build(study: h.SeedStudy, tmp: Path) -> Path:
        return h.dicom_with(study.rtstruct, tmp / "rt.dcm", mutate)

    return build


RT_CASES: list[tuple[str, Callable[[h.SeedStudy, Path], Path], ErrorType]] = [
    ("coordinates-1e30", _rt_case(_coordinates_1e30), CorruptFileError),
    ("coordinate-nan", _rt_case(_contour_data("nan\\0\\0", "LO")), CorruptFileError),
    ("contour-data-not-numeric", _rt_case(_contour_data("a\\b\\c", "LO")), CorruptFileError),
    ("contour-data-not-triplets", _rt_case(_contour_data(["1", "2"])), CorruptFileError),
    ("roi-number-as-text-fuzz", _rt_case(_roi_number_as_text), CorruptFileError),
    ("unknown-vr-in-sequence-fuzz", _unknown_vr("rtstruct"), CorruptFileError),
    ("roi-sequences-missing", _rt_case(_delete("ROIContourSequence")), CorruptFileError),
    (
        "references-another-series",
        _rt_case(_referencing("1.2.826.0.1.3680043.10.1043.77")),
        LabelError,
    ),
    ("other-frame-of-reference-by-position", _rt_case(_other_frame_without_references), LabelError),
    ("contour-not-on-one-slice", _rt_case(_not_planar), LabelError),
]


@pytest.mark.parametrize(
    ("build", "expected"), [c[1:] for c in RT_CASES], ids=[c[0] for c in RT_CASES]
)
def test_bad_rtstruct(
    study: h.SeedStudy, target: ImageVolume, tmp_path: Path, build: LabelCase, expected: ErrorType
) -> None:
    """Malformed RTSTRUCTs, or ones drawn elsewhere, are refused with the error named."""
    with pytest.raises(expected):
        dicomio.read_labels(build(study, tmp_path), target)


def test_invalid_uid_value_warns_nothing(
    study: h.SeedStudy, target: ImageVolume, tmp_path: Path
) -> None:
    """A UID with invalid characters refers to no slice; pydicom's warning stays inside (fuzz)."""
    uid = target.info.sop_instance_uids[1].encode()
    bad = h.replace_bytes(study.rtstruct, tmp_path / "rt.dcm", uid, uid[:-3] + b"A\x01C")
    with pytest.raises(LabelError, match="not in the series"):
        dicomio.read_labels(bad, target)


def _points(n: int) -> h.Mutation:
    def mutate(ds: Dataset) -> None:
        c = _first_tumour_contour(ds)
        c.ContourData = list(c.ContourData)[: 3 * n]
        c.NumberOfContourPoints = n

    return mutate


def _open(ds: Dataset) -> None:
    for c in ds.ROIContourSequence[1].ContourSequence:
        c.ContourGeometricType = "OPEN_PLANAR"


@pytest.mark.parametrize(
    ("mutate", "added_pixels"), [(_points(1), 1), (_points(2), 2)], ids=["1-point", "2-points"]
)
def test_degenerate_closed_contours_follow_fillpoly(
    study: h.SeedStudy, target: ImageVolume, tmp_path: Path, mutate: h.Mutation, added_pixels: int
) -> None:
    """A closed contour of 1 or 2 points is its rasterised boundary (cv2.fillPoly), not an error.

    Mask tracers write a one-pixel structure as a one-point contour; rt-utils reads it back as
    that pixel, and so does dicomio (see dicomio.rtstruct).
    """
    whole = dicomio.read_labels(study.rtstruct, target).mask([2])
    first = _first_tumour_contour(pydicom.dcmread(study.rtstruct))
    k = next(
        k
        for k, uid in enumerate(target.info.sop_instance_uids)
        if uid == first.ContourImageSequence[0].ReferencedSOPInstanceUID
    )
    lm = dicomio.read_labels(h.dicom_with(study.rtstruct, tmp_path / "rt.dcm", mutate), target)
    mask = lm.mask([2])
    others = [kk for kk in range(4) if kk != k]
    assert int(mask[k].sum()) == added_pixels
    assert np.array_equal(mask[others], whole[others])


def test_open_contours_are_skipped_with_a_warning(
    study: h.SeedStudy, target: ImageVolume, tmp_path: Path
) -> None:
    """OPEN_PLANAR contours have no area: skipped, and the result says so."""
    lm = dicomio.read_labels(h.dicom_with(study.rtstruct, tmp_path / "rt.dcm", _open), target)
    assert not lm.mask([2]).any()
    assert any("OPEN_PLANAR" in w for w in lm.warnings)


# ------------------------------------------------------------------------------------------------
# Broken and unsupported files of ../shared/data

SHARED_SERIES_CASES = [
    ("pydicom-testfiles/broken/MR_truncated.dcm", CorruptFileError),
    ("pydicom-testfiles/broken/meta_missing_tsyntax.dcm", CorruptFileError),
    ("pydicom-testfiles/broken/badVR.dcm", SeriesSelectionError),
    ("pydicom-testfiles/broken/ExplVR_LitEndNoMeta.dcm", SeriesSelectionError),
    ("pydicom-testfiles/broken/JPEG-lossy.dcm", UnsupportedError),
    ("pydicom-testfiles/broken/JPEG2000-embedded-sequence-delimiter.dcm", UnsupportedError),
    ("pydicom-testfiles/broken/JPEGLSNearLossless_16.dcm", UnsupportedError),
    ("pydicom-testfiles/broken/image_dfl.dcm", UnsupportedError),
    ("pydicom-testfiles/ct/no_meta.dcm", NotDicomError),
    ("pydicom-testfiles/rt/rtdose.dcm", SeriesSelectionError),
    ("pydicom-data/mr/emri_small_jpeg_2k_lossless_too_short.dcm", CorruptFileError),
    ("pydicom-data/mr/emri_small.dcm", GeometryError),
    ("dcm-qa-ct-gantry-tilt/GE", GeometryError),
    ("dcmqi-liver-seg/json-examples", NotDicomError),
]


@pytest.mark.parametrize(
    ("relative", "expected"), SHARED_SERIES_CASES, ids=[c[0] for c in SHARED_SERIES_CASES]
)
def test_broken_or_unsupported_shared_series(
    shared_data: Path, relative: str, expected: ErrorType
) -> None:
    """Each broken or unsupported real file is refused as a series with the error named."""
    with pytest.raises(expected):
        dicomio.read_series(shared_data / relative, pixels=True)


def test_broken_shared_segmentations(shared_data: Path) -> None:
    """Real RTSTRUCTs with references missing from their series, and non-segmentations."""
    mock = shared_data / "rt-utils-testdata/mock_data"
    series = dicomio.read_series(mock, pixels=False)
    for name in ("invalid_reference_rt.dcm", "non_existent_reference_rt.dcm"):
        with pytest.raises(LabelError, match="not in the series"):
            dicomio.read_labels(mock / name, series)
    with pytest.raises(UnsupportedError):
        dicomio.read_labels(shared_data / "highdicom-testfiles/sr_document.dcm", series)
    with pytest.raises(NotDicomError):
        dicomio.read_labels(shared_data / "dcmqi-liver-seg/json-examples/seg-example.json", series)
    one_slice = dicomio.read_series(shared_data / "pydicom-testfiles/ct/CT_small.dcm", pixels=False)
    with pytest.raises(LabelError):
        dicomio.read_labels(shared_data / "pydicom-testfiles/rt/rtstruct.dcm", one_slice)


def test_zip_member_types_are_checked_before_writing(study: h.SeedStudy, tmp_path: Path) -> None:
    """The extraction folder is gone after a refused zip (nothing half-extracted is kept)."""
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob("liverburden-zip-*"))
    z = h.zip_of(
        tmp_path / "z.zip",
        {**_slices(study), "x/../../../e.dcm": b"x"},
        compression=zipfile.ZIP_STORED,
    )
    with pytest.raises(ArchiveError):
        dicomio.read_series(z)
    assert set(Path(tempfile.gettempdir()).glob("liverburden-zip-*")) == before
