"""``liverburden recheck``: what the service holds, measured again under this version.

A measurement made through the service (SQLite and PostgreSQL) comes back the same; a stored
result that differs from what its inputs give now (here: edited in the database, as a different
algorithm version would have left it) is reported number by number, with the decisions that
flipped; nothing is stored either way.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.db.models import Measurement
from tests.app._cli import liverburden
from tests.app._http_steps import measured_baseline
from tests.app.conftest import SeriesFiles, Service, session_factory_for


def _env(service: Service) -> dict[str, str]:
    url = service.settings.database_url
    return {} if url is None else {"LIVERBURDEN_DATABASE_URL": url}


def _run(
    service: Service, out: Path, *args: str
) -> tuple[Any, dict[str, Any], list[dict[str, str]]]:
    done = liverburden(
        service.settings.resolved_home, "recheck", "--out", str(out), *args, env=_env(service)
    )
    if done.returncode != 0:
        return done, {}, []
    report = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    rows = list(csv.DictReader(io.StringIO(out.with_suffix(".csv").read_text(encoding="utf-8"))))
    return done, report, rows


@pytest.fixture
def measured(backend_service: Service, ct_series: SeriesFiles) -> tuple[Service, str]:
    c = backend_service.client()
    return backend_service, measured_baseline(
        c, "RC-1", ct_series.files, ct_series.labels, "2024-05-06"
    )


def _count(service: Service) -> int:
    with session_factory_for(service.settings)() as s:
        return int(s.scalar(select(func.count()).select_from(Measurement)) or 0)


def test_an_unchanged_version_reports_every_measurement_the_same(
    measured: tuple[Service, str], tmp_path: Path
) -> None:
    service, measurement_id = measured
    done, report, rows = _run(service, tmp_path / "check")
    assert done.returncode == 0, done.stderr
    assert (report["checked"], report["same"], report["changed"], report["failed"]) == (1, 1, 0, 0)
    (row,) = report["measurements"]
    assert row["measurement_id"] == measurement_id and row["subject_id"] == "RC-1"
    assert row["differences"] == [] and row["flips"] == []
    assert report["requested_by"]  # who asked is recorded
    assert [r["status"] for r in rows] == ["same"]
    assert "1 the same, 0 changed" in done.stdout
    assert f"RC-1 baseline measurement {measurement_id}: same" in done.stderr
    assert _count(service) == 1  # nothing stored


def test_a_stored_result_that_differs_is_reported_with_its_flipped_decisions(
    measured: tuple[Service, str], tmp_path: Path
) -> None:
    service, measurement_id = measured
    with session_factory_for(service.settings)() as s:
        m = s.get(Measurement, measurement_id)
        assert m is not None
        truth = dict(m.result)
        edited = json.loads(json.dumps(truth))
        edited["burden_fraction"] = 0.30
        edited["eligibility"]["burden_gt_25pct"] = True
        edited["lesions"][0]["long_axis_mm"] += 1.0
        m.result = edited
        s.commit()
    done, report, rows = _run(service, tmp_path / "check")
    assert done.returncode == 0, done.stderr
    assert (report["checked"], report["changed"], report["flipped"]) == (1, 1, 1)
    (row,) = report["measurements"]
    assert row["flips"] == ["eligibility.burden_gt_25pct"]
    found = {d["what"]: d for d in row["differences"]}
    assert set(found) == {"burden_fraction", "eligibility.burden_gt_25pct", "L1.long_axis_mm"}
    assert found["burden_fraction"]["stored"] == 0.30
    assert found["burden_fraction"]["now"] == truth["burden_fraction"]
    assert found["L1.long_axis_mm"]["now"] == truth["lesions"][0]["long_axis_mm"]
    assert found["L1.long_axis_mm"]["flip"] is False
    assert {r["what"]: r["flip"] for r in rows} == {
        "burden_fraction": "",
        "eligibility.burden_gt_25pct": "yes",
        "L1.long_axis_mm": "",
    }
    page = (tmp_path / "check.html").read_text(encoding="utf-8")
    assert '<td class="flip">eligibility.burden_gt_25pct</td>' in page
    assert "<td>L1.long_axis_mm</td>" in page and "1 flipped" in page
    assert "<th>Stored (" in page  # the differences sit under their own headings
    assert f"<td>{measurement_id}</td>" in page
    with session_factory_for(service.settings)() as s:
        assert s.get(Measurement, measurement_id).result == edited  # reported, never rewritten


def test_choosing_what_to_recheck_and_bad_input(
    measured: tuple[Service, str], tmp_path: Path
) -> None:
    service, _ = measured
    done, report, _ = _run(service, tmp_path / "later", "--since", "2999-01-01")
    assert done.returncode == 0, done.stderr
    assert report["checked"] == 0
    done, report, _ = _run(service, tmp_path / "one", "--subject", "RC-1")
    assert done.returncode == 0 and report["checked"] == 1
    unknown = _run(service, tmp_path / "x", "--subject", "NOPE")[0]
    assert unknown.returncode == 2 and "no subject 'NOPE'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    bad_date = _run(service, tmp_path / "y", "--since", "2024-13-01")[0]
    assert bad_date.returncode == 2 and "YYYY-MM-DD" in bad_date.stderr
    assert not (tmp_path / "x.json").exists() and not (tmp_path / "y.json").exists()


def test_a_pool_of_workers_rechecks_in_the_order_asked(
    measured: tuple[Service, str], ct_series_b: SeriesFiles, tmp_path: Path
) -> None:
    """Two subjects on two worker processes: both the same, rows in subject order."""
    service, first = measured
    c = service.client()
    second = measured_baseline(c, "RC-2", ct_series_b.files, ct_series_b.labels, "2024-05-07")
    done, report, _ = _run(service, tmp_path / "pool", "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert [r["measurement_id"] for r in report["measurements"]] == [first, second]
    assert [r["status"] for r in report["measurements"]] == ["same", "same"]
    assert done.stderr.count(": same") == 2


def test_a_measurement_whose_inputs_changed_is_not_compared(
    measured: tuple[Service, str], tmp_path: Path
) -> None:
    """Stored inputs that no longer hash as recorded (instances added to the series, say) are
    reported as not comparable, never as differences of the algorithm."""
    service, measurement_id = measured
    with session_factory_for(service.settings)() as s:
        m = s.get(Measurement, measurement_id)
        assert m is not None
        edited = json.loads(json.dumps(m.result))
        edited["inputs"]["input_sha256"] = "0" * 64
        edited["burden_fraction"] = 0.5
        m.result = edited
        s.commit()
    done, report, rows = _run(service, tmp_path / "check")
    assert done.returncode == 0, done.stderr
    assert (report["checked"], report["failed"], report["changed"]) == (1, 1, 0)
    (row,) = report["measurements"]
    assert "inputs changed" in row["error"] and row["differences"] == []
    assert [r["status"] for r in rows] == ["failed"]
