"""The change report of a re-measurement run, as CSV and as one HTML page.

Shared by ``liverburden recheck`` (nothing stored) and ``liverburden reprocess`` (new results
stored): a row per measurement (who, which visit, the version it was stored under, what became
of it) and, per row, every difference between the stored result and the new one, a flipped
decision marked.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

__all__ = ["ComparedRow", "Decisions", "report_csv", "report_html"]


class ComparedRow(Protocol):
    """A measurement measured again, as the reports read it."""

    @property
    def measurement_id(self) -> str:
        """The measurement of record measured again."""

    @property
    def subject_id(self) -> str:
        """Its subject."""

    @property
    def timepoint(self) -> str:
        """Its timepoint's label."""

    @property
    def timepoint_date(self) -> str:
        """Its timepoint's date (ISO)."""

    @property
    def stored_version(self) -> str:
        """The algorithm version that made it."""

    @property
    def version(self) -> str:
        """The algorithm version that measured it again."""

    @property
    def status(self) -> str:
        """What happened (re-measured, skipped, failed, ...)."""

    @property
    def differences(self) -> tuple[dict[str, Any], ...]:
        """Each number or decision that differs."""

    @property
    def error(self) -> str | None:
        """Why it failed, if it did."""


#: Per subject, each decision that adopting the version would flip (app.batch.decisions).
Decisions = Mapping[str, Sequence[Mapping[str, Any]]]


def report_csv(rows: Sequence[ComparedRow], decisions: Decisions | None = None) -> str:
    """Return the change report as CSV.

    One line per difference (a measurement without differences: one line with its status); then
    a line per flipped subject decision (status ``decision``, no measurement).
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(
        [
            "measurement_id",
            "subject_id",
            "timepoint",
            "timepoint_date",
            "stored_version",
            "version",
            "status",
            "what",
            "stored",
            "now",
            "flip",
            "error",
        ]
    )
    for r in rows:
        head = [
            r.measurement_id,
            r.subject_id,
            r.timepoint,
            r.timepoint_date,
            r.stored_version,
            r.version,
            r.status,
        ]
        if not r.differences:
            writer.writerow([*head, "", "", "", "", r.error or ""])
        for d in r.differences:
            writer.writerow(
                [*head, d["what"], d["stored"], d["now"], "yes" if d["flip"] else "", ""]
            )
    for subject_id, flips in (decisions or {}).items():
        for f in flips:
            line = ["", subject_id, "", "", "", "", "decision", f["what"], f["now"], f["adopted"]]
            writer.writerow([*line, "yes", ""])
    return buf.getvalue()


_STATUS_COLOUR = {
    "same": "#e3f4e1",
    "skipped": "#e3f4e1",
    "changed": "#fdf0d5",
    "re-measured": "#fdf0d5",
    "failed": "#f9d6d5",
}
_PAGE_CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; margin: 0 0 6px 0; }
h2 { font-size: 17px; margin: 18px 0 4px 0; }
table { border-collapse: collapse; margin: 12px 0; font-size: 13px; }
th { background: #34495e; color: #fff; padding: 5px 8px; text-align: left; }
td { border: 1px solid #bbb; padding: 4px 8px; vertical-align: top; }
table.diff { margin: 2px 0 2px 24px; }
table.diff th { background: #7f8c8d; }
td.flip { background: #f9d6d5; font-weight: bold; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
"""


def _differences(r: ComparedRow) -> str:
    """Return a row's differences as their own small table: what, stored value, new value."""
    if not r.differences:
        return ""
    cells = []
    for d in r.differences:
        cls = ' class="flip"' if d["flip"] else ""
        cells.append(
            f"<tr><td{cls}>{html.escape(str(d['what']))}</td>"
            f'<td class="num">{html.escape(str(d["stored"]))}</td>'
            f'<td class="num">{html.escape(str(d["now"]))}</td></tr>'
        )
    return (
        '<tr><td colspan="7"><table class="diff"><thead><tr><th>What</th>'
        f"<th>Stored ({html.escape(r.stored_version)})</th><th>Now ({html.escape(r.version)})</th>"
        f"</tr></thead><tbody>{''.join(cells)}</tbody></table></td></tr>"
    )


def _decisions(decisions: Decisions | None) -> str:
    """Return the subjects' decisions that adopting would flip, as one table (empty without any)."""
    if decisions is None:
        return ""
    cells = [
        f'<tr><td>{html.escape(sid)}</td><td class="flip">{html.escape(str(f["what"]))}</td>'
        f"<td>{html.escape(str(f['now']))}</td><td>{html.escape(str(f['adopted']))}</td></tr>"
        for sid, flips in decisions.items()
        for f in flips
    ]
    if not cells:
        return "<h2>Decisions</h2><p>Adopting this version flips no subject's decision.</p>"
    return (
        "<h2>Decisions adopting this version would flip</h2><table><thead><tr><th>Subject</th>"
        "<th>Decision</th><th>Now</th><th>Once adopted</th></tr></thead>"
        f"<tbody>{''.join(cells)}</tbody></table>"
    )


def report_html(
    rows: Sequence[ComparedRow],
    report: Mapping[str, Any],
    title: str,
    counts: Sequence[str],
    decisions: Decisions | None = None,
) -> str:
    """Return the report as one self-contained page.

    ``title``, the ``counts`` (keys of ``report``), who asked, then a row per measurement with its
    status (coloured) and, under it, a small table of its differences (a flipped decision in red).
    """
    actor = str(report["requested_by"])
    summary = ", ".join(f"{report[k]} {k.replace('_', '-')}" for k in counts)
    body = []
    for r in rows:
        colour = _STATUS_COLOUR.get(r.status, "#fff")
        body.append(
            "<tr>"
            + "".join(
                f"<td>{html.escape(v)}</td>"
                for v in (r.subject_id, r.timepoint, r.timepoint_date, r.measurement_id)
            )
            + f"<td>{html.escape(r.stored_version)}</td>"
            + f'<td style="background:{colour}">{html.escape(r.status)}</td>'
            + f"<td>{html.escape(r.error or '')}</td></tr>"
            + _differences(r)
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("Subject", "Visit", "Date", "Measurement", "Stored under", "Status", "Note")
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        f"<style>{_PAGE_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(summary)}; requested by {html.escape(actor)}. Under each measurement "
        "that moved: what, the stored value, the value now; a flipped decision in red.</p>"
        f"{_decisions(decisions)}"
        f"<h2>Measurements</h2><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
        "</table></body></html>\n"
    )
