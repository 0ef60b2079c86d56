"""The subject report as one self-contained HTML page.

Everything is inline: the style sheet, and every image as a ``data:image/png;base64`` URI. The page
loads no script, font or image from anywhere, so it can be archived, mailed or opened offline.
Sections: header, summary (best overall response, hepatic progression), timepoint table (sums,
change from baseline, responses, burden), lesions, key images, plots, provenance (algorithm
version, input SHA-256 hashes, generation time).
"""

from __future__ import annotations

import base64
from html import escape

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

__all__ = ["render_html"]

#: Background of a response cell, by the text shown.
RESPONSE_BACKGROUND = {
    "CR": "#c6efce",
    "PR": "#c6efce",
    "SD": "#fff2cc",
    "Non-CR/Non-PD": "#fff2cc",
    "PD": "#f4c7c3",
    "NE": "#e7e6e6",
}
#: Header row background of every table (the screenshot test looks for it).
HEADER_BACKGROUND = "#1f4e79"

_CSS = f"""
body {{ font-family: "DejaVu Sans", Arial, sans-serif; margin: 24px; color: #222; }}
h1 {{ font-size: 22px; margin: 0 0 4px 0; }}
h2 {{ font-size: 17px; border-bottom: 2px solid {HEADER_BACKGROUND}; padding-bottom: 2px;
      margin-top: 28px; }}
table {{ border-collapse: collapse; margin: 8px 0; font-size: 13px; }}
th {{ background: {HEADER_BACKGROUND}; color: #fff; padding: 5px 8px; text-align: left; }}
td {{ border: 1px solid #bbb; padding: 4px 8px; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
dl.summary {{ display: grid; grid-template-columns: max-content auto; gap: 2px 16px; }}
dl.summary dt {{ font-weight: bold; }}
dl.summary dd {{ margin: 0; }}
figure {{ margin: 8px 0 16px 0; }}
figure img {{ max-width: 100%; border: 1px solid #ccc; }}
figcaption {{ font-size: 12px; color: #555; }}
code {{ font-size: 12px; }}
.meta {{ color: #555; font-size: 12px; }}
"""


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _table(
    headers: tuple[str, ...], rows: list[list[str]], response_columns: frozenset[int], table_id: str
) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            style = ""
            if i in response_columns and value in RESPONSE_BACKGROUND:
                style = f' style="background:{RESPONSE_BACKGROUND[value]}"'
            numeric = value[:1].isdigit() or (value[:1] in "+-" and value[1:2].isdigit())
            cls = ' class="num"' if numeric and i > 0 else ""
            cells.append(f"<td{cls}{style}>{escape(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table id="{table_id}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _figure(title: str, png: bytes) -> str:
    return (
        f'<figure><img alt="{escape(title)}" src="{_data_uri(png)}">'
        f"<figcaption>{escape(title)}</figcaption></figure>"
    )


def render_html(report: SubjectReport) -> str:
    """Return the report page as an HTML5 string (UTF-8 when encoded; ``text/html``)."""
    s = report.subject.summary
    summary = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in summary_lines(report))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Liver tumour burden report - {escape(s.subject_id)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Liver tumour burden and RECIST 1.1 report: {escape(s.subject_id)}</h1>",
        f'<p class="meta">Generated {escape(report.generated_text())} by liverburden '
        f"{escape(report.versions)}</p>",
        f'<h2>Summary</h2><dl class="summary">{summary}</dl>',
        "<h2>Timepoints</h2>",
        _table(TIMEPOINT_HEADERS, timepoint_rows(report), RESPONSE_COLUMNS, "timepoints"),
    ]
    lesions = lesion_rows(report)
    if lesions:
        parts += [
            "<h2>Measured lesions</h2>",
            _table(LESION_HEADERS, lesions, frozenset(), "lesions"),
        ]
    if report.key_images:
        parts.append("<h2>Key images</h2>")
        parts += [_figure(k.title, k.png) for k in report.key_images]
    parts.append("<h2>Plots</h2>")
    parts += [_figure(title, png) for title, png in report_plots(report)]
    hashes = (
        "".join(
            f"<tr><td>{escape(name)}</td><td><code>{escape(digest)}</code></td></tr>"
            for name, digest in report.hashes
        )
        or '<tr><td colspan="2">none recorded</td></tr>'
    )
    parts += [
        "<h2>Provenance</h2>",
        f"<p>Algorithm version: <b>{escape(report.versions)}</b>. Response criteria: RECIST 1.1 "
        "(Eisenhauer et al., Eur J Cancer 2009;45:228-247). Generated at "
        f"{escape(report.generated_text())}.</p>",
        f'<table id="hashes"><thead><tr><th>Input</th><th>SHA-256</th></tr></thead>'
        f"<tbody>{hashes}</tbody></table>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
