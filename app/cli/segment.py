"""``liverburden segment``: the liver from one click, a lesion from a click or a caliper line.

Contract: ``../shared/contracts/segment.md``. Points are DICOM patient coordinates (LPS) in mm;
``--out`` ending in ``.nii.gz``/``.nii``/``.nrrd`` writes a 0/1 label map on the series grid,
``.dcm`` a BINARY DICOM SEG referencing the series (DICOM input only). Bad input exits 2 with
one line on stderr.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli._common import fail

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    import dicomio

app = typer.Typer(
    help="Semi-automatic segmentation: the liver from one click, a lesion from a click or line.",
    no_args_is_help=True,
)

#: Output file endings; the first three write a label map, the last a DICOM SEG.
OUT_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".dcm")

SeriesOpt = Annotated[
    Path, typer.Option("--series", help="DICOM folder, .zip, or NIfTI/NRRD image (CT).")
]
OutOpt = Annotated[
    Path, typer.Option("--out", help="Output: .nii.gz/.nii/.nrrd label map or .dcm DICOM SEG.")
]
SeriesUidOpt = Annotated[
    str | None, typer.Option("--series-uid", help="Pick this series from a folder.")
]


def _point(text: str, option: str) -> tuple[float, float, float]:
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or not all(v == v and abs(v) != float("inf") for v in values):
        fail(f"{option} must be X,Y,Z in mm (patient LPS coordinates), got {text!r}")
    return (values[0], values[1], values[2])


def _check_out(out: Path, fmt: str) -> None:
    name = out.name.lower()
    if not name.endswith(OUT_SUFFIXES):
        fail(f"--out {out.name!r}: expected a name ending in " + ", ".join(OUT_SUFFIXES))
    if name.endswith(".dcm") and fmt != "dicom":
        fail(f"a DICOM SEG (--out {out.name!r}) needs a DICOM series; the input is {fmt}")


@contextmanager
def _bad_input() -> Iterator[None]:
    """Turn every domain error (and unreadable files) into one line and exit status 2."""
    from dicomio.errors import DicomIOError
    from reporting.errors import ReportingError
    from segmentation.errors import SegmentationError

    try:
        yield
    except (SegmentationError, DicomIOError, ReportingError) as exc:
        fail(str(exc))
    except MemoryError:
        fail("the input is too large to segment in the available memory")
    except OSError as exc:
        name = Path(exc.filename).name if getattr(exc, "filename", None) else "a file"
        fail(f"cannot read or write {name!r}: {exc.strerror or exc}")


def _read_ct(series: Path, series_uid: str | None) -> dicomio.ImageVolume:
    import dicomio

    volume = dicomio.read_series(series, series_uid, pixels=True)
    modality = volume.info.modality.upper()
    if modality and modality != "CT":
        fail(f"segmentation works on CT in HU; the series is {modality}")
    return volume


def _index(
    volume: dicomio.ImageVolume, point: tuple[float, float, float], option: str
) -> npt.NDArray[np.float64]:
    import numpy as np

    index = np.asarray(volume.geometry.lps_to_index(np.asarray(point)), dtype=np.float64)
    shape = volume.geometry.shape_zyx
    rounded = np.floor(index + 0.5)
    if np.any(rounded < 0) or np.any(rounded >= np.asarray(shape)):
        fail(
            f"{option} ({', '.join(f'{v:g}' for v in point)}) mm lies outside the image: voxel "
            f"({', '.join(f'{v:.1f}' for v in index)}) of {shape} (z, y, x); expected LPS mm as "
            "a DICOM viewer reports a click"
        )
    return index


def _write(
    mask: npt.NDArray[np.bool_],
    volume: dicomio.ImageVolume,
    series: Path,
    series_uid: str | None,
    out: Path,
    lesion_id: str | None,
) -> None:
    if out.name.lower().endswith(".dcm"):
        import numpy as np

        from app.cli.report import _dicom_bytes, _source
        from app.version import ALGORITHM_VERSION
        from reporting import build_seg

        _header_volume, datasets = _source(series, series_uid, pixels=False)
        if lesion_id is None:
            labels = np.zeros(mask.shape, dtype=np.uint8)
            seg = build_seg(
                datasets, labels, [], liver_mask=mask, algorithm_version=ALGORITHM_VERSION
            )
        else:
            seg = build_seg(
                datasets, mask.astype(np.uint8), [lesion_id], algorithm_version=ALGORITHM_VERSION
            )
        out.write_bytes(_dicom_bytes(seg))
    else:
        from dicomio.labelwrite import write_label_image

        write_label_image(mask, volume.geometry, out)


@app.command("liver")
def liver(
    series: SeriesOpt,
    seed: Annotated[str, typer.Option("--seed", help="X,Y,Z in mm (LPS) inside the liver.")],
    out: OutOpt,
    series_uid: SeriesUidOpt = None,
) -> None:
    """Segment the liver from one click inside it (contrast-enhanced CT)."""
    point = _point(seed, "--seed")
    with _bad_input():
        from segmentation import segment_liver

        volume = _read_ct(series, series_uid)
        _check_out(out, volume.info.source_format)
        index = _index(volume, point, "--seed")
        assert volume.pixels is not None
        result = segment_liver(volume.pixels, volume.spacing_zyx_mm, index)
        _write(result.mask, volume, series, series_uid, out, None)
    typer.echo(f"wrote {out.name}: liver {result.volume_ml:.1f} mL (seed {result.seed_hu:.0f} HU)")


@app.command("lesion")
def lesion(
    series: SeriesOpt,
    out: OutOpt,
    seed: Annotated[
        str | None, typer.Option("--seed", help="X,Y,Z in mm (LPS) at the lesion's centre.")
    ] = None,
    line: Annotated[
        str | None,
        typer.Option("--line", help="X1,Y1,Z1:X2,Y2,Z2 in mm: the long-axis caliper."),
    ] = None,
    liver_mask: Annotated[
        Path | None,
        typer.Option("--liver", help="Liver mask (NIfTI/NRRD, or DICOM SEG: all segments)."),
    ] = None,
    lesion_id: Annotated[
        str, typer.Option("--lesion-id", help="Segment label in a DICOM SEG output.")
    ] = "L1",
    series_uid: SeriesUidOpt = None,
) -> None:
    """Segment one lesion from a click at its centre or from its long-axis caliper line."""
    if (seed is None) == (line is None):
        fail("give exactly one of --seed X,Y,Z or --line X1,Y1,Z1:X2,Y2,Z2")
    if line is not None:
        ends = line.split(":")
        if len(ends) != 2:
            fail(f"--line must be X1,Y1,Z1:X2,Y2,Z2 in mm, got {line!r}")
        points = [_point(ends[0], "--line"), _point(ends[1], "--line")]
    else:
        assert seed is not None
        points = [_point(seed, "--seed")]
    with _bad_input():
        from segmentation import segment_lesion, segment_lesion_from_line

        volume = _read_ct(series, series_uid)
        _check_out(out, volume.info.source_format)
        option = "--seed" if line is None else "--line"
        indices = [_index(volume, p, option) for p in points]
        liver = None if liver_mask is None else _read_liver(liver_mask, volume)
        assert volume.pixels is not None
        sp = volume.spacing_zyx_mm
        if len(indices) == 1:
            result = segment_lesion(volume.pixels, sp, indices[0], liver_mask=liver)
        else:
            result = segment_lesion_from_line(
                volume.pixels, sp, indices[0], indices[1], liver_mask=liver
            )
        _write(result.mask, volume, series, series_uid, out, lesion_id)
    typer.echo(
        f"wrote {out.name}: {result.contrast.value} lesion {result.volume_ml:.2f} mL "
        f"({result.seed_hu:.0f} HU vs {result.background_hu:.0f} HU around it)"
    )
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)


def _read_liver(path: Path, volume: dicomio.ImageVolume) -> npt.NDArray[np.bool_]:
    from dicomio.labels import read_labels, read_mask

    with path.open("rb") as fh:
        head = fh.read(132)
    if head[128:132] == b"DICM":
        labelmap = read_labels(path, volume)
        return labelmap.mask([s.number for s in labelmap.segments])
    return read_mask(path, volume)
