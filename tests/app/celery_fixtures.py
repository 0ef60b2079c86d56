"""Real Redis and real ``liverburden worker`` processes for the Celery tests (no eager mode).

Redis is taken at ``LIVERBURDEN_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/5``, a database
number of its own, flushed before each test). Without Redis the tests are skipped with the reason,
except under ``CI=true``, where they fail. Workers are started as subprocesses in their own process
group (so that a test can SIGKILL a whole worker: main process and pool) with a visibility timeout
of a few seconds, so that Redis re-delivers a dead worker's message quickly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import Settings
from tests.conftest import IN_CI, REPO_ROOT, SAMPLE_DICOM

REDIS_URL = os.environ.get("LIVERBURDEN_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
#: Seconds before Redis re-delivers the message of a dead worker, in the tests.
VISIBILITY_TIMEOUT_S = 5
WORKER_READY_S = 60.0


def require_redis() -> str:
    """The test broker's URL, flushed; skip (or fail under CI) when Redis does not answer."""
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
        client.flushdb()
        client.close()
    except Exception as exc:  # any failure to talk to the server means "Redis not available"
        if IN_CI:
            pytest.fail(f"Redis is required under CI=true but unreachable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {type(exc).__name__}")
    return REDIS_URL


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a worker sharing the database, blob folder and broker of ``settings``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LIVERBURDEN_") and k not in ("PYTEST_CURRENT_TEST",)
    }
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        LIVERBURDEN_HOME=str(settings.home),
        LIVERBURDEN_BROKER_URL=str(settings.broker_url),
        LIVERBURDEN_CELERY_VISIBILITY_TIMEOUT_S=str(VISIBILITY_TIMEOUT_S),
        LIVERBURDEN_LOG_LEVEL="INFO",
    )
    if settings.database_url:
        env["LIVERBURDEN_DATABASE_URL"] = settings.database_url
    env.update(extra)
    return env


class Worker:
    """``python -m app.cli worker`` in its own process group, its log in a file."""

    def __init__(
        self, env: dict[str, str], log: Path, concurrency: int = 1, delay_s: float | None = None
    ) -> None:
        self.log = log
        self._fh = open(log, "wb")  # noqa: SIM115 - closed in stop()
        # With a delay, the same worker behind tests/app/_slow_worker.py (each measurement waits).
        entry = ["app.cli"] if delay_s is None else ["tests.app._slow_worker", str(delay_s)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *entry, "worker", f"--concurrency={concurrency}"],
            cwd=REPO_ROOT,
            env=env,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout_s: float = WORKER_READY_S) -> Worker:
        """Block until the worker logs ``ready.``; fail with its log otherwise."""
        deadline = time.monotonic() + timeout_s
        while " ready." not in self.text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"worker did not start (exit {self.proc.poll()}):\n{self.text()}")
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        """SIGKILL the whole worker: main process and pool processes at once."""
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def quit(self) -> None:
        """Ask for a cold shutdown (SIGQUIT to the worker's process group)."""
        if self.proc.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGQUIT)

    def stop(self) -> None:
        """Cold shutdown (SIGQUIT), SIGKILL for whatever is left; close the log."""
        self.quit()
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self._fh.close()


class WorkerPool:
    """Starts workers for a test and stops them all at its end."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.workers: list[Worker] = []

    def start(self, n: int = 1, delay_s: float | None = None, **env: str) -> list[Worker]:
        """Start ``n`` workers (concurrency 1 each) and wait until every one is ready.

        ``delay_s``: each of their measurements first sleeps this long (tests/app/_slow_worker.py).
        """
        new = [
            Worker(
                worker_env(self.settings, **env),
                self.log_dir / f"worker{len(self.workers) + i}.log",
                delay_s=delay_s,
            )
            for i in range(n)
        ]
        self.workers.extend(new)
        return [w.wait_ready() for w in new]

    def stop_all(self) -> None:
        for w in self.workers:  # all at once, then wait for each
            w.quit()
        for w in self.workers:
            w.stop()


def pids_of(worker: Worker) -> set[int]:
    """The worker's main process and its pool processes (children), from /proc."""
    pids = {worker.pid}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == worker.pid:  # field 4 of stat: the parent pid
                pids.add(int(stat.parent.name))
    return pids


def claimed_pid(claimed_by: str | None) -> int:
    """The process id in a job's ``claimed_by`` (``host:pid``)."""
    assert claimed_by, "job was never claimed"
    return int(claimed_by.rpartition(":")[2])


def sample_truth() -> dict[str, Any]:
    """The reference figures of the bundled sample study."""
    truth: dict[str, Any] = json.loads((SAMPLE_DICOM / "truth.json").read_text())
    return truth


def sample_files() -> list[Path]:
    """The bundled sample CT series' files."""
    files = sorted((SAMPLE_DICOM / "ct").glob("*.dcm"))
    assert files, "sample_dicom/ct is missing; regenerate it with python -m phantoms"
    return files


def upload_sample(client: httpx.Client) -> tuple[str, str, str]:
    """Upload the sample series and its label map; ``(study_uid, series_uid, segmentation_id)``."""
    parts = [("files", (p.name, p.read_bytes(), "application/dicom")) for p in sample_files()]
    up = client.post("/v1/uploads", files=parts)
    assert up.status_code == 201, up.text
    study = up.json()["studies"][0]
    series_uid = study["series"][0]["series_instance_uid"]
    seg = client.post(
        "/v1/segmentations",
        data={"series_instance_uid": series_uid},
        files={"file": ("labels.nii.gz", (SAMPLE_DICOM / "labels.nii.gz").read_bytes())},
    )
    assert seg.status_code == 201, seg.text
    return study["study_instance_uid"], series_uid, seg.json()["segmentation_upload_id"]


def measurement_bodies(client: httpx.Client, n: int, subject: str = "S-1") -> list[dict[str, str]]:
    """Upload the sample once and make ``n`` timepoints: ``n`` distinct measurement requests.

    A study is the study of one timepoint only, so these timepoints name none (a timepoint
    without a study may be measured on any stored series).
    """
    _study_uid, series_uid, seg_id = upload_sample(client)
    assert client.post("/v1/subjects", json={"subject_id": subject}).status_code == 201
    bodies = []
    for i in range(n):
        tp = client.post(
            f"/v1/subjects/{subject}/timepoints",
            json={"label": f"T{i}", "date": f"2020-01-{i + 1:02d}", "baseline": i == 0},
        )
        assert tp.status_code == 201, tp.text
        bodies.append(
            {
                "timepoint_id": tp.json()["timepoint_id"],
                "series_instance_uid": series_uid,
                "segmentation_upload_id": seg_id,
            }
        )
    return bodies


def request_measurements(client: httpx.Client, n: int) -> list[str]:
    """``n`` measurement requests through the API (the service sends them); their job ids."""
    jobs = []
    for body in measurement_bodies(client, n):
        r = client.post("/v1/measurements", json=body)
        assert r.status_code == 202, r.text
        jobs.append(r.json()["job_id"])
    return jobs


def wait_until(predicate: Any, timeout_s: float, what: str, interval_s: float = 0.1) -> Any:
    """Poll ``predicate()`` until it returns something truthy; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


@pytest.fixture
def broker_url() -> str:
    """The real Redis of the tests, flushed (skipped, or failed under CI, when it is down)."""
    return require_redis()


@pytest.fixture
def celery_settings(tmp_path: Path, broker_url: str) -> Settings:
    """A fresh home (SQLite file shared by the processes) whose jobs go to Celery."""
    return Settings(home=tmp_path / "home", broker_url=broker_url, workers=0)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def celery_settings_each_engine(
    request: pytest.FixtureRequest, celery_settings: Settings
) -> Settings:
    """The Celery settings on SQLite, then on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return celery_settings
    url = request.getfixturevalue("postgres_url")
    return celery_settings.model_copy(update={"database_url": url})


@pytest.fixture
def worker_pool(celery_settings: Settings, tmp_path: Path) -> Iterator[WorkerPool]:
    """Worker processes for the test, stopped at its end."""
    pool = WorkerPool(celery_settings, tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()
