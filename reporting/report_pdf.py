"""The subject report as a PDF, drawn with matplotlib only (no browser in the service).

Pages (A4 landscape): 1. header, summary, timepoint table and provenance; 2. measured lesions and
the plots; then the key images, two per page. Text is embedded as TrueType (``pdf.fonttype`` 42)
so that it can be searched and extracted; the file carries no creation date, so the same report
gives the same bytes.
"""

from __future__ import annotations

import contextlib
import io
import textwrap
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

from reporting._render import missing_glyphs_drawn, plot_text
from reporting._report_content import (
    LESION_HEADERS,
    RESPONSE_COLUMNS,
    TIMEPOINT_HEADERS,
    SubjectReport,
    lesion_rows,
    report_plots,
    summary_lines,
    timepoint_rows,
)
from reporting.report_html import HEADER_BACKGROUND, RESPONSE_BACKGROUND

__all__ = ["render_pdf"]

_PAGE_IN: Final = (11.69, 8.27)
_MAX_TABLE_ROWS: Final = 22


def _page() -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=_PAGE_IN, dpi=100)


def _table(
    ax: Axes, headers: tuple[str, ...], rows: list[list[str]], response_columns: frozenset[int]
) -> None:
    ax.axis("off")
    if not rows:
        ax.text(0.0, 1.0, "none", va="top", fontsize=9)
        return
    colours = [
        [
            RESPONSE_BACKGROUND.get(v, "white") if i in response_columns else "white"
            for i, v in enumerate(row)
        ]
        for row in rows
    ]
    table = ax.table(
        cellText=[[plot_text(v) for v in row] for row in rows],
        colLabels=list(headers),
        cellColours=colours,
        loc="upper center",
        cellLoc="center",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1.0, 1.3)
    for (r, _c), cell in table.get_celld().items():
        if r == 0:
            cell.set_facecolor(HEADER_BACKGROUND)
            cell.get_text().set_color("white")
            cell.get_text().set_fontweight("bold")


def _first_page(report: SubjectReport) -> Figure:
    fig = _page()
    s = report.subject.summary
    fig.text(
        0.04,
        0.95,
        f"Liver tumour burden and RECIST 1.1 report: {s.subject_id}",
        fontsize=16,
        fontweight="bold",
    )
    fig.text(
        0.04,
        0.92,
        f"Generated {report.generated_text()} by liverburden {report.versions}",
        fontsize=9,
        color="#555555",
    )
    y = 0.87
    for key, value in summary_lines(report):
        fig.text(0.04, y, f"{key}:", fontsize=10, fontweight="bold")
        fig.text(0.34, y, value, fontsize=10)
        y -= 0.03
    fig.text(0.04, y - 0.01, "Timepoints", fontsize=12, fontweight="bold")
    rows = timepoint_rows(report)[:_MAX_TABLE_ROWS]
    _table(fig.add_axes((0.04, 0.22, 0.92, y - 0.25)), TIMEPOINT_HEADERS, rows, RESPONSE_COLUMNS)
    lines = [
        f"Algorithm version: {report.versions}. Criteria: RECIST 1.1 "
        "(Eisenhauer et al., Eur J Cancer 2009;45:228-247)."
    ]
    lines += [f"{name}: sha256 {digest}" for name, digest in report.hashes] or ["no input hashes"]
    fig.text(0.04, 0.17, "Provenance", fontsize=12, fontweight="bold")
    fig.text(
        0.04,
        0.15,
        "\n".join(textwrap.shorten(ln, 160) for ln in lines),
        fontsize=7,
        va="top",
        family="monospace",
    )
    return fig


def _image_axes(ax: Axes, title: str, png: bytes) -> None:
    import matplotlib.image as mpimg

    ax.imshow(mpimg.imread(io.BytesIO(png), format="png"), interpolation="antialiased")
    ax.set_title(title, fontsize=10)
    ax.axis("off")


def _plots_page(report: SubjectReport) -> Figure:
    fig = _page()
    fig.text(0.04, 0.95, "Measured lesions and plots", fontsize=14, fontweight="bold")
    rows = lesion_rows(report)[:12]
    _table(fig.add_axes((0.04, 0.58, 0.92, 0.34)), LESION_HEADERS, rows, frozenset())
    plots = report_plots(report)
    width = 0.92 / max(1, len(plots))
    for i, (title, png) in enumerate(plots):
        _image_axes(fig.add_axes((0.04 + i * width, 0.03, width - 0.01, 0.52)), title, png)
    return fig


@contextlib.contextmanager
def pdf_pages(buf: io.BytesIO, title: str) -> Iterator[Any]:
    """Yield a PDF being written to ``buf``: TrueType text, no creation date.

    The same report gives the same bytes.
    """
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages

    with (
        missing_glyphs_drawn(),
        matplotlib.rc_context({"pdf.fonttype": 42}),
        PdfPages(
            buf, metadata={"Title": title, "Creator": "liverburden", "CreationDate": None}
        ) as pdf,
    ):
        yield pdf


def render_pdf(report: SubjectReport) -> bytes:
    """Return the report as PDF bytes (``application/pdf``); the module docstring says its pages."""
    buf = io.BytesIO()
    with pdf_pages(buf, f"Liver tumour burden report {report.subject.subject_id}") as pdf:
        pdf.savefig(_first_page(report))
        pdf.savefig(_plots_page(report))
        images = list(report.key_images)
        for start in range(0, len(images), 2):
            fig = _page()
            fig.text(0.04, 0.95, "Key images", fontsize=14, fontweight="bold")
            for j, key in enumerate(images[start : start + 2]):
                _image_axes(fig.add_axes((0.04, 0.50 - j * 0.47, 0.92, 0.42)), key.title, key.png)
            pdf.savefig(fig)
    return buf.getvalue()
