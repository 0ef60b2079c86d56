"""The subject report: self-contained HTML (checked in a real headless Chromium) and PDF pages."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pypdf
import pytest

from reporting import (
    KeyImage,
    ReportingInputError,
    SubjectData,
    SubjectReport,
    key_images,
    render_html,
    render_pdf,
)
from tests.conftest import IN_CI
from tests.reporting._ct import TinyCT
from tests.reporting.conftest import GENERATED_AT, make_subject, png_image


def _report(subject: SubjectData, tiny_ct: TinyCT) -> SubjectReport:
    images = key_images(
        tiny_ct.hu, tiny_ct.measurement, liver_mask=tiny_ct.liver, tumor_mask=tiny_ct.tumor
    )
    return SubjectReport(
        subject,
        generated_at=GENERATED_AT,
        study_id="RETNET",
        key_images=tuple(KeyImage(f"2020-01-01 {k}", v) for k, v in images.items()),
    )


class _Resources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [v or "" for k, v in attrs if k in {"src", "href", "data", "poster"}]


def test_html_is_self_contained(subject: SubjectData, tiny_ct: TinyCT) -> None:
    """Every image is a data URI; no script, link, iframe or remote URL anywhere."""
    page = render_html(_report(subject, tiny_ct))
    parser = _Resources()
    parser.feed(page)
    assert parser.urls and all(u.startswith("data:image/png;base64,") for u in parser.urls)
    assert not {"script", "link", "iframe", "object", "embed"} & set(parser.tags)
    assert "http://" not in page and "https://" not in page
    assert "url(" not in page


def test_html_shows_timepoints_responses_and_provenance(
    subject: SubjectData, tiny_ct: TinyCT
) -> None:
    """Sums, change from baseline, responses, hepatic progression, version and hashes appear."""
    page = render_html(_report(subject, tiny_ct))
    for needle in (
        "S-001",
        "RETNET",
        "30.0",
        "-33.3",
        "+20.0",
        "Non-CR/Non-PD",
        "yes, 2020-04-22",
        "0.1.0",
        "ab" * 32,
        "2024-01-02T03:04:05+00:00",
        "2020-01-01 L1",
        "14.12",
    ):
        assert needle in page, needle
    assert page.count("<img") == 2 + 3  # two key images, spider (baseline, nadir), burden plots
    assert 'style="background:#f4c7c3">PD<' in page
    assert 'style="background:#c6efce">PR<' in page


def test_html_escapes_text() -> None:
    """A subject id with markup characters is escaped, never interpreted."""
    page = render_html(SubjectReport(make_subject("S<b>&1"), generated_at=GENERATED_AT))
    assert "S&lt;b&gt;&amp;1" in page
    assert "S<b>" not in page


def test_report_needs_an_aware_generation_time(subject: SubjectData) -> None:
    """generated_at must be a datetime (it is the report's only time)."""
    with pytest.raises(ReportingInputError, match="generated_at"):
        SubjectReport(subject, generated_at="today")  # type: ignore[arg-type]


def test_pdf_pages_and_text(subject: SubjectData, tiny_ct: TinyCT) -> None:
    """Summary page, lesions/plots page and one page per two key images; text is extractable."""
    report = _report(subject, tiny_ct)
    data = render_pdf(report)
    assert data.startswith(b"%PDF-")
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 3
    first = reader.pages[0].extract_text()
    for needle in ("S-001", "Best overall response", "FOLLOW-UP 2", "PD", "ab" * 32, "0.1.0"):
        assert needle in first, needle
    assert "Measured lesions" in reader.pages[1].extract_text()
    assert "Key images" in reader.pages[2].extract_text()
    assert reader.metadata is not None and "S-001" in str(reader.metadata.title)
    assert render_pdf(report) == data


def test_pdf_without_key_images_has_two_pages() -> None:
    """With no measurements and no key images the report still renders its two pages."""
    report = SubjectReport(make_subject(), generated_at=GENERATED_AT)
    assert len(pypdf.PdfReader(io.BytesIO(render_pdf(report))).pages) == 2


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    message = "headless Chromium is not installed (apt-get install -y chromium)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _screenshot(html_path: Path, out: Path) -> None:
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [
                _chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--screenshot={out}",
                "--window-size=1280,2000",
                html_path.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            env={**os.environ, "HOME": profile},
        )
    assert proc.returncode == 0 and out.is_file(), proc.stderr[-2000:]


def test_html_renders_in_headless_chromium(
    subject: SubjectData, tiny_ct: TinyCT, tmp_path: Path
) -> None:
    """A real browser draws the page: header colour, response colours and the key images."""
    page = tmp_path / "report.html"
    page.write_text(render_html(_report(subject, tiny_ct)), encoding="utf-8")
    shot = tmp_path / "report.png"
    _screenshot(page, shot)
    rgb = np.asarray(png_image(shot.read_bytes()).convert("RGB")).astype(int)
    assert rgb.shape == (2000, 1280, 3)
    assert rgb.std() > 30  # not blank

    def count(colour: tuple[int, int, int], region: np.ndarray = rgb, tol: int = 6) -> int:
        return int(np.all(np.abs(region - colour) <= tol, axis=-1).sum())

    top = rgb[:700]
    assert count((31, 78, 121), top) > 2000  # table header rows (#1f4e79)
    assert count((244, 199, 195), top) > 300  # PD cells
    assert count((198, 239, 206), top) > 300  # PR cells
    assert count((230, 25, 75), rgb, tol=12) > 100  # long axes in the inlined key images
