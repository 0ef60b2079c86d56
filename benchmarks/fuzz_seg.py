"""Fuzz the DICOM SEG reader: a mutated SEG read onto the series it references.

Targets (read once, headers only): the seed study's CT series and, when ``../shared/data`` is
there, the dcmqi 23x38x3 series and the highdicom test CT slice. Each input is read with
:func:`dicomio.read_labels` onto every target whose SeriesInstanceUID its bytes contain (the
seed series otherwise). Only a LabelMap on the target's grid or a DicomIOError may come out.

::

    python benchmarks/fuzz_seg.py [-atheris_runs=N] [-seed=S] [CORPUS_DIR | CRASH_FILE ...]
"""

from __future__ import annotations

from functools import partial

import fuzz_common as fc

with fc.instrumented("dicomio", "pydicom"):
    import pydicom  # noqa: F401  (instrumented for coverage feedback)

    import dicomio
    import dicomio.seg

STUDY = fc.seed_study()
SCRATCH = fc.Scratch("seg")
TARGET_INPUTS = [
    STUDY.ct_dir,
    fc.SHARED_DATA / "dcmqi-liver-seg/segmentations/23x38x3/image",
    fc.SHARED_DATA / "highdicom-testfiles/ct_image.dcm",
]
TARGETS = [dicomio.read_series(p, pixels=False) for p in TARGET_INPUTS if p.exists()]
SHARED_SEEDS = [
    "highdicom-testfiles/seg_*.dcm",
    "dcmqi-liver-seg/segmentations/23x38x3/seg/label.seg",
    "dcmqi-liver-seg/segmentations/sparse-labelmap-*.dcm",
    "pydicom-data/seg/liver_deflate.dcm",
    "pydicom-data/seg/liver_j2k.dcm",
    "pydicom-data/seg/liver_rle.dcm",
    "pydicom-data/seg/liver_nonbyte_aligned_rle.dcm",
]


def seeds() -> list[bytes]:
    """The seed SEG, plus small SEGs in other encodings and types from shared data."""
    return [STUDY.seg.read_bytes(), *(p.read_bytes() for p in fc.shared_files(SHARED_SEEDS))]


def targets_for(data: bytes) -> list[dicomio.ImageVolume]:
    """Targets whose series UID the input names; the seed series when it names none."""
    named = [t for t in TARGETS if (t.info.series_instance_uid or "").encode() in data]
    return named or TARGETS[:1]


def test_one_input(data: bytes) -> None:
    """A SEG onto each target it names: a LabelMap on the target's grid, or a DicomIOError."""
    path = SCRATCH.file("seg.dcm", data)
    for target in targets_for(data):
        result = fc.expect_clean(partial(dicomio.read_labels, path, target))
        fc.check_labelmap(result, target)


if __name__ == "__main__":
    fc.run("seg", test_one_input, seeds)
