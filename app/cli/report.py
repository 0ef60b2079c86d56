"""``liverburden report``: outputs for other systems from measurement and assessment files.

Sub-commands (each exits 2 with one line on stderr on bad input):

- ``sr``: DICOM SR (TID 1500) of one measurement: ``--series`` + ``--measurement``
  [+ ``--assessment``].
- ``seg``: DICOM SEG of the liver and lesions: ``--series`` + segmentation + ``--measurement``.
- ``keyimages``: one PNG per lesion: ``--series`` + segmentation + ``--measurement``.
- ``sdtm``: CDISC SDTM TU/TR/RS of one or more subject files, CSV or SAS XPT v5.
- ``fhir``: FHIR R4 Bundle of mCODE tumour-size observations of a subject file.
- ``html`` / ``pdf``: the subject report of a subject file.

A *subject file* is the RECIST assessment input JSON with optional extras (``arm``; per
timepoint ``visit``, ``measurement`` and ``lesion_uids``): see :mod:`reporting.subject_file`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli._common import fail

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    import dicomio
    from dicomio.sources import SourceDataset

app = typer.Typer(
    name="report",
    help="Outputs for other systems: DICOM SR/SEG, SDTM, FHIR, key images, subject report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Domain(StrEnum):
    TU = "tu"
    TR = "tr"
    RS = "rs"


class Format(StrEnum):
    CSV = "csv"
    XPT = "xpt"


class WindowName(StrEnum):
    LIVER = "liver"
    ABDOMEN = "abdomen"
    AUTO = "auto"


@app.callback()
def _report() -> None:
    """Outputs for other systems: DICOM SR/SEG, SDTM, FHIR, key images, subject report."""


@contextmanager
def _bad_input() -> Iterator[None]:
    """Turn every domain error (and unreadable files) into one line and exit status 2."""
    from dicomio.errors import DicomIOError
    from recist.errors import RecistError
    from reporting.errors import ReportingError
    from volumetrics.errors import VolumetricsError

    try:
        yield
    except (ReportingError, DicomIOError, RecistError, VolumetricsError) as exc:
        fail(str(exc))
    except MemoryError:
        fail("the input is too large for the available memory")
    except OSError as exc:
        name = Path(exc.filename).name if getattr(exc, "filename", None) else "a file"
        fail(f"cannot read or write {name!r}: {exc.strerror or exc}")


def _write(out: Path, data: bytes | str) -> None:
    try:
        if isinstance(data, str):
            out.write_text(data, encoding="utf-8")
        else:
            out.write_bytes(data)
    except OSError as exc:
        fail(f"cannot write {out.name!r}: {exc.strerror or exc}")


def _dicom_bytes(ds: SourceDataset) -> bytes:
    """A DICOM object (SR, SEG) encoded as a Part 10 file."""
    from dicomio.frames import part10_bytes

    return part10_bytes(ds)


def _measurement(path: Path) -> dict[str, Any]:
    from reporting.subject_file import read_json

    doc = read_json(path, "measurement file")
    if not isinstance(doc, dict):
        fail(f"measurement file {path.name!r} must hold a JSON object (measure output)")
    return doc


def _lesion_uids(path: Path | None) -> dict[str, str]:
    from reporting.subject_file import read_json

    if path is None:
        return {}
    doc = read_json(path, "lesion UID file")
    if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
        fail(f"lesion UID file {path.name!r} must map lesion ids to UID strings")
    return {str(k): v for k, v in doc.items()}


def _source(
    series: Path, series_uid: str | None, pixels: bool
) -> tuple[dicomio.ImageVolume, list[SourceDataset]]:
    """The series volume and its DICOM datasets (headers) in slice order."""
    import dicomio
    from dicomio.sources import read_source_datasets

    volume = dicomio.read_series(series, series_uid, pixels=pixels)
    info = volume.info
    if info.source_format != "dicom":
        fail("DICOM outputs need a DICOM series; the input is " + info.source_format)
    if info.missing_slices:
        fail(
            f"the series misses slices {list(info.missing_slices)}; DICOM SR/SEG need every "
            "slice of the source"
        )
    return volume, read_source_datasets(series, volume)


def _masks(
    volume: dicomio.ImageVolume,
    labels: Path | None,
    liver_label: str | None,
    tumor_label: list[str] | None,
    liver_mask: Path | None,
    tumor_mask: list[Path] | None,
) -> tuple[npt.NDArray[np.bool_] | None, npt.NDArray[np.bool_], list[npt.NDArray[np.bool_]] | None]:
    """Liver mask, tumour mask and per-lesion masks, chosen as ``liverburden measure`` does."""
    import numpy as np

    from app.measure.labels import masks_from_labels
    from dicomio.labels import read_mask

    if labels is not None:
        return masks_from_labels(volume, labels, liver_label, tumor_label)
    if not tumor_mask:
        fail("no segmentation given: expected --labels PATH, or --liver-mask and --tumor-mask")
    tumor = np.zeros(volume.geometry.shape_zyx, dtype=bool)
    for path in tumor_mask:
        tumor |= read_mask(path, volume)
    liver = read_mask(liver_mask, volume) if liver_mask is not None else None
    return liver, tumor, None


SeriesOpt = Annotated[Path, typer.Option("--series", help="DICOM folder, file or .zip.")]
SeriesUidOpt = Annotated[str | None, typer.Option("--series-uid", help="Pick this series.")]
MeasurementOpt = Annotated[
    Path, typer.Option("--measurement", help="Measure JSON of the series (liverburden measure).")
]
OutOpt = Annotated[Path, typer.Option("--out", help="Output file.")]
UidsOpt = Annotated[
    Path | None, typer.Option("--lesion-uids", help="JSON: lesion id -> tracking UID to reuse.")
]
LabelsOpt = Annotated[
    Path | None, typer.Option("--labels", help="Label map, DICOM SEG or RTSTRUCT.")
]
LiverLabelOpt = Annotated[str | None, typer.Option("--liver-label", help="Liver label; 'none'.")]
TumorLabelOpt = Annotated[list[str] | None, typer.Option("--tumor-label", help="Repeatable.")]
LiverMaskOpt = Annotated[Path | None, typer.Option("--liver-mask", help="Binary liver mask.")]
TumorMaskOpt = Annotated[list[Path] | None, typer.Option("--tumor-mask", help="Repeatable.")]
SubjectOpt = Annotated[
    Path, typer.Option("--assessment", help="Subject file: RECIST input JSON (+ extras).")
]


@app.command("sr")
def sr(
    series: SeriesOpt,
    measurement: MeasurementOpt,
    out: OutOpt,
    series_uid: SeriesUidOpt = None,
    lesion_uids: UidsOpt = None,
    assessment: Annotated[
        Path | None,
        typer.Option(
            "--assessment", help="Subject file or assessment output; adds the RECIST response."
        ),
    ] = None,
    date: Annotated[
        str | None,
        typer.Option(
            "--date", help="Timepoint date (YYYY-MM-DD) in the assessment; default StudyDate."
        ),
    ] = None,
    time_point: Annotated[str | None, typer.Option("--time-point", help="e.g. BASELINE.")] = None,
) -> None:
    """DICOM SR (TID 1500 measurement report) of one measurement, referencing the series."""
    from reporting import build_sr, load_subject_file

    with _bad_input():
        doc = _measurement(measurement)
        uids = _lesion_uids(lesion_uids)
        summary = None if assessment is None else load_subject_file(assessment).assessment
        _volume, datasets = _source(series, series_uid, pixels=False)
        report = build_sr(
            doc,
            datasets,
            assessment=summary,
            timepoint_date=date,
            time_point_label=time_point,
            lesion_uids=uids,
        )
        data = _dicom_bytes(report)
    _write(out, data)
    typer.echo(f"wrote {out.name}: SR with {len(doc.get('lesions', []))} lesion(s)")


@app.command("seg")
def seg(
    series: SeriesOpt,
    measurement: MeasurementOpt,
    out: OutOpt,
    labels: LabelsOpt = None,
    liver_label: LiverLabelOpt = None,
    tumor_label: TumorLabelOpt = None,
    liver_mask: LiverMaskOpt = None,
    tumor_mask: TumorMaskOpt = None,
    series_uid: SeriesUidOpt = None,
    lesion_uids: UidsOpt = None,
) -> None:
    """DICOM SEG (BINARY) of the liver and one segment per lesion, referencing the series."""
    from reporting import build_seg, lesion_labels_from_measurement

    with _bad_input():
        doc = _measurement(measurement)
        uids = _lesion_uids(lesion_uids)
        volume, datasets = _source(series, series_uid, pixels=False)
        liver, tumor, separate = _masks(
            volume, labels, liver_label, tumor_label, liver_mask, tumor_mask
        )
        lesion_labels = lesion_labels_from_measurement(tumor, doc, separate)
        ids = [str(les["lesion_id"]) for les in doc["lesions"]]
        segmentation = build_seg(
            datasets,
            lesion_labels,
            ids,
            liver_mask=liver,
            lesion_uids=uids,
            algorithm_version=str(doc["algorithm_version"]),
        )
        data = _dicom_bytes(segmentation)
    _write(out, data)
    typer.echo(f"wrote {out.name}: SEG with {len(ids) + (liver is not None)} segment(s)")


@app.command("keyimages")
def keyimages(
    series: SeriesOpt,
    measurement: MeasurementOpt,
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Folder for L1.png, L2.png, ...")],
    labels: LabelsOpt = None,
    liver_label: LiverLabelOpt = None,
    tumor_label: TumorLabelOpt = None,
    liver_mask: LiverMaskOpt = None,
    tumor_mask: TumorMaskOpt = None,
    series_uid: SeriesUidOpt = None,
    window: Annotated[
        WindowName,
        typer.Option("--window", help="liver (W150/L90), abdomen (W400/L40) or auto (MR)."),
    ] = WindowName.LIVER,
) -> None:
    """One key image per lesion: its long-axis slice with both axes in mm, outlines drawn."""
    from reporting import ABDOMEN_WINDOW, LIVER_WINDOW, key_images

    chosen = {"liver": LIVER_WINDOW, "abdomen": ABDOMEN_WINDOW, "auto": None}[window.value]
    with _bad_input():
        import dicomio

        doc = _measurement(measurement)
        volume = dicomio.read_series(series, series_uid, pixels=True)
        liver, tumor, _ = _masks(volume, labels, liver_label, tumor_label, liver_mask, tumor_mask)
        assert volume.pixels is not None
        images = key_images(volume.pixels, doc, liver_mask=liver, tumor_mask=tumor, window=chosen)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot create {out_dir.name!r}: {exc.strerror or exc}")
    for lesion_id, png in images.items():
        _write(out_dir / f"{lesion_id}.png", png)
    typer.echo(f"wrote {len(images)} key image(s) to {out_dir.name}")


@app.command("sdtm")
def sdtm(
    assessment: Annotated[
        list[Path], typer.Option("--assessment", help="Subject file; repeat for a whole trial.")
    ],
    domain: Annotated[Domain, typer.Option("--domain", help="tu, tr or rs.")],
    out: OutOpt,
    study_id: Annotated[str, typer.Option("--study-id", help="STUDYID of the trial.")],
    fmt: Annotated[Format, typer.Option("--format", help="csv or xpt (SAS v5).")] = Format.CSV,
) -> None:
    """CDISC SDTM TU, TR or RS (RECIST 1.1) of one or more subjects."""
    from reporting import build_sdtm, load_subject_file

    with _bad_input():
        subjects = [load_subject_file(path) for path in assessment]
        data = build_sdtm(domain.value, subjects, study_id=study_id).to_bytes(fmt.value)
    _write(out, data)


def _subject_output(path: Path, out: Path, render: Callable[[Any], bytes | str]) -> None:
    from reporting import load_subject_file

    with _bad_input():
        data = render(load_subject_file(path))
    _write(out, data)


@app.command("fhir")
def fhir(
    assessment: SubjectOpt,
    out: OutOpt,
    subject_system: Annotated[
        str, typer.Option("--subject-system", help="Identifier system of trial subject ids.")
    ] = ("urn:liverburden:trial-subject"),
) -> None:
    """FHIR R4 Bundle: tumour sizes and burden per measured timepoint, responses per visit."""
    from reporting import build_fhir_bundle

    _subject_output(
        assessment,
        out,
        lambda s: json.dumps(
            build_fhir_bundle(
                s.subject_id, s.timepoints, assessment=s.summary, subject_system=subject_system
            ),
            indent=2,
        ),
    )


def _report_maker(
    study_id: str, key_image: list[Path] | None, generated_at: str | None
) -> Callable[[Any], Any]:
    from reporting import KeyImage, SubjectReport

    when = dt.datetime.now(dt.UTC).replace(microsecond=0)
    if generated_at is not None:
        try:
            when = dt.datetime.fromisoformat(generated_at)
        except ValueError:
            fail(f"--generated-at {generated_at!r} is not an ISO 8601 date-time")
    images = []
    for path in key_image or []:
        try:
            images.append(KeyImage(path.stem, path.read_bytes()))
        except OSError as exc:
            fail(f"cannot read key image {path.name!r}: {exc.strerror or exc}")
    return lambda s: SubjectReport(
        s, generated_at=when, study_id=study_id, key_images=tuple(images)
    )


KeyImageOpt = Annotated[list[Path] | None, typer.Option("--key-image", help="PNG; repeatable.")]
StudyOpt = Annotated[str, typer.Option("--study-id", help="Trial shown in the header.")]
WhenOpt = Annotated[str | None, typer.Option("--generated-at", help="ISO date-time; default now.")]


@app.command("html")
def html(
    assessment: SubjectOpt,
    out: OutOpt,
    study_id: StudyOpt = "",
    key_image: KeyImageOpt = None,
    generated_at: WhenOpt = None,
) -> None:
    """The subject report as one self-contained HTML page."""
    from reporting import render_html

    make = _report_maker(study_id, key_image, generated_at)
    _subject_output(assessment, out, lambda s: render_html(make(s)))


@app.command("pdf")
def pdf(
    assessment: SubjectOpt,
    out: OutOpt,
    study_id: StudyOpt = "",
    key_image: KeyImageOpt = None,
    generated_at: WhenOpt = None,
) -> None:
    """The subject report as PDF."""
    from reporting import render_pdf

    make = _report_maker(study_id, key_image, generated_at)
    _subject_output(assessment, out, lambda s: render_pdf(make(s)))


if __name__ == "__main__":
    app()
