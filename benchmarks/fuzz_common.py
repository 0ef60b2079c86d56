"""Shared by the ``benchmarks/fuzz_*.py`` harnesses (not a harness itself): seeds and the property.

The property every harness checks: a dicomio reader given any bytes either returns a well-formed
result or raises a :class:`dicomio.DicomIOError` subclass. Any other exception escapes the
harness's ``test_one_input`` and atheris reports it as a crash (with the input saved as
``crash-<sha1>`` under ``-artifact_prefix``). A hang is caught by libFuzzer's ``-timeout`` and a
memory blow-up by ``-rss_limit_mb``.

Seeds are small valid inputs: a tiny synthetic study written by :mod:`phantoms` (a
4-slice CT series, its label map as NIfTI and NRRD, a DICOM SEG and an RTSTRUCT drawn from the
same masks) plus small files from ``../shared/data`` when that folder exists. The study is
written once into the work folder (``$LIVERBURDEN_FUZZ_WORK``, default ``benchmarks/_work/fuzz``)
and reused while its specification is unchanged.

References
----------
.. [1] atheris, https://github.com/google/atheris (``Setup``, ``Fuzz``, ``instrument_imports``).
.. [2] libFuzzer options, https://llvm.org/docs/LibFuzzer.html#options (``-runs``, ``-seed``,
   ``-timeout``, ``-rss_limit_mb``, ``-artifact_prefix``).
.. [3] DICOM PS3.3 C.8.8.5 / C.8.8.6 (Structure Set and ROI Contour modules), used by
   :func:`write_rtstruct`.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as `python benchmarks/fuzz_x.py` from anywhere
    sys.path.insert(0, str(REPO))

#: Real third-party data, read in place (its small files are extra seeds).
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()
#: Bump to regenerate the cached seed study.
_STUDY_VERSION = "2"
_UID_PREFIX = "1.2.826.0.1.3680043.10.1043."
_RTSTRUCT_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"


def work_dir() -> Path:
    """The harnesses' scratch and cache folder (created)."""
    env = os.environ.get("LIVERBURDEN_FUZZ_WORK")
    path = Path(env) if env else REPO / "benchmarks" / "_work" / "fuzz"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True, slots=True)
class SeedStudy:
    """A small valid study to corrupt: CT slices, label maps, SEG and RTSTRUCT, all aligned."""

    root: Path
    ct_files: tuple[Path, ...]
    labels_nii: Path
    labels_nii_gz: Path
    labels_nrrd: Path
    labels_nrrd_raw: Path
    seg: Path
    rtstruct: Path

    @property
    def ct_dir(self) -> Path:
        return self.ct_files[0].parent


def seed_spec() -> Any:
    """The phantom of the seed study: 4 slices of 24 x 24 pixels, a liver and one lesion."""
    from phantoms import LesionSpec, PhantomSpec

    return PhantomSpec(
        shape_zyx=(4, 24, 24),
        spacing_zyx_mm=(6.0, 10.0, 10.0),
        liver_center_lps_mm=(-40.0, 0.0, 0.0),
        liver_semi_axes_mm=(70.0, 60.0, 40.0),
        lesions=(LesionSpec((-40.0, 0.0, 0.0), (25.0, 22.0, 8.0)),),
        noise_sigma=5.0,
        seed=11,
        uid_prefix=_UID_PREFIX,
    )


def _contours_lps(mask_yx: Any, k: int, affine: Any) -> list[Any]:
    """Closed contours of one slice's mask (half-level iso-lines), as (n, 3) LPS points."""
    import numpy as np
    from skimage import measure

    find_contours: Any = measure.find_contours  # untyped library function
    padded = np.pad(mask_yx.astype(np.float64), 1)
    out = []
    for rc in find_contours(padded, 0.5):
        rc = rc[:-1] - 1.0  # drop the repeated closing vertex; undo the padding
        idx = np.column_stack([np.full(len(rc), float(k)), rc])
        out.append(idx @ affine[:3, :3].T + affine[:3, 3])
    return out


def write_rtstruct(phantom: Any, series_files: Sequence[Path], path: Path) -> Path:
    """An RTSTRUCT with ROIs "Liver" (liver and tumour) and "Tumor", referencing each slice."""
    import numpy as np
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence as Seq
    from pydicom.uid import UID, ExplicitVRLittleEndian

    slices = [pydicom.dcmread(f, stop_before_pixels=True) for f in series_files]
    first = slices[0]
    uid = _UID_PREFIX + str(int(hashlib.sha256(b"fuzz-rtstruct").hexdigest()[:24], 16))
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = UID(_RTSTRUCT_CLASS)
    ds.file_meta.MediaStorageSOPInstanceUID = UID(uid)
    ds.SOPClassUID = _RTSTRUCT_CLASS
    ds.SOPInstanceUID = uid
    ds.Modality = "RTSTRUCT"
    ds.StudyInstanceUID = first.StudyInstanceUID
    ds.SeriesInstanceUID = uid + ".1"
    ds.StructureSetLabel = "FUZZ"
    ref_for = Dataset()
    ref_for.FrameOfReferenceUID = first.FrameOfReferenceUID
    ds.ReferencedFrameOfReferenceSequence = Seq([ref_for])
    masks = {1: ("Liver", phantom.labels >= 1), 2: ("Tumor", phantom.labels == 2)}
    ssroi, roic = [], []
    for number, (name, mask) in masks.items():
        item = Dataset()
        item.ROINumber = number
        item.ROIName = name
        item.ReferencedFrameOfReferenceUID = first.FrameOfReferenceUID
        ssroi.append(item)
        contours = []
        for k, sl in enumerate(slices):
            for points in _contours_lps(mask[k], k, phantom.affine):
                c = Dataset()
                img = Dataset()
                img.ReferencedSOPClassUID = sl.SOPClassUID
                img.ReferencedSOPInstanceUID = sl.SOPInstanceUID
                c.ContourImageSequence = Seq([img])
                c.ContourGeometricType = "CLOSED_PLANAR"
                c.NumberOfContourPoints = len(points)
                c.ContourData = [f"{v:.3f}" for v in np.asarray(points).ravel()]
                contours.append(c)
        rc = Dataset()
        rc.ReferencedROINumber = number
        rc.ContourSequence = Seq(contours)
        roic.append(rc)
    ds.StructureSetROISequence = Seq(ssroi)
    ds.ROIContourSequence = Seq(roic)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def _write_raw_nrrd(source: Path, path: Path) -> Path:
    """``source`` again, as NRRD with raw (uncompressed) data: byte mutations reach the voxels."""
    import SimpleITK as sitk

    sitk.WriteImage(sitk.ReadImage(str(source)), str(path), False)
    return path


def write_seed_study(root: Path) -> SeedStudy:
    """Write the seed study into ``root`` (deterministic: same bytes on every run)."""
    import numpy as np

    from phantoms import make_phantom, write_dicom_series, write_label_nifti, write_seg

    phantom = make_phantom(seed_spec())
    files = write_dicom_series(phantom, root / "ct")
    labels = phantom.labels.astype(np.uint8)
    study = SeedStudy(
        root=root,
        ct_files=tuple(files),
        labels_nii=write_label_nifti(phantom, root / "labels.nii", array=labels),
        labels_nii_gz=write_label_nifti(phantom, root / "labels.nii.gz", array=labels),
        labels_nrrd=write_label_nifti(phantom, root / "labels.nrrd", array=labels),
        labels_nrrd_raw=_write_raw_nrrd(root / "labels.nrrd", root / "labels-raw.nrrd"),
        seg=write_seg(phantom, files, root / "seg.dcm"),
        rtstruct=write_rtstruct(phantom, files, root / "rtstruct.dcm"),
    )
    return study


def seed_study() -> SeedStudy:
    """The cached seed study in the work folder (written on first use or after a version bump)."""
    root = work_dir() / "study"
    stamp = root / "VERSION"
    if not (stamp.is_file() and stamp.read_text() == _STUDY_VERSION):
        shutil.rmtree(root, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix="study-", dir=work_dir()))
        write_seed_study(tmp)
        (tmp / "VERSION").write_text(_STUDY_VERSION)
        try:
            tmp.rename(root)
        except OSError:  # another harness won the race: use its copy
            shutil.rmtree(tmp, ignore_errors=True)
    files = tuple(sorted((root / "ct").iterdir()))
    return SeedStudy(
        root=root,
        ct_files=files,
        labels_nii=root / "labels.nii",
        labels_nii_gz=root / "labels.nii.gz",
        labels_nrrd=root / "labels.nrrd",
        labels_nrrd_raw=root / "labels-raw.nrrd",
        seg=root / "seg.dcm",
        rtstruct=root / "rtstruct.dcm",
    )


def shared_files(relative: Iterable[str], max_bytes: int = 120_000) -> list[Path]:
    """Existing small files of ``../shared/data`` (glob patterns relative to it)."""
    if not SHARED_DATA.is_dir():
        return []
    out: list[Path] = []
    for pattern in relative:
        for p in sorted(SHARED_DATA.glob(pattern)):
            if p.is_file() and p.stat().st_size <= max_bytes:
                out.append(p)
    return out


# ------------------------------------------------------------------------------------------------
# The property


def expect_clean(call: Callable[[], Any]) -> Any:
    """Run one reader call: its result, or ``None`` when it raised a DicomIOError.

    Any other exception propagates (atheris reports it as a crash). So does a warning that
    escapes the reader: it would be an extra stderr line in the CLI and an error under pytest's
    ``filterwarnings = error``. An error message must not be empty (it may quote values of the
    file, control characters included: the CLI folds it onto one line).
    """
    from dicomio import DicomIOError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call()
        except DicomIOError as exc:
            if not str(exc).strip():
                raise AssertionError(f"{type(exc).__name__} with an empty message") from exc
            result = None
    if caught:
        w = caught[0]
        raise AssertionError(
            f"a warning escaped the reader: {w.category.__name__}: {w.message} "
            f"({Path(w.filename).name}:{w.lineno})"
        )
    return result


def check_volume(volume: Any) -> None:
    """Invariants of an ImageVolume a reader returned."""
    import numpy as np

    if volume is None:
        return
    g = volume.geometry
    if min(g.spacing_zyx_mm) <= 0 or not np.all(np.isfinite(g.affine)):
        raise AssertionError(f"degenerate geometry returned: {g.describe()}")
    if volume.pixels is not None and tuple(volume.pixels.shape) != g.shape_zyx:
        raise AssertionError(f"pixels {volume.pixels.shape} do not match grid {g.shape_zyx}")


def check_labelmap(labelmap: Any, target: Any) -> None:
    """Invariants of a LabelMap a reader returned: on the target's grid."""
    if labelmap is None:
        return
    shape = target.geometry.shape_zyx
    if labelmap.labels is not None and tuple(labelmap.labels.shape) != shape:
        raise AssertionError(f"labels {labelmap.labels.shape} are not on the grid {shape}")
    for number, mask in (labelmap.masks or {}).items():
        if tuple(mask.shape) != shape:
            raise AssertionError(f"mask {number} {mask.shape} is not on the grid {shape}")


# ------------------------------------------------------------------------------------------------
# Running a harness

#: Big generated modules whose instrumentation costs seconds and guides nothing.
_NOT_INSTRUMENTED = ["pydicom._dicom_dict", "pydicom._private_dict", "pydicom._uid_dict"]


def instrumented(*packages: str) -> Any:
    """``atheris.instrument_imports`` for ``packages`` (coverage feedback from their code).

    ``$LIVERBURDEN_FUZZ_INSTRUMENT`` (a comma-separated list) overrides them: the bounded CI run
    instruments ``dicomio`` only, which starts about 3 s faster than with pydicom too.
    """
    import atheris  # type: ignore[import-untyped]

    env = os.environ.get("LIVERBURDEN_FUZZ_INSTRUMENT")
    include = [p for p in env.split(",") if p] if env else list(packages)
    return atheris.instrument_imports(include=include, exclude=_NOT_INSTRUMENTED)


def _split_argv(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    flags = [a for a in argv if a.startswith("-")]
    paths = [a for a in argv if not a.startswith("-")]
    return flags, paths


def _fill_corpus(corpus: Path, seeds: Sequence[bytes]) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    if any(corpus.iterdir()):
        return
    for data in seeds:
        (corpus / f"seed-{hashlib.sha1(data).hexdigest()}").write_bytes(data)


def run(
    name: str,
    test_one_input: Callable[[bytes], None],
    seeds: Callable[[], Sequence[bytes]],
    argv: Sequence[str] | None = None,
) -> None:
    """Fuzz ``test_one_input`` with atheris: ``python benchmarks/fuzz_NAME.py [flags] [paths]``.

    Without a path the corpus is ``<work>/NAME/corpus`` (seeded on first use). A path that is a
    folder is the corpus (seeded when empty); paths that are files are run once each (replaying
    crash files). Flags go to libFuzzer (``-atheris_runs=N``, ``-seed=S``, ``-timeout=S``,
    ``-max_total_time=S`` ...).
    """
    import atheris

    args = list(sys.argv if argv is None else argv)
    flags, paths = _split_argv(args[1:])
    if not paths:
        paths = [str(work_dir() / name / "corpus")]
    for p in paths:
        if not Path(p).is_file():
            _fill_corpus(Path(p), seeds())
    if not any(f.startswith("-artifact_prefix=") for f in flags):
        crashes = work_dir() / name / "crashes"
        crashes.mkdir(parents=True, exist_ok=True)
        flags.append(f"-artifact_prefix={crashes}/")
    atheris.Setup([args[0], *flags, *paths], test_one_input)
    atheris.Fuzz()


class Scratch:
    """A private folder for the files one harness writes on every input."""

    def __init__(self, name: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work_dir()))
        atexit.register(shutil.rmtree, self.root, True)

    def file(self, relative: str, data: bytes) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path
