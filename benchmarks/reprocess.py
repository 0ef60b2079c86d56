"""Reprocessing what the service holds: studies per second with 1 and 2 local workers and with
2 Celery workers (issue 18).

Run by hand (never in the test suite)::

    python benchmarks/reprocess.py [--studies 200] [--slices 40 --size 128] [--repeat 3]
                                   [--broker URL] [--database-url postgresql+psycopg://...]

1. A fresh temporary ``LIVERBURDEN_HOME`` (the embedded default: SQLite and the blob folder; or,
   with ``--database-url``, a new database made on that PostgreSQL server for the run) and
   ``liverburden serve`` on a loopback port; ``--studies`` phantom studies (benchmarks/load.py's,
   one liver lesion each, written once into benchmarks/_work) stored through the real path: REST
   upload, a subject with its baseline, the label map, the measurement job.
2. ``--repeat`` rounds; in each, for each engine -- ``--engine local --workers 1``, ``--engine
   local --workers 2``, ``--engine celery`` with two ``liverburden worker --concurrency 1``
   processes (Redis at ``--broker``; idle while the local engines run) --
   the stored measurements are made to look like an earlier version's (their version column; the
   previous engine's re-measurements and jobs deleted), then ``liverburden reprocess`` runs as a
   fresh process timed from outside. Every run must re-measure every study and change nothing (the
   same code measured them): anything else fails the benchmark.
3. Two figures per engine: studies/s of the whole command (start-up, queueing, the change report
   and its adoption preview included) and in steady state (studies / the span from the first job
   started to the last job finished, from the job rows). The ratio 2 workers / 1 worker (goal
   >= 1.7 in steady state) is printed for both, from the medians over the rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.batch import Workers, flush_redis  # noqa: E402
from benchmarks.edc import Serve, cli, home_env, make_key  # noqa: E402
from benchmarks.load import phantoms  # noqa: E402


def _store(url: str, key: str, studies: int, slices: int, size: int) -> None:
    """``studies`` phantom studies through the service: upload, subject, baseline, measurement."""
    http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120)
    for n, study in enumerate(phantoms(studies, slices, size)):
        files = [("files", (name, data, "application/dicom")) for name, data in study.files]
        http.post("/v1/uploads", files=files).raise_for_status()
        subject = f"RP-{n:04d}"
        http.post("/v1/subjects", json={"subject_id": subject}).raise_for_status()
        tp = http.post(
            f"/v1/subjects/{subject}/timepoints",
            json={"label": "baseline", "study_instance_uid": study.study_uid, "baseline": True},
        )
        tp.raise_for_status()
        seg = http.post(
            "/v1/segmentations",
            data={"series_instance_uid": study.series_uid},
            files={"file": ("labels.nii.gz", study.labels)},
        )
        seg.raise_for_status()
        job = http.post(
            "/v1/measurements",
            json={
                "timepoint_id": tp.json()["timepoint_id"],
                "series_instance_uid": study.series_uid,
                "segmentation_upload_id": seg.json()["segmentation_upload_id"],
            },
        )
        job.raise_for_status()
        while True:
            state = http.get(job.headers["Location"]).json()
            if state["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.05)
        if state["status"] != "succeeded":
            raise RuntimeError(f"study {n}: measurement failed: {state.get('error')}")
        if (n + 1) % 20 == 0:
            print(f"  stored {n + 1}/{studies}", file=sys.stderr, flush=True)


_OLD = "0.0.0-benchmark"


def _as_older(db: Engine) -> None:
    """Every requested measurement looks like an earlier version's; earlier re-runs are gone."""
    with db.begin() as conn:
        conn.execute(text("DELETE FROM jobs WHERE kind IN ('reprocess', 'reprocess_run')"))
        conn.execute(text("DELETE FROM measurements WHERE origin = 'reprocess'"))
        conn.execute(text("UPDATE measurements SET algorithm_version = :v"), {"v": _OLD})


def _when(value: str | dt.datetime) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)


def _steady_span_s(db: Engine) -> float:
    """From the first re-measurement started to the last one finished (the job rows)."""
    with db.connect() as conn:
        first, last = conn.execute(
            text("SELECT MIN(started_at), MAX(finished_at) FROM jobs WHERE kind = 'reprocess'")
        ).one()
    return (_when(last) - _when(first)).total_seconds()


@contextlib.contextmanager
def _database(url: str | None, home: Path) -> Iterator[str]:
    """The database URL to use: ``url``'s server with a new database made for this run (dropped
    after), or the embedded default's SQLite file in ``home``."""
    if url is None:
        yield f"sqlite:///{home / 'liverburden.db'}"
        return
    name = f"lb_bench_reprocess_{os.getpid()}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _reprocess(home: Path, args: list[str], env: dict[str, str], out: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(
        [*cli(), "reprocess", *args, "--report", str(out)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"reprocess {args} failed: {done.stderr.strip()[-800:]}")
    return seconds


def _run(
    home: Path, db: Engine, name: str, args: list[str], env: dict[str, str], studies: int
) -> dict[str, float]:
    _as_older(db)
    out = home.parent / f"{name}.json"
    seconds = _reprocess(home, args, env, out)
    report = json.loads(out.read_text(encoding="utf-8"))
    if (report["re_measured"], report["failed"], report["changed"]) != (studies, 0, 0):
        raise RuntimeError(f"{name}: expected {studies} re-measured, none failed or changed")
    span = _steady_span_s(db)
    print(
        f"  {name}: {seconds:.1f} s whole ({studies / seconds:.2f} studies/s), steady "
        f"{span:.1f} s ({studies / span:.2f} studies/s)",
        file=sys.stderr,
        flush=True,
    )
    return {"whole_s": round(seconds, 2), "steady_s": round(span, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--slices", type=int, default=40)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=3, help="rounds (medians are printed)")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/7")
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server (a database is made there for the run); default SQLite",
    )
    args = parser.parse_args(argv)
    engines = {
        "local_1": ["--workers", "1"],
        "local_2": ["--workers", "2"],
        "celery_2": ["--engine", "celery"],
    }
    with (
        tempfile.TemporaryDirectory(prefix="lb-reprocess-") as tmp,
        _database(args.database_url, Path(tmp) / "home") as url,
    ):
        home = Path(tmp) / "home"
        home.mkdir()
        db_env = {"LIVERBURDEN_DATABASE_URL": url}
        key = make_key(home, "radiologist", **db_env)
        t0 = time.perf_counter()
        with Serve(home, **db_env) as server:
            _store(server.url, key, args.studies, args.slices, args.size)
        stored_s = time.perf_counter() - t0
        flush_redis(args.broker)
        env = home_env(home, LIVERBURDEN_BROKER_URL=args.broker, **db_env)
        db = create_engine(url)
        # no sweep: it would send the local engines' queued jobs to the idle workers
        workers = Workers({**env, "LIVERBURDEN_CELERY_SWEEP_INTERVAL_S": "0"}, 2, Path(tmp))
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in engines}
        try:
            workers.wait_ready(args.broker)
            for _ in range(args.repeat):  # interleaved: each round runs every engine once
                for name, engine_args in engines.items():
                    rounds[name].append(_run(home, db, name, engine_args, env, args.studies))
        finally:
            workers.stop()
            db.dispose()
    runs = {
        name: {kind: statistics.median(r[kind] for r in done) for kind in ("whole_s", "steady_s")}
        for name, done in rounds.items()
    }
    result: dict[str, object] = {
        "database": "postgresql" if args.database_url else "sqlite",
        "studies": args.studies,
        "repeat": args.repeat,
        "grid": [args.slices, args.size, args.size],
        "store_s": round(stored_s, 1),
        "cpus": os.cpu_count(),
        **{
            f"{name}_{kind}_studies_per_s": round(args.studies / r[f"{kind}_s"], 2)
            for name, r in runs.items()
            for kind in ("whole", "steady")
        },
    }
    for kind in ("whole", "steady"):
        result[f"ratio_local_2_over_1_{kind}"] = round(
            runs["local_1"][f"{kind}_s"] / runs["local_2"][f"{kind}_s"], 3
        )
        result[f"ratio_celery_2_over_local_1_{kind}"] = round(
            runs["local_1"][f"{kind}_s"] / runs["celery_2"][f"{kind}_s"], 3
        )
    print(
        f"{args.studies} studies ({args.slices}x{args.size}x{args.size}): 2 local workers / 1 = "
        f"{result['ratio_local_2_over_1_steady']} steady, {result['ratio_local_2_over_1_whole']} "
        f"whole; 2 Celery workers / 1 local = {result['ratio_celery_2_over_local_1_steady']} "
        "steady (goal >= 1.7)"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
