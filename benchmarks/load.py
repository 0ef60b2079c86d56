"""Loopback load test of ``liverburden serve``: mixed uploads, jobs, EDC reads and QIDO queries.

Run by hand (never in the test suite)::

    python benchmarks/load.py                       # 4 threads for 60 s (about 2 min in all)
    python benchmarks/load.py --duration 600 --threads 8 --phantoms 400   # a longer run

Issue 7's load test. It prepares a fresh temporary ``LIVERBURDEN_HOME`` with
``liverburden demo --subject LOAD-000`` (the bundled sample, uploaded and measured), makes a
radiologist and an EDC key with ``liverburden keys create``, writes ``--phantoms`` small CT
phantoms (``phantoms``, each with its own seed, UIDs and lesion; cached in
``benchmarks/_work/``), starts ``liverburden serve`` as a subprocess on a free 127.0.0.1 port, and
then runs ``--threads`` client threads (one keep-alive httpx client each) for ``--duration``
seconds. Each thread picks, by weight (``--seed`` fixes the sequence):

- ``eligibility``: an EDC read of a measured subject (the sample's, then the phantoms' as their
  jobs finish);
- ``qido``: a QIDO-RS query (studies with ``limit``/``offset``, by PatientID, a study's series, a
  series' instances);
- ``upload_sample``: the bundled sample series re-uploaded (``POST /v1/uploads``, idempotent);
- a phantom's flow: ``upload_phantom`` (a new series), ``setup`` (subject, baseline timepoint),
  ``upload_labels`` (``POST /v1/segmentations``) and ``measure`` (``POST /v1/measurements``,
  202); once the phantoms are used up, ``measure`` with ``force`` re-measures a done one;
- ``healthz``: ``GET /healthz`` (no key, no database): the reference for the p99 ratios; what
  another kind spends above it is that route's own work (database, lock waits, and in a busy
  process every hand-over of the GIL), not the client, the loopback or the event loop;
- ``job_status``: polling (``GET /v1/jobs/{id}``) of the jobs under way, every 0.5 s at most.

After ``--duration`` no new work starts; the jobs under way are polled for up to ``--drain``
seconds. It prints, per kind, the count, throughput (requests/s over the load phase), p50, p99
and max latency (ms) and the errors; the jobs' turnaround (submission to observed end); the load
average and the server's CPU seconds; and one JSON line. Any 5xx is printed loudly with the tail of
the server's log; exit status 1 on any server error, unexpected status, transport error or failed
job. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.edc import Serve, cli, home_env, make_key, percentile  # noqa: E402
from phantoms import (  # noqa: E402 (after the path set-up for an uninstalled checkout)
    LesionSpec,
    PhantomSpec,
    make_phantom,
    phantom_uids,
    write_dicom_series,
    write_label_nifti,
)

WORK = REPO / "benchmarks" / "_work"
SAMPLE_SUBJECT = "LOAD-000"
WEIGHTS = {"eligibility": 40, "qido": 25, "upload_sample": 5, "phantom": 10, "healthz": 10}
POLL_EVERY_S = 0.5


@dataclass(frozen=True, slots=True)
class PhantomStudy:
    """A phantom series in memory: its files' bytes and label map."""

    seed: int
    study_uid: str
    series_uid: str
    files: tuple[tuple[str, bytes], ...]
    labels: bytes


def phantom_spec(seed: int, slices: int, size: int) -> PhantomSpec:
    """A ``slices`` x ``size`` x ``size`` CT: liver with one lesion whose size varies by seed."""
    pixel = 288.0 / size
    grow = 1.0 + (seed % 7) * 0.08
    return PhantomSpec(
        shape_zyx=(slices, size, size),
        spacing_zyx_mm=(80.0 / slices, pixel, pixel),
        liver_center_lps_mm=(-30.0, 0.0, 0.0),
        liver_semi_axes_mm=(70.0, 60.0, 30.0),
        lesions=(LesionSpec((-40.0, 5.0, 0.0), (12.0 * grow, 10.0 * grow, 8.0)),),
        body_semi_axes_xy_mm=(130.0, 110.0),
        seed=seed,
    )


def phantoms(count: int, slices: int, size: int) -> list[PhantomStudy]:
    """``count`` phantom studies (written once into benchmarks/_work, then reused)."""
    root = WORK / f"load-{slices}x{size}x{size}"
    out = []
    for seed in range(1000, 1000 + count):
        spec = phantom_spec(seed, slices, size)
        folder = root / f"seed-{seed}"
        labels = folder / "labels.nii.gz"
        if not labels.is_file():
            phantom = make_phantom(spec)
            write_dicom_series(phantom, folder / "ct")
            write_label_nifti(phantom, folder / "tmp-labels.nii.gz").replace(labels)
        uids = phantom_uids(spec)
        files = tuple((p.name, p.read_bytes()) for p in sorted((folder / "ct").glob("*.dcm")))
        out.append(PhantomStudy(seed, uids.study, uids.series, files, labels.read_bytes()))
    return out


@dataclass
class Shared:
    """State the client threads share (under ``lock``)."""

    stop_at: float
    rad: str
    edc: str
    pool: list[PhantomStudy]
    sample_files: tuple[tuple[str, bytes], ...]
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_phantom: int = 0
    measured_subjects: list[str] = field(default_factory=lambda: [SAMPLE_SUBJECT])
    #: series known to the service, for QIDO: (study, series)
    series: list[tuple[str, str]] = field(default_factory=list)
    #: job id -> (subject, submitted at, last polled at)
    pending: dict[str, list[Any]] = field(default_factory=dict)
    #: done phantom flows: (subject, request body) for forced re-measurement
    done: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    server_errors: list[str] = field(default_factory=list)
    turnaround: list[float] = field(default_factory=list)
    failed_jobs: list[str] = field(default_factory=list)


class Client:
    """One thread's keep-alive client; records latency and errors per kind."""

    def __init__(self, url: str, shared: Shared) -> None:
        self.s = shared
        self.http = httpx.Client(base_url=url, timeout=120)
        self.rad = {"Authorization": f"Bearer {shared.rad}"}
        self.edc = {"Authorization": f"Bearer {shared.edc}"}

    def call(
        self, kind: str, method: str, path: str, expect: tuple[int, ...], **kw: Any
    ) -> httpx.Response | None:
        t0 = time.perf_counter()
        try:
            resp = self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            with self.s.lock:
                self.s.errors[f"{kind}: transport {type(exc).__name__}"] += 1
            return None
        ms = (time.perf_counter() - t0) * 1000.0
        with self.s.lock:
            self.s.latencies[kind].append(ms)
            if resp.status_code >= 500:
                self.s.errors[f"{kind}: HTTP {resp.status_code}"] += 1
                self.s.server_errors.append(
                    f"{method} {path} -> {resp.status_code}: {resp.text[:300]}"
                )
            elif resp.status_code not in expect:
                self.s.errors[f"{kind}: HTTP {resp.status_code}"] += 1
                print(f"unexpected: {method} {path} -> {resp.status_code}: {resp.text[:200]}")
        return resp if resp.status_code in expect else None

    def eligibility(self, rng: random.Random) -> None:
        with self.s.lock:
            subject = rng.choice(self.s.measured_subjects)
        self.call(
            "eligibility", "GET", f"/v1/subjects/{subject}/eligibility", (200,), headers=self.edc
        )

    def qido(self, rng: random.Random) -> None:
        with self.s.lock:
            known = rng.choice(self.s.series) if self.s.series else None
        pick = rng.randrange(4)
        if pick == 0 or known is None:
            params = {"limit": str(rng.choice((10, 50))), "offset": str(rng.randrange(0, 20))}
            path = "/dicomweb/studies"
        elif pick == 1:
            params, path = {"PatientID": "PHANTOM-001", "limit": "20"}, "/dicomweb/studies"
        elif pick == 2:
            params, path = {}, f"/dicomweb/studies/{known[0]}/series"
        else:
            params, path = (
                {"limit": "50"},
                f"/dicomweb/studies/{known[0]}/series/{known[1]}/instances",
            )
        self.call("qido", "GET", path, (200, 204), params=params, headers=self.rad)

    def upload_sample(self) -> None:
        files = [("files", (n, b, "application/dicom")) for n, b in self.s.sample_files]
        self.call("upload_sample", "POST", "/v1/uploads", (201,), files=files, headers=self.rad)

    def phantom(self, rng: random.Random) -> None:
        with self.s.lock:
            i = self.s.next_phantom
            self.s.next_phantom += 1
            redo = rng.choice(self.s.done) if i >= len(self.s.pool) and self.s.done else None
        if i >= len(self.s.pool):
            if redo is not None:
                self.measure(redo[0], {**redo[1], "force": True})
            else:
                self.upload_sample()
            return
        ph = self.s.pool[i]
        files = [("files", (n, b, "application/dicom")) for n, b in ph.files]
        if (
            self.call(
                "upload_phantom", "POST", "/v1/uploads", (201,), files=files, headers=self.rad
            )
            is None
        ):
            return
        with self.s.lock:
            self.s.series.append((ph.study_uid, ph.series_uid))
        subject = f"LOAD-{ph.seed}"
        body = {"subject_id": subject, "arm": "load"}
        if self.call("setup", "POST", "/v1/subjects", (201,), json=body, headers=self.rad) is None:
            return
        tp_body = {
            "label": "baseline",
            "date": "2024-01-15",
            "study_instance_uid": ph.study_uid,
            "date_reason": "synthetic phantoms share one StudyDate",
            "baseline": True,
        }
        tp = self.call(
            "setup",
            "POST",
            f"/v1/subjects/{subject}/timepoints",
            (201,),
            json=tp_body,
            headers=self.rad,
        )
        if tp is None:
            return
        seg = self.call(
            "upload_labels",
            "POST",
            "/v1/segmentations",
            (201,),
            data={"series_instance_uid": ph.series_uid},
            files={"file": ("labels.nii.gz", ph.labels, "application/octet-stream")},
            headers=self.rad,
        )
        if seg is None:
            return
        request = {
            "timepoint_id": tp.json()["timepoint_id"],
            "series_instance_uid": ph.series_uid,
            "segmentation_upload_id": seg.json()["segmentation_upload_id"],
        }
        self.measure(subject, request)

    def measure(self, subject: str, body: dict[str, Any]) -> None:
        resp = self.call("measure", "POST", "/v1/measurements", (202,), json=body, headers=self.rad)
        if resp is not None:
            now = time.monotonic()
            with self.s.lock:
                self.s.pending[resp.json()["job_id"]] = [subject, now, now, body]

    def poll_one(self) -> bool:
        """Poll one job not polled for POLL_EVERY_S; False when there was none."""
        now = time.monotonic()
        with self.s.lock:
            due = [j for j, v in self.s.pending.items() if now - v[2] >= POLL_EVERY_S]
            if not due:
                return False
            job = due[0]
            self.s.pending[job][2] = now
        resp = self.call("job_status", "GET", f"/v1/jobs/{job}", (200,), headers=self.rad)
        if resp is None:
            return True
        status = resp.json()
        if status["status"] in ("succeeded", "failed"):
            with self.s.lock:
                entry = self.s.pending.pop(job, None)
                if entry is None:  # another thread saw it end first (a slow poll)
                    return True
                subject, submitted, _, body = entry
                self.s.turnaround.append(time.monotonic() - submitted)
                if status["status"] == "failed":
                    self.s.failed_jobs.append(f"{job}: {status.get('error')}")
                else:
                    if subject not in self.s.measured_subjects:
                        self.s.measured_subjects.append(subject)
                    self.s.done.append((subject, body))
        return True

    def run(self, seed: int, max_requests: int) -> None:
        rng = random.Random(seed)
        kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
        done = 0
        while time.monotonic() < self.s.stop_at and done < max_requests:
            done += 1
            kind = "job_status"
            try:
                if self.poll_one():
                    continue
                kind = rng.choices(kinds, weights)[0]
                if kind == "eligibility":
                    self.eligibility(rng)
                elif kind == "qido":
                    self.qido(rng)
                elif kind == "upload_sample":
                    self.upload_sample()
                elif kind == "healthz":
                    self.call("healthz", "GET", "/healthz", (200,))
                else:
                    self.phantom(rng)
            except Exception as exc:  # a bug of this script or a malformed answer: count it
                with self.s.lock:
                    self.s.errors[f"{kind}: client {type(exc).__name__}: {exc}"[:200]] += 1
        self.http.close()


def drain(url: str, shared: Shared, seconds: float) -> None:
    """Poll the jobs under way until they end or ``seconds`` pass."""
    client = Client(url, shared)
    deadline = time.monotonic() + seconds
    while shared.pending and time.monotonic() < deadline:
        if not client.poll_one():
            time.sleep(0.1)
    client.http.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its reaped children (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=60.0, help="load phase, seconds")
    p.add_argument("--threads", type=int, default=4, help="client threads")
    p.add_argument("--max-requests", type=int, default=100_000, help="per thread, at most")
    p.add_argument("--drain", type=float, default=30.0, help="seconds to wait for jobs at the end")
    p.add_argument("--phantoms", type=int, default=150, help="phantom studies to upload")
    p.add_argument("--slices", type=int, default=16)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep", action="store_true", help="keep the temporary home")
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    pool = phantoms(args.phantoms, args.slices, args.size)
    sample_files = tuple(
        (f.name, f.read_bytes()) for f in sorted((REPO / "sample_dicom" / "ct").iterdir())
    )
    home = Path(tempfile.mkdtemp(prefix="liverburden-load-"))
    try:
        subprocess.run(
            [*cli(), "demo", "--subject", SAMPLE_SUBJECT],
            env=home_env(home),
            cwd=REPO,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        rad, edc = make_key(home, "radiologist"), make_key(home, "edc")
        with Serve(home) as server:
            assert server.proc is not None
            print(
                f"prepared in {time.perf_counter() - t0:.1f} s ({len(pool)} phantoms of "
                f"{args.slices}x{args.size}x{args.size}); serving {server.url}; "
                f"{args.threads} threads for {args.duration:g} s",
                flush=True,
            )
            cpu0 = cpu_seconds(server.proc.pid)
            load0 = os.getloadavg()
            shared = Shared(time.monotonic() + args.duration, rad, edc, pool, sample_files)
            clients = [Client(server.url, shared) for _ in range(args.threads)]
            threads = [
                threading.Thread(target=c.run, args=(args.seed + i, args.max_requests))
                for i, c in enumerate(clients)
            ]
            start = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - start
            load1 = os.getloadavg()
            drain(server.url, shared, args.drain)
            cpu1 = cpu_seconds(server.proc.pid)
            server_log = server.log_path.read_text(errors="replace").splitlines()
    finally:
        if args.keep:
            print(f"home kept: {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    return report(args, shared, elapsed, (load0, load1), cpu1 - cpu0, server_log)


def report(
    args: argparse.Namespace,
    s: Shared,
    elapsed: float,
    loads: tuple[tuple[float, float, float], tuple[float, float, float]],
    server_cpu_s: float,
    server_log: list[str],
) -> int:
    """Print the table and the JSON line; the exit status."""
    rows = {}
    print(f"load phase {elapsed:.1f} s; per kind (latency in ms):")
    print(f"{'kind':<15} {'count':>6} {'req/s':>7} {'p50':>8} {'p99':>8} {'max':>8} {'errors':>7}")
    for kind in sorted(s.latencies):
        ms = s.latencies[kind]
        errs = sum(n for k, n in s.errors.items() if k.startswith(f"{kind}:"))
        rows[kind] = {
            "count": len(ms),
            "rps": len(ms) / elapsed,
            "p50": percentile(ms, 50),
            "p99": percentile(ms, 99),
            "max": max(ms),
            "errors": errs,
        }
        r = rows[kind]
        print(
            f"{kind:<15} {r['count']:6d} {r['rps']:7.2f} {r['p50']:8.1f} {r['p99']:8.1f}"
            f" {r['max']:8.1f} {errs:7d}"
        )
    total = sum(len(v) for v in s.latencies.values())
    print(f"{'all':<15} {total:6d} {total / elapsed:7.2f}")
    ref = rows.get("healthz", {}).get("p99")
    if ref:
        ratios = {k: r["p99"] / ref for k, r in rows.items() if k != "healthz"}
        print("p99 / p99(healthz): " + ", ".join(f"{k} {v:.1f}" for k, v in ratios.items()))
    jobs = len(s.turnaround)
    if jobs:
        print(
            f"jobs: {jobs} ended ({len(s.failed_jobs)} failed), {len(s.pending)} unfinished after "
            f"the drain; turnaround p50 {percentile(s.turnaround, 50):.1f} s, "
            f"p99 {percentile(s.turnaround, 99):.1f} s"
        )
    print(
        f"load average (1 min) {loads[0][0]:.2f} at start, {loads[1][0]:.2f} at end "
        f"({os.cpu_count()} CPUs); server CPU {server_cpu_s:.1f} s = "
        f"{server_cpu_s / elapsed:.2f} cores over the load phase"
    )
    for name, n in sorted(s.errors.items()):
        print(f"error: {name} x {n}")
    for job in s.failed_jobs:
        print(f"FAILED JOB: {job}")
    if s.server_errors:
        print(f"!!! {len(s.server_errors)} SERVER ERRORS (5xx) !!!")
        for line in s.server_errors[:20]:
            print(f"!!! {line}")
        print("--- tail of the server log ---")
        print("\n".join(server_log[-40:]))
    record = {
        "benchmark": "load",
        "threads": args.threads,
        "duration_s": elapsed,
        "kinds": rows,
        "total_rps": total / elapsed,
        "jobs_ended": jobs,
        "jobs_failed": len(s.failed_jobs),
        "jobs_unfinished": len(s.pending),
        "job_turnaround_s": {
            "p50": percentile(s.turnaround, 50),
            "p99": percentile(s.turnaround, 99),
        }
        if jobs
        else None,
        "p99_ratio_to_healthz": {k: r["p99"] / ref for k, r in rows.items()} if ref else None,
        "server_errors": len(s.server_errors),
        "errors": dict(s.errors),
        "loadavg_1min": [loads[0][0], loads[1][0]],
        "server_cpu_s": server_cpu_s,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(record))
    bad = s.server_errors or s.errors or s.failed_jobs
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
