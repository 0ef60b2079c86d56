"""Benchmark of the EDC's reads: p99 of ``GET /v1/subjects/{id}/eligibility``, ``/assessment``
and ``/endpoints`` (the H-PFS interval).

Run by hand (never in the test suite)::

    python benchmarks/edc.py [--reads 200] [--warmup 5] [--home DIR] [--keep]

Issue 4's goal: p99 <= 50 ms for 200 sequential eligibility reads with an EDC key on the embedded
default (SQLite + blob folder under ``$LIVERBURDEN_HOME``). What it does:

1. ``liverburden demo --subject EDC-001`` on a fresh temporary ``LIVERBURDEN_HOME``: uploads the
   bundled sample, creates the subject and its baseline timepoint, runs the measurement job.
2. ``liverburden keys create`` of a radiologist and an EDC key; ``liverburden serve`` as a
   subprocess on a free loopback port (what production runs; its log goes to ``serve.log`` in the
   home).
3. Over HTTP with the radiologist key, a lesion table that makes both reads do their real work: a
   screening timepoint before the baseline (so eligibility assesses liver progression between the
   two pre-enrolment scans with the RECIST engine), a follow-up, liver target lesions with caliper
   and mask-derived diameters (copied from the stored measurement).
4. With the EDC key on one keep-alive connection, ``--reads`` sequential reads of each of
   ``/healthz`` (the reference: no authentication, no database), ``/eligibility``,
   ``/assessment`` and ``/endpoints``, interleaved round-robin so that a burst of load from other
   processes hits all alike (after ``--warmup`` untimed rounds).

It prints median, p95, p99 and max (ms) of each, p99(route) / p99(healthz), the load average, and
one JSON line. Exit status 1 when a read fails or the eligibility p99 exceeds ``--goal-ms``. The
assessment read appends an audit event (a committed write) on every call, eligibility does not.

:func:`free_port`, :class:`Serve`, :func:`make_key`, :func:`percentile` and :func:`cli` are
reused by ``benchmarks/load.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks._cli import liverburden_command  # noqa: E402 (after the path set-up)

SUBJECT = "EDC-001"
GOAL_P99_MS = 50.0
START_TIMEOUT_S = 60.0


def cli() -> list[str]:
    """The ``liverburden`` command (benchmarks/_cli.py: this interpreter's script, not a shim)."""
    return liverburden_command()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def home_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment pointed at ``home`` (and no other database or broker)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVERBURDEN_")}
    env["LIVERBURDEN_HOME"] = str(home)
    env.update(extra)
    return env


def make_key(home: Path, role: str, **env: str) -> str:
    """A new API key of ``role`` made by ``liverburden keys create`` (its last stdout line)."""
    out = subprocess.run(
        [*cli(), "keys", "create", "--role", role, "--name", f"benchmark {role}"],
        env=home_env(home, **env),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


class Serve:
    """``liverburden serve`` as a subprocess on a free loopback port; stopped with SIGINT."""

    def __init__(self, home: Path, **env: str) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "serve.log"
        self.env = home_env(home, **env)
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Serve:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [*cli(), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            cwd=REPO,
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"liverburden serve exited early; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"liverburden serve did not answer; see {self.log_path}")
            time.sleep(0.1)

    def stop(self) -> int | None:
        """SIGINT (uvicorn's graceful shutdown), then SIGKILL after 30 s; the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by the nearest-rank method (p99 of 200 = 198th value)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def summary(ms: Sequence[float]) -> dict[str, float]:
    """Median, p95, p99 and max of latencies in ms."""
    return {
        "n": len(ms),
        "median": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
        "max": max(ms) if ms else math.nan,
    }


def _ok(resp: httpx.Response, what: str) -> Any:
    if resp.status_code >= 400:
        raise RuntimeError(f"{what}: HTTP {resp.status_code} {resp.text[:300]}")
    return resp.json() if resp.content else None


def prepare_lesions(http: httpx.Client, rad: dict[str, str]) -> None:
    """Screening and follow-up timepoints and a liver lesion table for :data:`SUBJECT`."""
    base = f"/v1/subjects/{SUBJECT}"
    tps = _ok(http.get(f"{base}/timepoints", headers=rad), "timepoints")
    baseline = next(t for t in tps if t["baseline"])
    elig = _ok(http.get(f"{base}/eligibility", headers=rad), "eligibility")
    ids = {"baseline": baseline["timepoint_id"]}
    for label, date in (("screening", "2019-10-01"), ("week12", "2020-03-25")):
        # Hand-read visits: no study of their own (a study is the study of one timepoint).
        body = {"label": label, "date": date, "baseline": False}
        ids[label] = _ok(http.post(f"{base}/timepoints", json=body, headers=rad), label)[
            "timepoint_id"
        ]
    lesions = [
        {"lesion_id": "T1", "organ": "liver", "lymph_node": False, "role": "target"},
        {"lesion_id": "T2", "organ": "liver", "lymph_node": False, "role": "target"},
        {"lesion_id": "N1", "organ": "liver", "lymph_node": False, "role": "non_target"},
    ]
    _ok(
        http.put(f"{base}/lesions", json={"reason": "benchmark", "lesions": lesions}, headers=rad),
        "lesions",
    )
    mid = elig["measurement_id"]
    per_tp: dict[str, list[dict[str, Any]]] = {
        "screening": [
            {"lesion_id": "T1", "diameter_mm": 41.0},
            {"lesion_id": "T2", "diameter_mm": 12.5},
            {"lesion_id": "N1", "status": "present"},
        ],
        "baseline": [
            {"lesion_id": "T1", "measurement_id": mid, "measurement_lesion_id": "L1"},
            {"lesion_id": "T2", "measurement_id": mid, "measurement_lesion_id": "L2"},
            {"lesion_id": "N1", "status": "present"},
        ],
        "week12": [
            {"lesion_id": "T1", "diameter_mm": 44.0},
            {"lesion_id": "T2", "diameter_mm": 14.0},
            {"lesion_id": "N1", "status": "present"},
        ],
    }
    for label, measurements in per_tp.items():
        body = {"reason": "benchmark", "measurements": measurements, "new_lesions": []}
        _ok(
            http.put(f"{base}/timepoints/{ids[label]}/lesions", json=body, headers=rad),
            f"{label} lesions",
        )


def timed_reads(url: str, edc: str, reads: int, warmup: int) -> dict[str, list[float]]:
    """Round-robin sequential reads on one keep-alive connection; latencies in ms per route."""
    routes = {
        "healthz": "/healthz",
        "eligibility": f"/v1/subjects/{SUBJECT}/eligibility",
        "assessment": f"/v1/subjects/{SUBJECT}/assessment",
        "endpoints": f"/v1/subjects/{SUBJECT}/endpoints",
    }
    out: dict[str, list[float]] = {name: [] for name in routes}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {edc}"}, timeout=30) as http:
        for i in range(warmup + reads):
            for name, path in routes.items():
                t0 = time.perf_counter()
                resp = http.get(path)
                elapsed = (time.perf_counter() - t0) * 1000.0
                if resp.status_code != 200:
                    raise RuntimeError(f"GET {path}: HTTP {resp.status_code} {resp.text[:300]}")
                if i >= warmup:
                    out[name].append(elapsed)
        check = http.get(routes["eligibility"]).json()
    if check.get("liver_progression_by_recist") is None:
        raise RuntimeError("eligibility did not assess liver progression; preparation failed")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=200, help="timed reads per route")
    parser.add_argument("--warmup", type=int, default=5, help="untimed rounds first")
    parser.add_argument("--home", type=Path, help="LIVERBURDEN_HOME (default: a fresh temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    parser.add_argument("--goal-ms", type=float, default=GOAL_P99_MS, help="eligibility p99 goal")
    args = parser.parse_args(argv)

    home = args.home or Path(tempfile.mkdtemp(prefix="liverburden-edc-"))
    home.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        subprocess.run(
            [*cli(), "demo", "--subject", SUBJECT],
            env=home_env(home),
            cwd=REPO,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        rad, edc = make_key(home, "radiologist"), make_key(home, "edc")
        with Serve(home) as server:
            with httpx.Client(base_url=server.url, timeout=60) as http:
                prepare_lesions(http, {"Authorization": f"Bearer {rad}"})
            print(f"prepared in {time.perf_counter() - t0:.1f} s; serving {server.url}")
            load_before = os.getloadavg()
            lat = timed_reads(server.url, edc, args.reads, args.warmup)
            load_after = os.getloadavg()
    finally:
        if args.home is None and not args.keep:
            shutil.rmtree(home, ignore_errors=True)
        elif args.keep:
            print(f"home kept: {home}")

    stats = {name: summary(ms) for name, ms in lat.items()}
    ref = stats["healthz"]["p99"]
    print(f"{args.reads} sequential reads each (EDC key, one keep-alive connection), ms:")
    print(f"{'route':<12} {'median':>8} {'p95':>8} {'p99':>8} {'max':>8} {'p99/healthz':>12}")
    for name, s in stats.items():
        ratio = s["p99"] / ref
        print(
            f"{name:<12} {s['median']:8.2f} {s['p95']:8.2f} {s['p99']:8.2f} {s['max']:8.2f}"
            f" {ratio:12.2f}"
        )
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    elig_p99 = stats["eligibility"]["p99"]
    met = elig_p99 <= args.goal_ms
    print(
        f"goal: eligibility p99 <= {args.goal_ms:g} ms: {'met' if met else 'NOT MET'} "
        f"({elig_p99:.2f} ms)"
    )
    record = {
        "benchmark": "edc",
        "reads": args.reads,
        "stats_ms": stats,
        "p99_ratio_to_healthz": {n: s["p99"] / ref for n, s in stats.items()},
        "loadavg_1min": [load_before[0], load_after[0]],
        "cpus": os.cpu_count(),
        "goal_met": met,
    }
    print(json.dumps(record))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
