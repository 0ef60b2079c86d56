"""``liverburden batch --engine celery``: rows as jobs on real workers; local lines; resumable.

The command runs as a subprocess (as an operator runs it) against two real worker processes, the
real Redis and a SQLite database file shared by all of them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.db.models import Job
from app.db.session import session_scope
from app.settings import Settings
from tests.app import celery_fixtures
from tests.app.celery_fixtures import (
    WorkerPool,
    claimed_pid,
    pids_of,
    sample_truth,
    worker_env,
)
from tests.app.conftest import SeriesFiles, session_factory_for
from tests.conftest import REPO_ROOT, SAMPLE_DICOM

pytestmark = pytest.mark.redis
# Fixtures shared by the Celery test modules (pytest finds them in the module namespace).
broker_url = celery_fixtures.broker_url
celery_settings = celery_fixtures.celery_settings
celery_settings_each_engine = celery_fixtures.celery_settings_each_engine


def _manifest(tmp_path: Path, phantom: SeriesFiles) -> Path:
    """Three good rows (NIfTI, DICOM SEG, another study) and one row whose labels are not labels."""
    rows = [
        ("nifti", "S1", "BL", SAMPLE_DICOM / "ct", SAMPLE_DICOM / "labels.nii.gz"),
        ("seg", "S1", "BL", SAMPLE_DICOM / "ct", SAMPLE_DICOM / "seg.dcm"),
        ("phantom", "S2", "BL", phantom.files[0].parent, phantom.labels),
        ("bad", "S3", "BL", SAMPLE_DICOM / "ct", SAMPLE_DICOM / "truth.json"),
    ]
    path = tmp_path / "manifest.csv"
    lines = ["row_id,subject_id,timepoint,series,labels,liver_label,tumor_label"]
    lines += [f"{r},{s},{t},{series},{labels},," for r, s, t, series, labels in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _batch(settings: Settings, manifest: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli.main",
            "batch",
            str(manifest),
            "--engine",
            "celery",
            "--out",
            str(out),
        ],
        cwd=REPO_ROOT,
        env=worker_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _lines(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def _batch_jobs(settings: Settings) -> list[Job]:
    with session_scope(session_factory_for(settings)) as s:
        return list(s.execute(select(Job).where(Job.kind == "batch")).scalars())


@pytest.fixture
def batch_settings(celery_settings_each_engine: Settings) -> Settings:
    """The Celery settings on SQLite, then on a fresh PostgreSQL database."""
    return celery_settings_each_engine


@pytest.fixture
def batch_workers(batch_settings: Settings, tmp_path: Path) -> Iterator[WorkerPool]:
    """Worker processes on the database of ``batch_settings``, stopped at the test's end."""
    pool = WorkerPool(batch_settings, tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()


def test_batch_on_two_workers_then_rerun_skips_done_rows(
    batch_settings: Settings, batch_workers: WorkerPool, ct_series: SeriesFiles, tmp_path: Path
) -> None:
    """Good rows succeed, the bad row fails alone (exit 1); a re-run skips every done row."""
    a, b = batch_workers.start(2)
    manifest, out = _manifest(tmp_path, ct_series), tmp_path / "results.jsonl"

    first = _batch(batch_settings, manifest, out)
    assert first.returncode == 1, first.stderr
    assert first.stdout.strip().splitlines()[-1] == "3 succeeded, 1 failed, 0 skipped"
    lines = {rec["row_id"]: rec for rec in _lines(out)}
    assert {r: rec["status"] for r, rec in lines.items()} == {
        "nifti": "succeeded",
        "seg": "succeeded",
        "phantom": "succeeded",
        "bad": "failed",
    }
    truth = sample_truth()
    for row in ("nifti", "seg"):
        assert lines[row]["liver_volume_ml"] == pytest.approx(truth["liver_volume_ml"], abs=1e-6)
    assert lines["phantom"]["liver_volume_ml"] == pytest.approx(
        ct_series.truth["liver_volume_ml"], abs=1e-6
    )
    assert "truth.json" in lines["bad"]["error"]
    jobs = _batch_jobs(batch_settings)
    assert len(jobs) == 4
    assert {j.attempts for j in jobs} == {1}
    assert {claimed_pid(j.claimed_by) for j in jobs} <= pids_of(a) | pids_of(b)

    again = _batch(batch_settings, manifest, out)
    assert again.returncode == 1, again.stderr
    assert again.stdout.strip().splitlines()[-1] == "0 succeeded, 1 failed, 3 skipped"
    rerun = {rec["row_id"]: rec for rec in _lines(out)[4:]}
    assert {r: rec["status"] for r, rec in rerun.items()} == {
        "nifti": "skipped",
        "seg": "skipped",
        "phantom": "skipped",
        "bad": "failed",
    }
    assert rerun["nifti"]["liver_volume_ml"] == lines["nifti"]["liver_volume_ml"]
    assert len(_batch_jobs(batch_settings)) == 5  # only the failed row was sent again


def test_batch_without_broker_is_bad_input(
    celery_settings: Settings, tmp_path: Path, ct_series: SeriesFiles
) -> None:
    """``--engine celery`` with an unreachable broker exits 2 with one line on stderr."""
    settings = celery_settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})
    r = _batch(settings, _manifest(tmp_path, ct_series), tmp_path / "out.jsonl")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("error: cannot reach the Celery broker")
