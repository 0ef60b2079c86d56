"""Trial plots as PNG bytes: spider plot, waterfall plot and tumour burden over time.

- **Spider plot**: per subject, the % change of the sum of diameters from baseline at each
  timepoint, against days since baseline, coloured by arm, with the RECIST 1.1 reference lines
  at -30 % (partial response) and +20 % (progression, which RECIST measures from the nadir; the
  line is the customary visual guide). With ``reference="nadir"``, the change from the nadir
  the engine measured progression against at each follow-up (only the +20 % line applies): a
  progression at -28.8 % from baseline shows as what it is, a rise over the nadir.
- **Waterfall plot**: per subject, the best (most negative) % change from baseline over the
  follow-up timepoints, sorted from worst to best, coloured by arm, same reference lines.
- **Burden over time**: hepatic tumour burden (% of total liver volume) per timepoint, with the
  trial's thresholds (25 % and 70 %; :mod:`volumetrics.thresholds`).

References
----------
.. [1] Eisenhauer EA, et al. RECIST 1.1. Eur J Cancer 2009;45:228-247, section 4.3.1.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

from reporting._render import ARM_COLORS, new_figure, plot_text, to_png
from reporting.model import AssessmentSummary, SubjectData
from volumetrics import BURDEN_HIGH_FRACTION, BURDEN_MAX_FRACTION

__all__ = [
    "best_percent_change",
    "burden_plot",
    "percent_change_from_baseline",
    "percent_change_from_nadir",
    "spider_plot",
    "waterfall_plot",
]

PR_LINE_PCT: Final = -30.0
PD_LINE_PCT: Final = 20.0
_NO_ARM: Final = "(no arm)"


def percent_change_from_baseline(summary: AssessmentSummary) -> list[tuple[int, float]]:
    """``(days since baseline, % change of the sum from baseline)`` of each timepoint with a sum.

    Empty when there is no baseline or its sum is 0 or unknown. The baseline itself is (0, 0.0).
    """
    base = summary.baseline
    if base is None or not base.sum_mm:
        return []
    return [
        ((tp.date - base.date).days, 100.0 * (tp.sum_mm - base.sum_mm) / base.sum_mm)
        for tp in summary.timepoints
        if tp.sum_mm is not None and tp.date >= base.date
    ]


def percent_change_from_nadir(summary: AssessmentSummary) -> list[tuple[int, float]]:
    """``(days since baseline, % change of the sum from its nadir)`` of each follow-up.

    The nadir is the engine's (``nadir_mm``: the smallest sum before that timepoint, baseline
    included), the reference of RECIST 1.1 progression; timepoints without a sum or a positive
    nadir are left out. The baseline is (0, 0.0).
    """
    base = summary.baseline
    if base is None or not base.sum_mm:
        return []
    out = [(0, 0.0)]
    for tp in summary.timepoints:
        if tp.baseline or tp.date <= base.date or tp.sum_mm is None or not tp.nadir_mm:
            continue
        out.append(((tp.date - base.date).days, 100.0 * (tp.sum_mm - tp.nadir_mm) / tp.nadir_mm))
    return out


def best_percent_change(summary: AssessmentSummary) -> float | None:
    """Return the smallest % change from baseline over the follow-ups (``None`` if none)."""
    changes = [pct for days, pct in percent_change_from_baseline(summary) if days > 0]
    return min(changes) if changes else None


def _arm_colors(subjects: Sequence[SubjectData]) -> dict[str, str]:
    arms = sorted({s.arm or _NO_ARM for s in subjects})
    return {arm: ARM_COLORS[i % len(ARM_COLORS)] for i, arm in enumerate(arms)}


def _reference_lines(ax: Axes, horizontal: bool = True, response: bool = True) -> None:
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.axhline(PD_LINE_PCT, color="#d62728", linestyle="--", linewidth=1.0, label="+20 %")
    if response:
        ax.axhline(PR_LINE_PCT, color="#2ca02c", linestyle="--", linewidth=1.0, label="-30 %")


def spider_plot(
    subjects: Sequence[SubjectData],
    *,
    title: str = "Change in sum of diameters",
    reference: str = "baseline",
) -> bytes:
    """Return a spider plot PNG (800 x 500) of the subjects' % change over time.

    The change is from baseline, or from the nadir with ``reference="nadir"``.
    """
    if reference not in ("baseline", "nadir"):
        raise ValueError(f"reference must be 'baseline' or 'nadir', not {reference!r}")
    change = percent_change_from_nadir if reference == "nadir" else percent_change_from_baseline
    fig = new_figure(8.0, 5.0)
    ax = fig.add_subplot()
    colors = _arm_colors(subjects)
    seen: set[str] = set()
    for subject in subjects:
        points = change(subject.summary)
        if not points:
            continue
        arm = subject.arm or _NO_ARM
        ax.plot(
            [d for d, _ in points],
            [p for _, p in points],
            marker="o",
            markersize=4,
            color=colors[arm],
            linewidth=1.5,
            label=None if arm in seen else plot_text(arm),
        )
        seen.add(arm)
        days, pct = points[-1]
        ax.annotate(
            subject.subject_id,
            (days, pct),
            xytext=(4, 0),
            textcoords="offset points",
            fontsize=7,
            va="center",
        )
    _reference_lines(ax, response=reference == "baseline")
    ax.set_xlabel("Days since baseline")
    ax.set_ylabel(f"Change of sum of diameters from {reference} (%)")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    ax.grid(True, alpha=0.3)
    return to_png(fig)


def waterfall_plot(
    subjects: Sequence[SubjectData], *, title: str = "Best change in sum of diameters"
) -> bytes:
    """Waterfall plot PNG (800 x 500) of each subject's best % change, coloured by arm."""
    fig = new_figure(8.0, 5.0)
    ax = fig.add_subplot()
    colors = _arm_colors(subjects)
    bars = [
        (best, s.subject_id, s.arm or _NO_ARM)
        for s in subjects
        if (best := best_percent_change(s.summary)) is not None
    ]
    bars.sort(key=lambda b: (-b[0], b[1]))
    seen: set[str] = set()
    for x, (best, _sid, arm) in enumerate(bars):
        ax.bar(x, best, color=colors[arm], label=None if arm in seen else plot_text(arm))
        seen.add(arm)
    ax.set_xticks(range(len(bars)), [plot_text(sid) for _, sid, _ in bars], rotation=90, fontsize=7)
    _reference_lines(ax)
    ax.set_ylabel("Best change from baseline (%)")
    ax.set_title(title)
    if bars:
        ax.legend(loc="upper right", fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return to_png(fig)


def burden_plot(
    burdens: Mapping[str, Sequence[tuple[dt.date, float]]], *, title: str = "Hepatic tumour burden"
) -> bytes:
    """Burden-over-time PNG (800 x 400): subject id -> ``(date, burden fraction 0..1)`` points."""
    fig = new_figure(8.0, 4.0)
    ax = fig.add_subplot()
    for i, (subject_id, points) in enumerate(sorted(burdens.items())):
        pts = sorted(points)
        if not pts:
            continue
        ax.plot(
            np.array([d for d, _ in pts], dtype="datetime64[D]"),
            [100.0 * f for _, f in pts],
            marker="o",
            markersize=4,
            color=ARM_COLORS[i % len(ARM_COLORS)],
            label=plot_text(subject_id),
        )
    ax.axhline(
        100.0 * float(BURDEN_HIGH_FRACTION),
        color="#ff7f0e",
        linestyle="--",
        linewidth=1.0,
        label=f"{100 * float(BURDEN_HIGH_FRACTION):g} %",
    )
    ax.axhline(
        100.0 * float(BURDEN_MAX_FRACTION),
        color="#d62728",
        linestyle="--",
        linewidth=1.0,
        label=f"{100 * float(BURDEN_MAX_FRACTION):g} %",
    )
    ax.set_ylim(0.0, 100.0)
    ax.set_ylabel("Tumour / liver volume (%)")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.autofmt_xdate()
    return to_png(fig)


def subject_burden_points(subject: SubjectData) -> list[tuple[dt.date, float]]:
    """Return the subject's ``(date, burden fraction)`` points from its measurements."""
    return [
        (tm.date, tm.measurement.burden_fraction)
        for tm in sorted(subject.timepoints, key=lambda t: t.date)
        if tm.measurement.burden_fraction is not None
    ]
