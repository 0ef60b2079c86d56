"""``liverburden measure``: one series and its segmentation to numbers (contracts/measure.md)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli._common import fail

if TYPE_CHECKING:
    from app.measure.result import MeasurementResult

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def _native_stderr_held(held: list[bytes]) -> Iterator[None]:
    """Hold what is written to file descriptor 2 while measuring; append it to ``held``.

    C/C++ libraries (ITK's MetaImage and NIfTI readers, GDCM) print diagnostics straight to
    stderr, which would add lines to the command's one-line error. The caller replays what was
    held when the measurement succeeds and drops it when it fails with a clean error.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no usable fd 2: nothing to hold
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            held.append(sink.read())


def _os_error_line(exc: OSError) -> str:
    """An OSError as one line: what failed and the file's name (never its full path)."""
    name = f" {Path(str(exc.filename)).name!r}" if exc.filename else ""
    return (
        f"an input file{name} could not be read ({exc.strerror or type(exc).__name__}); expected "
        "readable input files"
    )


def _replay(held: list[bytes]) -> None:
    """Write the library diagnostics held during the measurement to stderr."""
    for chunk in held:
        sys.stderr.write(chunk.decode("utf-8", "replace"))
    held.clear()


def _drop(held: list[bytes]) -> None:
    """Log (at debug) and forget library diagnostics held during a failed measurement."""
    for chunk in held:
        if chunk.strip():
            logger.debug("library diagnostics: %s", chunk.decode("utf-8", "replace").strip())
    held.clear()


def _other_label(value: str) -> tuple[str, str | None]:
    """``L=ORGAN`` (or ``L``) of ``--other-tumor-label``."""
    label, sep, organ = value.partition("=")
    if not label.strip() or (sep and not organ.strip()):
        fail(f"--other-tumor-label {value!r}: expected LABEL or LABEL=ORGAN")
    return label.strip(), organ.strip() if sep else None


def _format_text(result: MeasurementResult) -> str:
    s = result.series
    lines = [
        f"series      {s.series_instance_uid or '(no UID)'}  {s.modality}  "
        f"{s.slices} slices  spacing z,y,x = "
        + ", ".join(f"{v:.4g}" for v in s.spacing_mm)
        + " mm",
    ]

    def _fmt(v: float | None, unit: str, digits: int = 3) -> str:
        return "n/a" if v is None else f"{v:.{digits}f} {unit}"

    elig = result.eligibility

    def _flag(v: bool | None) -> str:
        return "n/a" if v is None else ("yes" if v else "no")

    lines += [
        f"liver       {_fmt(result.liver_volume_ml, 'mL')}",
        f"tumour      {_fmt(result.tumor_volume_ml, 'mL')}"
        + (
            f"   outside the liver {_fmt(result.extrahepatic_tumor_volume_ml, 'mL')}"
            f" (hepatic share {100 * (result.hepatic_share or 0):.1f} %)"
            if result.extrahepatic_tumor_volume_ml
            else ""
        ),
        "burden      "
        + ("n/a" if result.burden_fraction is None else f"{100 * result.burden_fraction:.2f} %"),
        f"eligibility burden <= 70 %: {_flag(elig.burden_le_70pct)}   "
        f"burden > 25 %: {_flag(elig.burden_gt_25pct)}   "
        f"measurable liver lesion: {_flag(elig.measurable_liver_lesion)}",
        f"lesions     {len(result.lesions)}",
    ]
    for les in result.lesions:
        lines.append(
            f"  {les.lesion_id:<4} {les.volume_ml:10.3f} mL"
            f"  long {les.long_axis_mm:7.2f} mm"
            f"  short {les.short_axis_mm:7.2f} mm  slice {les.slice_index:<4}"
            f"  {'measurable' if les.measurable else 'not measurable'}"
            + ("" if les.hepatic in (True, None) else f"  {les.organ or 'other'} (not hepatic)")
        )
    for w in result.warnings:
        lines.append(f"warning     {w}")
    lines.append(f"algorithm   {result.algorithm_version}")
    return "\n".join(lines)


def measure(
    series: Annotated[
        Path, typer.Option("--series", help="DICOM folder, .zip, or NIfTI/NRRD image.")
    ],
    labels: Annotated[
        Path | None,
        typer.Option("--labels", help="Label map (NIfTI/NRRD), DICOM SEG or RTSTRUCT file."),
    ] = None,
    liver_label: Annotated[
        str | None,
        typer.Option("--liver-label", help="Liver label value or name (wildcards); 'none'."),
    ] = None,
    tumor_label: Annotated[
        list[str] | None,
        typer.Option("--tumor-label", help="Tumour label value or name; repeatable; 'none'."),
    ] = None,
    other_tumor_label: Annotated[
        list[str] | None,
        typer.Option(
            "--other-tumor-label",
            help="Tumour outside the liver: label value or name, with =ORGAN (default: the "
            "label's name, else 'other'); repeatable; never counted as hepatic.",
        ),
    ] = None,
    liver_mask: Annotated[
        Path | None, typer.Option("--liver-mask", help="Binary liver mask (NIfTI/NRRD).")
    ] = None,
    tumor_mask: Annotated[
        list[Path] | None,
        typer.Option("--tumor-mask", help="Binary tumour mask (NIfTI/NRRD); repeatable."),
    ] = None,
    series_uid: Annotated[
        str | None, typer.Option("--series-uid", help="Pick this series from a folder.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the contract JSON.")] = False,
    masks_out: Annotated[
        Path | None,
        typer.Option(
            "--masks-out",
            help="Also write the masks the lesions were measured on (.npz), for "
            "'liverburden track'.",
        ),
    ] = None,
) -> None:
    """Measure liver and tumour volumes, burden and lesion diameters of one series."""
    # Heavy imports here, not at module import: keeps `liverburden --help` and other commands fast.
    from app.measure.pipeline import MeasureRequest, measure_series
    from dicomio.errors import DicomIOError
    from recist.errors import RecistError
    from volumetrics.errors import VolumetricsError

    held: list[bytes] = []
    try:
        request = MeasureRequest(
            series=series,
            labels=labels,
            liver_label=liver_label,
            tumor_labels=tuple(tumor_label or ()),
            other_tumor_labels=tuple(_other_label(v) for v in other_tumor_label or ()),
            liver_mask=liver_mask,
            tumor_masks=tuple(tumor_mask or ()),
            series_uid=series_uid,
        )
        with _native_stderr_held(held):
            measured = measure_series(request)
        result = measured.result
        if masks_out is not None:
            masks_out.write_bytes(measured.masks.to_bytes())
    except (DicomIOError, VolumetricsError, RecistError) as exc:
        _drop(held)
        fail(str(exc))
    except MemoryError:
        _drop(held)
        fail("the input is too large to measure in the available memory")
    except OSError as exc:
        _drop(held)
        fail(_os_error_line(exc))
    except BaseException:
        _replay(held)  # not bad input but a fault: show everything, traceback included
        raise
    _replay(held)  # success: library diagnostics are shown after all
    if as_json:
        json.dump(result.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        typer.echo(_format_text(result))
