"""Fuzz the RTSTRUCT reader: a mutated RT Structure Set rasterised onto its series.

Targets (read once, headers only): the seed study's CT series and, when ``../shared/data`` is
there, the two rt-utils mock CT slices. Each input is read with :func:`dicomio.read_labels` onto
every target whose SeriesInstanceUID or StudyInstanceUID its bytes contain (the seed series
otherwise). Only a LabelMap on the target's grid or a DicomIOError may come out.

::

    python benchmarks/fuzz_rtstruct.py [-atheris_runs=N] [-seed=S] [CORPUS_DIR | CRASH_FILE ...]
"""

from __future__ import annotations

from functools import partial

import fuzz_common as fc

with fc.instrumented("dicomio", "pydicom"):
    import pydicom  # noqa: F401  (instrumented for coverage feedback)

    import dicomio
    import dicomio._raster
    import dicomio.rtstruct

STUDY = fc.seed_study()
SCRATCH = fc.Scratch("rtstruct")
TARGET_INPUTS = [STUDY.ct_dir, fc.SHARED_DATA / "rt-utils-testdata/mock_data"]
TARGETS = [dicomio.read_series(p, pixels=False) for p in TARGET_INPUTS if p.exists()]
SHARED_SEEDS = [
    "rt-utils-testdata/mock_data/rt.dcm",
    "pydicom-testfiles/rt/rtstruct.dcm",
    "rt-utils-testdata/mock_data/invalid_reference_rt.dcm",
]


def seeds() -> list[bytes]:
    """The seed RTSTRUCT, plus small structure sets from shared data."""
    return [STUDY.rtstruct.read_bytes(), *(p.read_bytes() for p in fc.shared_files(SHARED_SEEDS))]


def _uids(target: dicomio.ImageVolume) -> list[bytes]:
    info = target.info
    return [u.encode() for u in (info.series_instance_uid, info.study_instance_uid) if u]


def targets_for(data: bytes) -> list[dicomio.ImageVolume]:
    """Targets whose series or study UID the input names; the seed series when it names none."""
    named = [t for t in TARGETS if any(u in data for u in _uids(t))]
    return named or TARGETS[:1]


def test_one_input(data: bytes) -> None:
    """An RTSTRUCT onto each target it names: masks on the target's grid, or a DicomIOError."""
    path = SCRATCH.file("rtstruct.dcm", data)
    for target in targets_for(data):
        result = fc.expect_clean(partial(dicomio.read_labels, path, target))
        fc.check_labelmap(result, target)


if __name__ == "__main__":
    fc.run("rtstruct", test_one_input, seeds)
