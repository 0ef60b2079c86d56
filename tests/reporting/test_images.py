"""Key images and plots: deterministic PNGs of the documented size showing what they claim."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from reporting import (
    ABDOMEN_WINDOW,
    LIVER_WINDOW,
    MeasurementSummary,
    ReportingInputError,
    SubjectData,
    best_percent_change,
    burden_plot,
    key_images,
    percent_change_from_baseline,
    percent_change_from_nadir,
    render_key_image,
    spider_plot,
    waterfall_plot,
)
from reporting._report_content import TIMEPOINT_HEADERS, SubjectReport, timepoint_rows
from tests.reporting._ct import TinyCT
from tests.reporting.conftest import make_subject, png_image

RED = (230, 25, 75)  # long axis
CYAN = (66, 212, 244)  # short axis
YELLOW = (255, 225, 25)  # tumour outline


def _count(rgb: np.ndarray, colour: tuple[int, int, int], tol: int = 12) -> int:
    return int(np.all(np.abs(rgb[..., :3].astype(int) - colour) <= tol, axis=-1).sum())


def test_key_images_show_axes_and_outlines(tiny_ct: TinyCT) -> None:
    """Each lesion's PNG is 1000 x 500; axes are drawn in the zoom panel, outlines in both."""
    images = key_images(
        tiny_ct.hu, tiny_ct.measurement, liver_mask=tiny_ct.liver, tumor_mask=tiny_ct.tumor
    )
    assert list(images) == ["L1", "L2"]
    for png in images.values():
        rgb = np.asarray(png_image(png).convert("RGB"))
        assert rgb.shape == (500, 1000, 3)
        left, right = rgb[:, :500], rgb[:, 500:]
        assert _count(right, RED) > 50 and _count(left, RED) == 0
        assert _count(right, CYAN) > 50 and _count(left, CYAN) == 0
        assert _count(left, YELLOW) > 20 and _count(right, YELLOW) > 20


def test_key_images_are_deterministic(tiny_ct: TinyCT) -> None:
    """The same inputs give the same bytes."""
    first = key_images(tiny_ct.hu, tiny_ct.measurement, tumor_mask=tiny_ct.tumor)
    second = key_images(tiny_ct.hu, tiny_ct.measurement, tumor_mask=tiny_ct.tumor)
    assert first == second


def test_window_changes_the_grey_levels(tiny_ct: TinyCT) -> None:
    """Liver window (W150/L90) and abdomen window (W400/L40) render the slice differently."""
    lesion = MeasurementSummary.from_json(tiny_ct.measurement).lesions[0]
    image = tiny_ct.hu[lesion.slice_index]
    liver = np.asarray(
        png_image(render_key_image(image, (0.8, 0.8), lesion, window=LIVER_WINDOW)).convert("L")
    )
    abdomen = np.asarray(
        png_image(render_key_image(image, (0.8, 0.8), lesion, window=ABDOMEN_WINDOW)).convert("L")
    )
    auto = np.asarray(
        png_image(render_key_image(image, (0.8, 0.8), lesion, window=None)).convert("L")
    )

    def grey(hu: float, lo: float, hi: float) -> int:
        return round(255 * (hu - lo) / (hi - lo))

    # Liver 100 HU and tumour 30 HU land on the grey levels the window predicts.
    for image_grey, (lo, hi) in ((liver, LIVER_WINDOW.bounds), (abdomen, ABDOMEN_WINDOW.bounds)):
        for hu in (100.0, 30.0):
            assert int((np.abs(image_grey.astype(int) - grey(hu, lo, hi)) <= 1).sum()) > 2000
    # The liver window separates the lesion from the parenchyma more than the abdomen window.
    assert grey(100, *LIVER_WINDOW.bounds) - grey(30, *LIVER_WINDOW.bounds) > 2 * (
        grey(100, *ABDOMEN_WINDOW.bounds) - grey(30, *ABDOMEN_WINDOW.bounds)
    )
    assert not np.array_equal(liver, auto)


def test_key_image_refuses_mismatched_input(tiny_ct: TinyCT) -> None:
    """A 3-D image, a mask of another shape or a lesion without endpoints is refused."""
    lesion = MeasurementSummary.from_json(tiny_ct.measurement).lesions[0]
    with pytest.raises(ReportingInputError, match="2-D"):
        render_key_image(tiny_ct.hu, (0.8, 0.8), lesion)
    with pytest.raises(ReportingInputError, match="tumor"):
        render_key_image(tiny_ct.hu[0], (0.8, 0.8), lesion, tumor=tiny_ct.tumor[0, 1:])
    bare = dataclasses.replace(lesion, long_axis_endpoints_rc=None)
    with pytest.raises(ReportingInputError, match="endpoints"):
        render_key_image(tiny_ct.hu[0], (0.8, 0.8), bare)


def test_percent_change_from_baseline() -> None:
    """30 -> 20 -> 36 mm is 0, -33.3 and +20 % at days 0, 56 and 112; best is -33.3 %."""
    subject = make_subject()
    points = percent_change_from_baseline(subject.summary)
    assert [d for d, _ in points] == [0, 56, 112]
    assert [p for _, p in points] == pytest.approx([0.0, -100 / 3, 20.0])
    assert best_percent_change(subject.summary) == pytest.approx(-100 / 3)


def test_percent_change_from_nadir_shows_progression_as_a_rise() -> None:
    """40 -> 20 -> 28.5 mm: -28.75 % from baseline looks like a response, but it is +42.5 %
    over the 20 mm nadir, RECIST 1.1 progression; the report's table says both."""
    subject = make_subject(sums=(40.0, 20.0, 28.5))
    assert subject.summary.timepoints[2].overall_response == "PD"
    baseline = dict(percent_change_from_baseline(subject.summary))
    nadir = dict(percent_change_from_nadir(subject.summary))
    assert baseline[112] == pytest.approx(-28.75)
    assert nadir == pytest.approx({0: 0.0, 56: -50.0, 112: 42.5})
    rows = timepoint_rows(SubjectReport(subject=subject, generated_at=dt.datetime(2026, 1, 1)))
    column = TIMEPOINT_HEADERS.index("From nadir (%)")
    assert [row[column] for row in rows] == ["-", "-50.0", "+42.5"]
    png = spider_plot([subject], reference="nadir")
    assert png != spider_plot([subject])  # another picture: the curve rises over +20 %
    with pytest.raises(ValueError, match="nadir"):
        spider_plot([subject], reference="peak")


def test_best_change_needs_a_follow_up() -> None:
    """A subject with a baseline only has no best change (and no waterfall bar)."""
    subject = make_subject(sums=(30.0,))
    assert best_percent_change(subject.summary) is None


def _subjects() -> list[SubjectData]:
    table = [(30.0, 20.0, 36.0), (40.0, 25.0, 20.0), (50.0, 52.0, 61.0), (44.0, 30.0, 28.0)]
    return [make_subject(f"S-{i:03d}", sums, arm="AB"[i % 2]) for i, sums in enumerate(table)]


@pytest.mark.parametrize(
    ("plot", "size"),
    [
        (lambda s: spider_plot(s), (800, 500)),
        (lambda s: waterfall_plot(s), (800, 500)),
        (
            lambda s: burden_plot(
                {"S-000": [(dt.date(2020, 1, 1), 0.1), (dt.date(2020, 3, 1), 0.3)]}
            ),
            (800, 400),
        ),
    ],
    ids=["spider", "waterfall", "burden"],
)
def test_plots_have_fixed_size_reference_lines_and_are_deterministic(plot, size) -> None:  # type: ignore[no-untyped-def]
    """Each plot is a PNG of its documented size, draws a red dashed line, same bytes twice."""
    subjects = _subjects()
    first = plot(subjects)
    assert first == plot(subjects)
    rgb = np.asarray(png_image(first).convert("RGB"))
    assert rgb.shape[:2] == (size[1], size[0])
    assert _count(rgb, (214, 39, 40), tol=20) > 30  # the +20 % / 70 % reference line


def test_waterfall_bars_are_coloured_by_arm() -> None:
    """Both arms' colours appear as bars."""
    rgb = np.asarray(png_image(waterfall_plot(_subjects())).convert("RGB"))
    assert _count(rgb, (31, 119, 180)) > 500  # arm A
    assert _count(rgb, (255, 127, 14)) > 500  # arm B
