"""Builders of hostile inputs: valid synthetic files, then corrupted in one precise way.

The valid study is the fuzzers' seed study (:func:`benchmarks.fuzz_common.write_seed_study`): a
4-slice 24 x 24 CT phantom, its label map (NIfTI, NRRD), a DICOM SEG and an RTSTRUCT. Each
builder here writes one bad input into a folder and returns its path.
"""

from __future__ import annotations

import io
import shutil
import stat
import struct
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
import SimpleITK
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from benchmarks.fuzz_common import SeedStudy, write_seed_study

sitk: Any = SimpleITK  # untyped library

__all__ = [
    "Mutation",
    "SeedStudy",
    "dicom_with",
    "label_image",
    "patch_element_length",
    "raw",
    "rewrite_series",
    "truncate",
    "write_seed_study",
    "zip_of",
]

Mutation = Callable[[Dataset], None]


def raw(keyword: str, vr: str, value: Any) -> Mutation:
    """Set ``keyword`` to ``value`` written with ``vr`` (a wrong VR on purpose, when asked)."""
    tag = pydicom.datadict.tag_for_keyword(keyword)
    assert tag is not None, keyword

    def mutate(ds: Dataset) -> None:
        ds[tag] = DataElement(tag, vr, value)

    return mutate


def rewrite_series(
    study: SeedStudy, out: Path, mutate: Mutation, which: Sequence[int] | None = None
) -> Path:
    """Copy the study's CT slices into ``out``, applying ``mutate`` to slices ``which`` (all)."""
    out.mkdir(parents=True)
    for i, f in enumerate(study.ct_files):
        ds = pydicom.dcmread(f)
        if which is None or i in which:
            mutate(ds)
        ds.save_as(out / f.name, enforce_file_format=True)
    return out


def dicom_with(source: Path, out: Path, mutate: Mutation) -> Path:
    """``source`` (any DICOM file) rewritten with ``mutate`` applied."""
    ds = pydicom.dcmread(source)
    mutate(ds)
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(out, enforce_file_format=True)
    return out


def truncate(source: Path, out: Path, size: int) -> Path:
    """The first ``size`` bytes of ``source``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(source.read_bytes()[:size])
    return out


def _element_offset(data: bytes, tag: int, vr: bytes) -> int:
    """Offset of the explicit VR little-endian element header ``tag`` + ``vr`` in ``data``."""
    needle = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr
    at = data.find(needle)
    assert at >= 0, f"element {tag:08X} {vr!r} not found"
    return at


def patch_element_length(source: Path, out: Path, tag: int, vr: bytes, length: int) -> Path:
    """``source`` with the declared length of one explicit VR element replaced by ``length``."""
    data = bytearray(source.read_bytes())
    at = _element_offset(bytes(data), tag, vr)
    if vr in (b"OB", b"OW", b"UN", b"UT", b"SQ", b"UC", b"UR", b"OD", b"OF", b"OL", b"OV"):
        data[at + 8 : at + 12] = struct.pack("<L", length)
    else:
        data[at + 6 : at + 8] = struct.pack("<H", length)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(bytes(data))
    return out


def replace_bytes(source: Path, out: Path, old: bytes, new: bytes) -> Path:
    """``source`` with the first occurrence of ``old`` replaced by ``new`` (same length)."""
    data = source.read_bytes()
    assert len(old) == len(new) and old in data
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data.replace(old, new, 1))
    return out


def label_image(
    reference: Path,
    out: Path,
    array: npt.NDArray[Any] | None = None,
    *,
    vector: bool = False,
    origin_shift_mm: float = 0.0,
    compress: bool = True,
) -> Path:
    """A label file on ``reference``'s grid (or its 2-D/4-D shape) holding ``array``."""
    ref = sitk.ReadImage(str(reference))
    data = sitk.GetArrayFromImage(ref) if array is None else array
    image = sitk.GetImageFromArray(data, isVector=vector)
    if image.GetDimension() == 3:
        image.SetSpacing(ref.GetSpacing())
        image.SetDirection(ref.GetDirection())
        image.SetOrigin(tuple(v + origin_shift_mm for v in ref.GetOrigin()))
    out.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(out), compress)
    return out


def nifti_claiming(reference_nii: Path, out: Path, dims: tuple[int, int, int]) -> Path:
    """An uncompressed NIfTI-1 whose header claims a ``dims`` grid over the reference's bytes."""
    data = bytearray(reference_nii.read_bytes())
    struct.pack_into("<4h", data, 40, 3, *dims)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(bytes(data))
    return out


def zip_of(
    out: Path,
    members: dict[str, bytes],
    *,
    compression: int = zipfile.ZIP_DEFLATED,
    symlinks: Sequence[str] = (),
) -> Path:
    """A zip holding ``members``; names in ``symlinks`` are stored as symbolic links."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=compression) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            if name in symlinks:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, data)
    return out


def nested_zip(inner: dict[str, bytes], depth: int) -> bytes:
    """``inner`` zipped, then that zip zipped again ``depth - 1`` times."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in inner.items():
            zf.writestr(name, data)
    blob = buf.getvalue()
    for level in range(depth - 1):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(f"level{level}.zip", blob)
        blob = buf.getvalue()
    return blob


def lying_zip(out: Path, declared: int, actual: int) -> Path:
    """A zip whose one member says it inflates to ``declared`` bytes but inflates to ``actual``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.dcm", b"\0" * actual)
    data = bytearray(buf.getvalue())
    # Local header: uncompressed size at offset 22; central directory entry: at offset 24.
    struct.pack_into("<L", data, 22, declared)
    central = bytes(data).rfind(b"PK\x01\x02")
    struct.pack_into("<L", data, central + 24, declared)
    out.write_bytes(bytes(data))
    return out


def corrupt_deflate(out: Path, study: SeedStudy) -> Path:
    """A zip of one slice whose deflate stream is damaged in the middle."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("IM0001.dcm", study.ct_files[0].read_bytes())
    data = bytearray(buf.getvalue())
    start = 30 + len("IM0001.dcm")
    for i in range(start + 10, start + 40):
        data[i] ^= 0xA5
    out.write_bytes(bytes(data))
    return out


def copy_study_slices(study: SeedStudy, out: Path) -> Path:
    """A plain copy of the CT slices (to put a bad file beside)."""
    shutil.copytree(study.ct_dir, out)
    return out


def rle_overflowing(out_dir: Path) -> Path:
    """An RLE Lossless slice whose first segment decodes to 5120 bytes where 576 fit.

    The fuzzers found it: the Rust RLE decoder (pylibjpeg-rle) panics on it, with a
    ``PanicException`` that is a BaseException, not an Exception.
    """
    from pydicom.encaps import encapsulate, generate_frames
    from pydicom.uid import RLELossless

    from benchmarks.fuzz_common import seed_spec
    from phantoms import make_phantom, write_dicom_series

    files = write_dicom_series(
        make_phantom(seed_spec()), out_dir / "rle", transfer_syntax=RLELossless
    )
    ds = pydicom.dcmread(files[1])
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    offsets = struct.unpack("<16L", frame[:64])
    overflowing = bytes([0x81, 0x55]) * 40  # 40 runs of 128 bytes
    header = struct.pack("<16L", 2, 64, 64 + len(overflowing), *([0] * 13))
    ds.PixelData = encapsulate([header + overflowing + frame[offsets[2] :]])
    out = out_dir / "IM.dcm"
    ds.save_as(out)
    return out


def random_bytes(n: int, seed: int, dicm: bool) -> bytes:
    """``n`` random bytes, after a 128-byte preamble and ``DICM`` when ``dicm``."""
    body = np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()
    return b"\0" * 128 + b"DICM" + body if dicm else body
