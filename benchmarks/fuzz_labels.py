"""Fuzz the NIfTI/NRRD readers: label maps, binary masks and images read as a series.

Each input is written twice: without a file name ending (the kind is told by content) and with
the ending its first bytes suggest (``.nrrd``, ``.nii.gz`` or ``.nii``). It is read with
:func:`dicomio.read_labels` and :func:`dicomio.read_mask` onto the seed series and (with
``../shared/data``) the dcmqi 23x38x3 series, and with :func:`dicomio.read_series` as an image.
Only a clean result or a DicomIOError may come out.

::

    python benchmarks/fuzz_labels.py [-atheris_runs=N] [-seed=S] [CORPUS_DIR | CRASH_FILE ...]
"""

from __future__ import annotations

from functools import partial

import fuzz_common as fc

with fc.instrumented("dicomio"):
    import dicomio
    import dicomio._label_io
    import dicomio._resample
    import dicomio._sitk_image

STUDY = fc.seed_study()
SCRATCH = fc.Scratch("labels")
TARGET_INPUTS = [STUDY.ct_dir, fc.SHARED_DATA / "dcmqi-liver-seg/segmentations/23x38x3/image"]
TARGETS = [dicomio.read_series(p, pixels=False) for p in TARGET_INPUTS if p.exists()]
SHARED_SEEDS = [
    "dcmqi-liver-seg/segmentations/23x38x3/nrrd/label.nrrd",
    "dcmqi-liver-seg/segmentations/sparse_labelmap_*.nrrd",
    "dcmqi-liver-seg/segmentations/spine_seg.nrrd",
    "totalsegmentator-example/ct_sm/example_seg_roi_subset.nii.gz",
    "totalsegmentator-example/mr_sm/example_seg_roi_subset_mr.nii.gz",
]


def seeds() -> list[bytes]:
    """The seed label map as NIfTI (plain and gzip) and NRRD (raw and gzip), plus shared files."""
    files = [STUDY.labels_nii, STUDY.labels_nii_gz, STUDY.labels_nrrd, STUDY.labels_nrrd_raw]
    return [p.read_bytes() for p in [*files, *fc.shared_files(SHARED_SEEDS)]]


def suffix_for(data: bytes) -> str:
    """The file name ending the content suggests."""
    if data.startswith(b"NRRD"):
        return ".nrrd"
    if data.startswith(b"\x1f\x8b"):
        return ".nii.gz"
    return ".nii"


def test_one_input(data: bytes) -> None:
    """Labels, masks and the image itself: clean results on the right grid, or DicomIOError."""
    bare = SCRATCH.file("labels", data)
    named = SCRATCH.file("named/labels" + suffix_for(data), data)
    for target in TARGETS:
        for path in (bare, named):
            result = fc.expect_clean(partial(dicomio.read_labels, path, target))
            fc.check_labelmap(result, target)
        mask = fc.expect_clean(partial(dicomio.read_mask, named, target))
        if mask is not None and tuple(mask.shape) != target.geometry.shape_zyx:
            raise AssertionError(f"mask {mask.shape} is not on the grid {target.geometry}")
    fc.check_volume(fc.expect_clean(lambda: dicomio.read_series(named, pixels=True)))


if __name__ == "__main__":
    fc.run("labels", test_one_input, seeds)
