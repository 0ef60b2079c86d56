"""Fuzz the series reader: one mutated DICOM file alone, and among valid slices of its series.

Each input is written as a single-file input and in place of slice 2 of the 4-slice seed series,
then read with :func:`dicomio.read_series` (headers only, and with pixels) and listed with
:func:`dicomio.discover`. Only a clean result or a :class:`dicomio.DicomIOError` may come out.

::

    python benchmarks/fuzz_series.py                      # until stopped; corpus in _work/fuzz
    python benchmarks/fuzz_series.py -atheris_runs=2000 -seed=1 CORPUS_DIR
    python benchmarks/fuzz_series.py crash-0123abcd       # replay one input
"""

from __future__ import annotations

import shutil

import fuzz_common as fc

with fc.instrumented("dicomio", "pydicom"):
    import pydicom  # noqa: F401  (instrumented for coverage feedback)

    import dicomio
    import dicomio._pixels
    import dicomio._pydicom_header

STUDY = fc.seed_study()
SCRATCH = fc.Scratch("series")
FOLDER = SCRATCH.root / "folder"
shutil.copytree(STUDY.ct_dir, FOLDER)
REPLACED = FOLDER / STUDY.ct_files[1].name

SHARED_SEEDS = [
    "pydicom-testfiles/ct/*.dcm",
    "pydicom-testfiles/mr/*.dcm",
    "pydicom-testfiles/broken/*.dcm",
    "pydicom-data/mr/emri_small*.dcm",
    "dcmqi-liver-seg/segmentations/23x38x3/image/IMG0001.dcm",
    "dcmqi-liver-seg/segmentations/23x38x3/multiframe/mf.dcm",
]


def seeds() -> list[bytes]:
    """The seed series' slices, plus small CT/MR files in every encoding from shared data."""
    out = [p.read_bytes() for p in STUDY.ct_files[:2]]
    out += [p.read_bytes() for p in fc.shared_files(SHARED_SEEDS)]
    return out


def test_one_input(data: bytes) -> None:
    """Single file, then the folder with the mutated slice: a volume or a DicomIOError."""
    single = SCRATCH.file("single/IM.dcm", data)
    fc.check_volume(fc.expect_clean(lambda: dicomio.read_series(single, pixels=True)))
    REPLACED.write_bytes(data)
    fc.expect_clean(lambda: dicomio.discover(FOLDER))
    fc.check_volume(fc.expect_clean(lambda: dicomio.read_series(FOLDER, pixels=False)))
    fc.check_volume(fc.expect_clean(lambda: dicomio.read_series(FOLDER, pixels=True)))


if __name__ == "__main__":
    fc.run("series", test_one_input, seeds)
