"""Re-measuring what the service holds: studies per second with 1 and 2 local workers.

Run by hand (never in the test suite)::

    python benchmarks/reprocess.py [--studies 200] [--repeat 2] [--slices 40 --size 128]

1. A fresh temporary ``LIVERBURDEN_HOME`` (the embedded default: SQLite and the blob folder) and
   ``liverburden serve`` on a loopback port; ``--studies`` phantom studies (benchmarks/load.py's,
   one liver lesion each, written once into benchmarks/_work) stored through the real path: REST
   upload, a subject with its baseline, the label map, the measurement job.
2. ``liverburden recheck --workers 1`` and ``--workers 2`` (the server stopped), interleaved
   ``--repeat`` times, each a fresh process timed from outside: studies per second of each, and
   the ratio 2 workers / 1 worker (issue 18's goal: >= 1.7 in steady state). Every run must find
   every measurement the same (an unchanged version): anything else fails the benchmark.

The Celery engine and storing new results are not built yet (issue 18).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

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


def _recheck(home: Path, workers: int, out: Path) -> tuple[float, dict[str, object]]:
    t0 = time.perf_counter()
    done = subprocess.run(
        [*cli(), "recheck", "--workers", str(workers), "--out", str(out)],
        env=home_env(home),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"recheck failed: {done.stderr.strip()[-500:]}")
    report = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    return seconds, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--slices", type=int, default=40)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lb-reprocess-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        key = make_key(home, "radiologist")
        t0 = time.perf_counter()
        with Serve(home) as server:
            _store(server.url, key, args.studies, args.slices, args.size)
        stored_s = time.perf_counter() - t0
        seconds: dict[int, list[float]] = {1: [], 2: []}
        for r in range(args.repeat):
            for workers in (1, 2):
                s, report = _recheck(home, workers, Path(tmp) / f"r{r}-w{workers}")
                if report["same"] != args.studies:
                    raise RuntimeError(f"not every measurement came back the same: {report}")
                seconds[workers].append(s)
    one, two = statistics.median(seconds[1]), statistics.median(seconds[2])
    result = {
        "studies": args.studies,
        "grid": [args.slices, args.size, args.size],
        "store_s": round(stored_s, 1),
        "recheck_1_worker_s": round(one, 2),
        "recheck_2_workers_s": round(two, 2),
        "studies_per_s_1": round(args.studies / one, 2),
        "studies_per_s_2": round(args.studies / two, 2),
        "ratio_2_over_1": round(one / two, 3),
        "cpus": os.cpu_count(),
    }
    print(
        f"{args.studies} studies ({args.slices}x{args.size}x{args.size}): 1 worker "
        f"{result['studies_per_s_1']} studies/s, 2 workers {result['studies_per_s_2']} studies/s, "
        f"ratio {result['ratio_2_over_1']} (goal >= 1.7)"
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
