"""Benchmark of ``liverburden batch``: throughput of 1 and 2 local workers and of 2 Celery workers.

Run by hand (never in the test suite)::

    python benchmarks/batch.py [--studies 20] [--size 512] [--slices 200] [--repeat 1]

It writes ``--studies`` CT phantoms (``phantoms``; JPEG-LS lossless like the bundled
sample, ``--size`` x ``--size`` x ``--slices``, each with its own noise, UIDs and lesions) and their
label maps into ``benchmarks/_work/batch-.../`` (git-ignored; reused while the spec is unchanged),
a manifest of one row per study, then times from outside, interleaved, ``--repeat`` runs of the
whole command on a fresh results file:

(a) ``liverburden batch manifest.csv --workers 1`` (local engine: the reference);
(b) ``liverburden batch manifest.csv --workers 2``;
(c) ``liverburden batch manifest.csv --engine celery`` with two ``liverburden worker
    --concurrency 1`` processes (started, and ready, before the clock starts; a fresh database per
    run; Redis at ``--redis``, a database number of its own, flushed).

Every run must report ``N succeeded, 0 failed, 0 skipped`` and each row's liver volume must equal
the phantom's truth. It prints rows per second of each, the ratios b/a and c/a (goal: >= 1.7 on two
cores) and one JSON line. As a control it also times the machine itself: a fixed amount of pure
CPU work (SHA-256) done by one process, then split over two (``machine 2-process capacity``); on a
machine shared with other busy processes that ratio -- the best any engine can reach -- is well
below 2, and the engines' ratios are to be read against it. Wall times include the command's
start-up, input hashing and the pool's start-up, i.e. what an operator waits for. Files are read
warm (page cache).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks._cli import liverburden_command  # noqa: E402
from phantoms import (  # noqa: E402 (after the path set-up for an uninstalled checkout)
    LesionSpec,
    PhantomSpec,
    make_phantom,
    write_dicom_series,
    write_label_nifti,
)

WORK = REPO / "benchmarks" / "_work"
VOLUME_TOL_ML = 1e-3
WORKER_READY_S = 60.0


def study_spec(i: int, size: int, slices: int) -> PhantomSpec:
    """Study ``i``: a 1.5 L liver with two lesions whose size varies with ``i``."""
    pixel = 384 * 1.0 / size  # 384 mm field of view
    grow = 1.0 + 0.02 * i
    return PhantomSpec(
        shape_zyx=(slices, size, size),
        spacing_zyx_mm=(240.0 / slices, pixel, pixel),
        liver_center_lps_mm=(-50.0, 0.0, 0.0),
        liver_semi_axes_mm=(100.0, 80.0, 60.0),
        lesions=(
            LesionSpec((-86.0, 1.0, 5.0), (20.0 * grow, 16.0, 12.0)),
            LesionSpec((-10.0, -40.0, 20.0), (7.0, 6.0 * grow, 6.0)),
        ),
        body_semi_axes_xy_mm=(170.0, 130.0),
        noise_sigma=10.0,
        seed=100 + i,
    )


def prepare(studies: int, size: int, slices: int, work: Path) -> tuple[Path, list[float]]:
    """Write (or reuse) the studies and the manifest; return it and each study's liver volume."""
    from pydicom.uid import JPEGLSLossless

    root = work / f"batch-{studies}x{size}x{size}x{slices}"
    stamp, manifest, truth_path = root / "spec.txt", root / "manifest.csv", root / "truth.json"
    specs = [study_spec(i, size, slices) for i in range(studies)]
    if stamp.exists() and stamp.read_text() == repr(specs) and truth_path.exists():
        return manifest, json.loads(truth_path.read_text())
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    t0 = time.perf_counter()
    lines = ["row_id,subject_id,timepoint,series,labels,liver_label,tumor_label"]
    volumes = []
    for i, spec in enumerate(specs):
        phantom = make_phantom(spec)
        folder = root / f"study{i:02d}"
        write_dicom_series(phantom, folder / "ct", transfer_syntax=JPEGLSLossless)
        write_label_nifti(phantom, folder / "labels.nii.gz")
        volumes.append(float(phantom.truth["liver_volume_ml"]))
        lines.append(f"r{i:02d},S{i:02d},BL,study{i:02d}/ct,study{i:02d}/labels.nii.gz,,")
    manifest.write_text("\n".join(lines) + "\n")
    truth_path.write_text(json.dumps(volumes) + "\n")
    stamp.write_text(repr(specs))
    print(f"generated and wrote {studies} studies in {time.perf_counter() - t0:.1f} s")
    return manifest, volumes


def warm(manifest: Path) -> int:
    """Read every input once (page cache); return the total size in bytes."""
    total = 0
    for f in manifest.parent.rglob("*"):
        if f.is_file():
            total += len(f.read_bytes())
    return total


def cli() -> list[str]:
    """The ``liverburden`` command (benchmarks/_cli.py: this interpreter's script, not a shim)."""
    return liverburden_command()


def base_env(home: Path, broker: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVERBURDEN_")}
    env["PYTHONPATH"] = str(REPO)
    env["LIVERBURDEN_HOME"] = str(home)
    if broker:
        env["LIVERBURDEN_BROKER_URL"] = broker
    return env


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float
    summary: str
    errors: list[str]
    #: When each row's progress line appeared, in seconds from the command's start.
    row_times: tuple[float, ...] = ()

    @property
    def steady_rows_per_s(self) -> float | None:
        """Rows per second from the first row's line to the last: throughput without the
        command's start-up (imports, pool, connections) and without the first row."""
        if len(self.row_times) < 2 or self.row_times[-1] <= self.row_times[0]:
            return None
        return (len(self.row_times) - 1) / (self.row_times[-1] - self.row_times[0])


def run_batch(
    manifest: Path,
    args: list[str],
    env: dict[str, str],
    truth: list[float],
    prefix: list[str] | None = None,
) -> Run:
    """Time one ``liverburden batch`` on a fresh results file; check its lines against truth.

    The command's plain progress lines (one per finished row on stderr, not being a terminal) are
    read as they come, each with its time, for the steady-state rate. ``prefix`` runs the command
    under another one (``taskset -c 0``).
    """
    with tempfile.TemporaryDirectory(prefix="lb-batch-") as tmp:
        out = Path(tmp) / "results.jsonl"
        cmd = [*(prefix or []), *cli(), "batch", str(manifest), "--out", str(out), *args]
        row_times: list[float] = []
        err_lines: list[str] = []
        with tempfile.TemporaryFile(mode="w+") as out_fh:
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                cmd, cwd=REPO, env=env, stdout=out_fh, stderr=subprocess.PIPE, text=True
            )
            assert proc.stderr is not None
            for line in proc.stderr:  # progress: "[k/N] row ID status", flushed per row
                if line.startswith("["):
                    row_times.append(time.perf_counter() - t0)
                err_lines.append(line)
            returncode = proc.wait()
            seconds = time.perf_counter() - t0
            out_fh.seek(0)
            lines = out_fh.read().strip().splitlines()
        stderr = "".join(err_lines)
        summary = lines[-1] if lines else f"(no output; exit {returncode})"
        errors = [] if returncode == 0 else [f"exit {returncode}: {stderr[-800:]}"]
        records = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
        for rec in records:
            want = truth[int(rec["row_id"][1:])]
            if rec.get("status") != "succeeded":
                errors.append(f"{rec['row_id']}: {rec.get('status')} {rec.get('error', '')}")
            elif abs(float(rec["liver_volume_ml"]) - want) > VOLUME_TOL_ML:
                errors.append(f"{rec['row_id']}: liver {rec['liver_volume_ml']} != {want:.3f}")
        if len(records) != len(truth):
            errors.append(f"{len(records)} result lines for {len(truth)} rows")
        return Run(seconds, summary, errors, tuple(row_times))


class Workers:
    """Two ``liverburden worker --concurrency 1`` processes sharing a fresh home."""

    def __init__(self, env: dict[str, str], n: int, log_dir: Path) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs = [log_dir / f"worker{i}.log" for i in range(n)]
        for log in self.logs:
            with open(log, "wb") as fh:
                self.procs.append(
                    subprocess.Popen(
                        [*cli(), "worker", "--concurrency", "1", "--loglevel", "WARNING"],
                        cwd=REPO,
                        env=env,
                        stdout=fh,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )

    def wait_ready(self, broker: str) -> None:
        """Until every worker answers a ping (or one exits)."""
        from app.jobs.celery.app import make_celery
        from app.settings import Settings

        app = make_celery(Settings(broker_url=broker))
        deadline = time.monotonic() + WORKER_READY_S
        try:
            while True:
                if any(p.poll() is not None for p in self.procs):
                    logs = "\n".join(log.read_text(errors="replace")[-2000:] for log in self.logs)
                    raise RuntimeError(f"a worker exited:\n{logs}")
                if len(app.control.ping(timeout=0.5)) >= len(self.procs):
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError("the workers did not answer within a minute")
        finally:
            app.close()

    def stop(self) -> None:
        for p in self.procs:
            with suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.flushdb()
    finally:
        client.close()


def run_celery(manifest: Path, broker: str, truth: list[float]) -> Run:
    """(c): fresh home and queue, two workers ready, then the timed command."""
    with tempfile.TemporaryDirectory(prefix="lb-celery-") as tmp:
        flush_redis(broker)
        env = base_env(Path(tmp) / "home", broker)
        workers = Workers(env, 2, Path(tmp))
        try:
            workers.wait_ready(broker)
            run = run_batch(manifest, ["--engine", "celery"], env, truth)
        finally:
            workers.stop()
        # The client writes rows as its polls find them (several per poll), so its lines say
        # little about the workers' pace: the steady rate comes from the jobs' finish times.
        return replace(run, row_times=_job_finish_times(Path(tmp) / "home" / "liverburden.db"))


def _job_finish_times(db: Path) -> tuple[float, ...]:
    """Finish times (seconds, from the first) of the batch jobs in a SQLite database."""
    import sqlite3
    from datetime import datetime

    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT finished_at FROM jobs WHERE kind = 'batch' AND finished_at IS NOT NULL "
            "ORDER BY finished_at"
        ).fetchall()
    stamps = [datetime.fromisoformat(str(r[0])).timestamp() for r in rows]
    return tuple(t - stamps[0] for t in stamps) if stamps else ()


_BURN = (
    "import hashlib, sys\n"
    "buf = bytes(1 << 22)\n"
    "for _ in range(int(sys.argv[1])):\n"
    "    hashlib.sha256(buf).digest()\n"
)


def machine_capacity(units: int = 400) -> float:
    """Wall time of ``units`` of CPU work in one process over that of half of it in each of two."""

    def timed(n_procs: int) -> float:
        t0 = time.perf_counter()
        procs = [
            subprocess.Popen([sys.executable, "-c", _BURN, str(units // n_procs)])
            for _ in range(n_procs)
        ]
        for p in procs:
            p.wait()
        return time.perf_counter() - t0

    return timed(1) / timed(2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--studies", type=int, default=20, help="studies (rows) (20)")
    parser.add_argument("--size", type=int, default=512, help="rows = columns per slice (512)")
    parser.add_argument("--slices", type=int, default=200, help="slices per study (200)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each configuration (1)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/6", help="broker for (c)")
    parser.add_argument("--work", type=Path, default=WORK, help="work folder (benchmarks/_work)")
    args = parser.parse_args(argv)

    manifest, truth = prepare(args.studies, args.size, args.slices, args.work)
    size = warm(manifest)
    print(
        f"{args.studies} studies of {args.size}x{args.size}x{args.slices} (JPEG-LS), "
        f"{size / 2**20:.0f} MiB; {os.cpu_count()} CPUs, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    one_core = ["taskset", "-c", "0"] if shutil.which("taskset") else None
    keys = (
        ["local-1", "local-1-core", "local-2", "celery-2"]
        if one_core
        else [
            "local-1",
            "local-2",
            "celery-2",
        ]
    )
    runs: dict[str, list[Run]] = {k: [] for k in keys}
    capacity: list[float] = []
    with tempfile.TemporaryDirectory(prefix="lb-local-") as tmp:
        env = base_env(Path(tmp) / "home", None)
        for _ in range(args.repeat):
            runs["local-1"].append(run_batch(manifest, ["--workers", "1"], env, truth))
            if one_core:
                runs["local-1-core"].append(
                    run_batch(manifest, ["--workers", "1"], env, truth, prefix=one_core)
                )
            runs["local-2"].append(run_batch(manifest, ["--workers", "2"], env, truth))
            runs["celery-2"].append(run_celery(manifest, args.redis, truth))
            capacity.append(machine_capacity())

    failed = False
    medians = {k: statistics.median(r.seconds for r in v) for k, v in runs.items()}
    steady = {
        k: statistics.median(x for r in v if (x := r.steady_rows_per_s) is not None)
        for k, v in runs.items()
    }
    labels = {
        "local-1": "(a) local, 1 worker",
        "local-1-core": "(a1) local, 1 worker, 1 core",
        "local-2": "(b) local, 2 workers",
        "celery-2": "(c) celery, 2 workers",
    }
    print(
        f"{'':30s} {'median s':>9s} {'rows/s':>7s} {'vs (a)':>7s} {'steady rows/s':>14s} "
        f"{'vs (a)':>7s}  summary"
    )
    for key in keys:
        rate = args.studies / medians[key]
        ratio = medians["local-1"] / medians[key]
        print(
            f"{labels[key]:30s} {medians[key]:9.2f} {rate:7.2f} {ratio:6.2f}x {steady[key]:14.2f} "
            f"{steady[key] / steady['local-1']:6.2f}x  {runs[key][-1].summary}"
        )
        for run in runs[key]:
            for err in run.errors:
                failed = True
                print(f"  error: {err}")
    b_a = medians["local-1"] / medians["local-2"]
    c_a = medians["local-1"] / medians["celery-2"]
    cap = statistics.median(capacity)
    print(
        f"end to end, 1 -> 2 local workers: {b_a:.2f}x; 1 local -> 2 celery workers: {c_a:.2f}x "
        f"(goal >= 1.7x); machine 2-process capacity now: {cap:.2f}x"
    )
    steady_ratios = {
        "local2_vs_local1": steady["local-2"] / steady["local-1"],
        "celery2_vs_local1": steady["celery-2"] / steady["local-1"],
    }
    if one_core:
        steady_ratios["local2_vs_local1_core"] = steady["local-2"] / steady["local-1-core"]
        steady_ratios["celery2_vs_local1_core"] = steady["celery-2"] / steady["local-1-core"]
        core = medians["local-1-core"]
        print(
            f"vs one worker on one core (a1): end to end {core / medians['local-2']:.2f}x"
            f" local, {core / medians['celery-2']:.2f}x celery; steady "
            f"{steady_ratios['local2_vs_local1_core']:.2f}x local, "
            f"{steady_ratios['celery2_vs_local1_core']:.2f}x celery"
        )
    print(
        json.dumps(
            {
                "studies": args.studies,
                "shape_zyx": [args.slices, args.size, args.size],
                "repeat": args.repeat,
                "cpus": os.cpu_count(),
                "seconds": {k: round(v, 3) for k, v in medians.items()},
                "rows_per_s": {k: round(args.studies / v, 3) for k, v in medians.items()},
                "steady_rows_per_s": {k: round(v, 3) for k, v in steady.items()},
                "ratio_local2_vs_local1": round(b_a, 3),
                "ratio_celery2_vs_local1": round(c_a, 3),
                "steady_ratios": {k: round(v, 3) for k, v in steady_ratios.items()},
                "machine_2_process_capacity": round(cap, 3),
                "ok": not failed,
            }
        )
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
