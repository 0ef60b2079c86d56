"""Fuzz the zip reader: a mutated archive of a series, extracted safely or refused.

Each input is written as ``in.zip`` and read with :func:`dicomio.read_series` (headers only, with
small :class:`dicomio.ArchiveLimits`) and listed with :func:`dicomio.discover`. Besides "a clean
result or a DicomIOError", the harness checks that extraction leaves nothing behind: every
temporary folder is made inside a private folder (``tempfile.tempdir``), which must be empty
again after each call (a member written outside its extraction folder would stay there).

::

    python benchmarks/fuzz_zip.py [-atheris_runs=N] [-seed=S] [CORPUS_DIR | CRASH_FILE ...]
"""

from __future__ import annotations

import io
import tempfile
import zipfile

import fuzz_common as fc

with fc.instrumented("dicomio"):  # zipfile is loaded at start-up: not instrumentable here
    import dicomio
    import dicomio.archive

STUDY = fc.seed_study()
SCRATCH = fc.Scratch("zip")
INPUT = SCRATCH.root / "in.zip"
TEMP = SCRATCH.root / "tmp"
TEMP.mkdir()
LIMITS = dicomio.ArchiveLimits(max_total_bytes=16 << 20, max_members=200, ratio_min_bytes=1 << 16)


def _zip(members: dict[str, bytes], compression: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def seeds() -> list[bytes]:
    """Zips of the seed series: stored and deflated, flat and in folders, with junk beside."""
    slices = {f"series/{p.name}": p.read_bytes() for p in STUDY.ct_files}
    flat = {p.name: p.read_bytes() for p in STUDY.ct_files[:2]}
    return [
        _zip(slices, zipfile.ZIP_STORED),
        _zip(slices, zipfile.ZIP_DEFLATED),
        _zip(flat, zipfile.ZIP_DEFLATED),
        _zip({**flat, "notes.txt": b"not dicom", "sub/": b""}, zipfile.ZIP_STORED),
    ]


def _leftovers() -> list[str]:
    return sorted(p.name for p in TEMP.iterdir())


def test_one_input(data: bytes) -> None:
    """Read and list the zip; nothing may be left in the private temporary folder."""
    INPUT.write_bytes(data)
    tempfile.tempdir = str(TEMP)
    try:
        fc.check_volume(
            fc.expect_clean(lambda: dicomio.read_series(INPUT, pixels=False, limits=LIMITS))
        )
        fc.expect_clean(lambda: dicomio.discover(INPUT))
    finally:
        tempfile.tempdir = None
    left = _leftovers()
    if left:
        raise AssertionError(f"zip extraction left {left} behind in the temporary folder")


if __name__ == "__main__":
    fc.run("zip", test_one_input, seeds)
