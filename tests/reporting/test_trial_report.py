"""The trial view: Kaplan-Meier by arm (lifelines), best hepatic response, HTML, PDF, browser.

Kaplan-Meier figures are checked against a hand computation and against lifelines called here on
the same rows; the page is drawn by a real headless Chromium.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import pypdf
import pytest

from recist.assessment import assess
from recist.endpoint import HepaticPfs
from reporting.trial_report import (
    TrialReport,
    TrialSubject,
    arm_summaries,
    at_risk,
    best_hepatic_change_pct,
    render_trial_html,
    render_trial_pdf,
)
from tests.reporting.conftest import png_image
from tests.reporting.test_report import _screenshot

START = dt.date(2024, 1, 1)


def _subject(sid: str, arm: str, days: int, event: bool, burden: float = 0.3) -> TrialSubject:
    h = HepaticPfs(START, "randomization", event, START + dt.timedelta(days=days - 1))
    criteria = [
        {"criterion": "measurable_liver_metastasis", "met": True, "detail": ""},
        {"criterion": "burden_dominant_in_liver", "met": None, "detail": ""},
        {"criterion": "burden_le_70pct", "met": burden <= 0.7, "detail": ""},
        {
            "criterion": "symptoms_or_liver_progression_or_burden_gt_25pct",
            "met": burden > 0.25 or None,
            "detail": "",
        },
    ]
    read = {"criteria": criteria, "imaging_eligible": None, "burden_fraction": burden}
    return TrialSubject(sid, arm, h, eligibility=read, best_hepatic_change_pct=-40.0 + days / 5)


ROWS = (
    _subject("A-1", "BE", 10, True),
    _subject("A-2", "BE", 20, True),
    _subject("A-3", "BE", 30, False),
    _subject("A-4", "BE", 40, True),
    _subject("B-1", "TACE", 50, False, 0.8),
    _subject("B-2", "TACE", 60, True, 0.1),
    _subject("B-3", "TACE", 90, False),
    _subject("B-4", "TACE", 95, False),
    TrialSubject("C-1", "DEB", None, note="no start"),
)


def _report() -> TrialReport:
    return TrialReport("NET", ROWS, dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC), "0.2.0")


def test_arm_medians_equal_the_hand_computation_and_lifelines_own() -> None:
    """BE: events at 10 and 20 of 4 at risk (S = 0.75, then 0.5): median 20 days; TACE: one
    event at 60 with 3 at risk (S = 2/3) never falls to 0.5: not reached."""
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    arms = {a.arm: a for a in arm_summaries(ROWS)}
    assert sorted(arms) == ["BE", "TACE"]  # a subject without an interval is in no curve
    be, tace = arms["BE"], arms["TACE"]
    assert (be.subjects, be.events, be.median_days) == (4, 3, 20.0)
    assert (tace.subjects, tace.events, tace.median_days) == (4, 1, None)
    for arm, members in (("BE", ROWS[:4]), ("TACE", ROWS[4:8])):
        kmf = KaplanMeierFitter().fit(
            [s.hpfs.days for s in members if s.hpfs],
            [s.hpfs.event for s in members if s.hpfs],
        )
        median = float(kmf.median_survival_time_)
        assert arms[arm].median_days == (median if np.isfinite(median) else None)
        ci = median_survival_times(kmf.confidence_interval_)
        low = float(ci.iloc[0, 0])
        assert arms[arm].ci_low_days == (low if np.isfinite(low) else None)


def test_numbers_at_risk_count_the_intervals_still_running() -> None:
    """Under the curve: how many intervals last at least t (lifelines' event table)."""
    from lifelines import KaplanMeierFitter

    days = [10, 20, 30, 40]
    kmf = KaplanMeierFitter(label="BE").fit(days, [True, True, False, True])
    times = [0.0, 5.0, 10.0, 20.0, 25.0, 40.0, 41.0, 80.0]
    assert (
        at_risk(kmf, times)
        == [sum(d >= t for d in days) for t in times]
        == [4, 4, 4, 3, 2, 1, 0, 0]
    )


def test_best_hepatic_change_is_the_most_negative_over_follow_ups() -> None:
    lesions = [{"lesion_id": "T1", "organ": "liver", "lymph_node": False, "role": "target"}]
    timepoints = [
        {"date": d, "baseline": n == 0, "measurements": [{"lesion_id": "T1", "diameter_mm": v}]}
        for n, (d, v) in enumerate(
            (("2024-01-01", 40.0), ("2024-03-01", 26.0), ("2024-05-01", 30.0))
        )
    ]
    out = assess({"subject_id": "S", "lesions": lesions, "timepoints": timepoints})
    assert best_hepatic_change_pct(out) == pytest.approx(-35.0)
    assert best_hepatic_change_pct({"timepoints": []}) is None


def test_html_and_pdf_hold_every_subject_and_the_arm_table() -> None:
    html = render_trial_html(_report())
    for sid in ("A-1", "B-3", "C-1"):
        assert sid in html
    assert "not reached" in html and "no start" in html
    assert html.count("data:image/png;base64,") == 3
    assert "http://" not in html and "https://" not in html  # self-contained
    pdf = pypdf.PdfReader(io.BytesIO(render_trial_pdf(_report())))
    assert len(pdf.pages) == 4
    text = pdf.pages[0].extract_text()
    assert "Trial report: NET" in text and "TACE" in text


def test_trial_page_renders_in_headless_chromium(tmp_path: Path) -> None:
    """A real browser draws the page: table headers, met / not met cells, the arms' curves."""
    page = tmp_path / "trial.html"
    page.write_text(render_trial_html(_report()), encoding="utf-8")
    shot = tmp_path / "trial.png"
    _screenshot(page, shot)
    rgb = np.asarray(png_image(shot.read_bytes()).convert("RGB")).astype(int)
    assert rgb.std() > 30

    def count(colour: tuple[int, int, int], tol: int = 8) -> int:
        return int(np.all(np.abs(rgb - colour) <= tol, axis=-1).sum())

    assert count((31, 78, 121)) > 2000  # table headers (#1f4e79)
    assert count((198, 239, 206)) > 300  # met (#c6efce)
    assert count((244, 199, 195)) > 100  # not met (#f4c7c3)
    from reporting._render import ARM_COLORS

    first = tuple(int(ARM_COLORS[0][i : i + 2], 16) for i in (1, 3, 5))
    assert count(first, tol=20) > 200  # the first arm's curve and bars


def test_odd_arm_and_subject_text_draws_without_error() -> None:
    """Free-text arms and ids with control characters, ``$...$`` (matplotlib's mathematics) or
    glyphs the font lacks are drawn as text (the fuzzer found a 500 on a control character)."""
    odd = TrialSubject(
        "S\x1e$x$",
        "arm\x1e $\\frac{1$ 中",
        HepaticPfs(START, "baseline", True, START + dt.timedelta(days=30)),
        eligibility={"burden_fraction": 0.3},
        best_hepatic_change_pct=-12.0,
    )
    report = TrialReport("NET", (odd,), dt.datetime(2024, 6, 1, tzinfo=dt.UTC), "0.2.0")
    html = render_trial_html(report)
    assert "arm\x1e $\\frac{1$ 中" in html  # the page shows the text as given (HTML-escaped)
    assert render_trial_pdf(report).startswith(b"%PDF")
