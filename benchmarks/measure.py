"""Benchmark of ``liverburden measure`` against reading the same series by other means.

Run by hand (never in the test suite)::

    python benchmarks/measure.py [--slices 300] [--repeat 5]

It writes a 512 x 512 x N CT phantom (uncompressed Explicit VR Little Endian, one file per slice)
with its label map into ``benchmarks/_work/`` (git-ignored; reused while the spec is unchanged),
then times, interleaved, ``--repeat`` runs of:

(a) reading every file's bytes in this process (the floor: what any reader must do);
(b) SimpleITK's ImageSeriesReader reading the series in a fresh Python process (the reference);
(c) ``liverburden measure --series DIR --labels labels.nii.gz --json`` end to end, in a fresh
    process (start-up, reading, labels, measurement, JSON).

It prints the medians, the ratios c/b and c/a, the peak resident memory of (b) and (c) (the
child's ``ru_maxrss`` from ``wait4``) against the int16 volume's size, whether (c)'s numbers
equal the phantom's truth, and one JSON line. Goals: c/b <= 1.0 and peak(c) <= 3 x the int16
volume. The files are read from the page cache (warm), as they are in every run after the first.
Exit status 1 when ``liverburden measure`` fails (its stderr is printed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
Z_EXTENT_MM = 375.0
SITK_READ = (
    "import sys, SimpleITK as sitk\n"
    "r = sitk.ImageSeriesReader()\n"
    "r.SetFileNames(r.GetGDCMSeriesFileNames(sys.argv[1]))\n"
    "img = r.Execute()\n"
    "print(img.GetSize())\n"
)
#: Volumes agree when they differ by less than this (mL); diameters by less than this (mm).
VOLUME_TOL_ML = 1e-3
DIAMETER_TOL_MM = 1e-3


def benchmark_spec(slices: int) -> PhantomSpec:
    """512 x 512 x ``slices`` CT: 0.78 mm pixels, 375 mm of z, a 1.9 L liver, five lesions."""
    return PhantomSpec(
        shape_zyx=(slices, 512, 512),
        spacing_zyx_mm=(Z_EXTENT_MM / slices, 0.78125, 0.78125),
        liver_center_lps_mm=(-60.0, 10.0, 0.0),
        liver_semi_axes_mm=(95.0, 80.0, 60.0),
        lesions=(
            LesionSpec((-90.0, 5.0, 10.0), (30.0, 24.0, 20.0)),
            LesionSpec((-20.0, -40.0, -25.0), (12.0, 10.0, 9.0)),
            LesionSpec((-110.0, 50.0, -20.0), (8.0, 8.0, 7.0)),
            LesionSpec((-30.0, 40.0, 30.0), (5.0, 4.0, 4.0)),
            LesionSpec((-130.0, -20.0, 25.0), (3.5, 3.5, 3.5)),
        ),
        body_semi_axes_xy_mm=(180.0, 140.0),
        noise_sigma=10.0,
        seed=7,
    )


def prepare(slices: int, work: Path) -> tuple[Path, Path, dict[str, Any]]:
    """Write (or reuse) the series, labels and truth; return their paths and the truth."""
    spec = benchmark_spec(slices)
    root = work / f"ct{slices}"
    stamp = root / "spec.txt"
    series, labels, truth_path = root / "ct", root / "labels.nii.gz", root / "truth.json"
    if stamp.exists() and stamp.read_text() == repr(spec) and truth_path.exists():
        return series, labels, json.loads(truth_path.read_text())
    if root.exists():
        shutil.rmtree(root)
    t0 = time.perf_counter()
    phantom = make_phantom(spec)
    t1 = time.perf_counter()
    write_dicom_series(phantom, series)
    write_label_nifti(phantom, labels)
    t2 = time.perf_counter()
    truth_path.write_text(json.dumps(phantom.truth, indent=2) + "\n")
    stamp.write_text(repr(spec))
    print(f"generated {slices} slices in {t1 - t0:.1f} s, wrote them in {t2 - t1:.1f} s")
    return series, labels, phantom.truth


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float
    max_rss_bytes: int
    returncode: int
    stdout: str
    stderr: str


#: Runs a command and reports its wall time and its own peak RSS. Linux carries a process's peak
#: RSS across fork + exec (``ru_maxrss`` starts at the parent's high-water mark), so a child forked
#: straight from this benchmark -- which holds the phantom in memory -- would report this process's
#: peak instead of its own. The launcher is a small fresh interpreter; its child starts near zero.
_LAUNCHER = (
    "import json, os, subprocess, sys, time\n"
    "t0 = time.perf_counter()\n"
    "proc = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(proc.pid, 0)\n"
    "seconds = time.perf_counter() - t0\n"
    "code = os.waitstatus_to_exitcode(status)\n"
    "with open(sys.argv[1], 'w') as fh:\n"
    "    json.dump({'seconds': seconds, 'maxrss_kib': usage.ru_maxrss, 'code': code}, fh)\n"
)


def run_child(cmd: list[str]) -> Run:
    """Run ``cmd`` through the launcher: wall time and its own peak RSS (``wait4``'s rusage)."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory() as tmp,
    ):
        report = Path(tmp) / "usage.json"
        subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(report), *cmd], stdout=out, stderr=err, cwd=REPO
        )
        usage = json.loads(report.read_text())
        out.seek(0)
        err.seek(0)
        return Run(
            float(usage["seconds"]),
            int(usage["maxrss_kib"]) * 1024,
            int(usage["code"]),
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


def read_bytes(files: list[Path]) -> float:
    """Seconds to read every file's bytes in this process."""
    t0 = time.perf_counter()
    total = 0
    for f in files:
        with open(f, "rb") as fh:
            total += len(fh.read())
    return time.perf_counter() - t0


def measure_command() -> list[str]:
    """The ``liverburden`` command (benchmarks/_cli.py: this interpreter's script, not a shim)."""
    return liverburden_command()


def compare(result: dict[str, Any], truth: dict[str, Any]) -> list[str]:
    """Differences between the measure JSON and the truth (empty when they agree)."""
    diffs = []
    for key in ("liver_volume_ml", "tumor_volume_ml"):
        if (
            abs(float(result.get(key, float("nan"))) - truth[key]) > VOLUME_TOL_ML
            or result.get(key) is None
        ):
            diffs.append(f"{key}: {result.get(key)} != {truth[key]:.3f}")
    got, want = result.get("lesions", []), truth["lesions"]
    if len(got) != len(want):
        return [*diffs, f"{len(got)} lesions != {len(want)}"]
    for g, w in zip(got, want, strict=True):
        for key, tol in (
            ("volume_ml", VOLUME_TOL_ML),
            ("long_axis_mm", DIAMETER_TOL_MM),
            ("short_axis_mm", DIAMETER_TOL_MM),
        ):
            if abs(float(g[key]) - w[key]) > tol:
                diffs.append(f"{w['lesion_id']} {key}: {g[key]} != {w[key]:.3f}")
        if g.get("measurable") is not w["measurable"]:
            diffs.append(f"{w['lesion_id']} measurable: {g.get('measurable')}")
    return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", type=int, default=300, help="slices of 512 x 512 (300)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each measurement (5)")
    parser.add_argument("--work", type=Path, default=WORK, help="work folder (benchmarks/_work)")
    args = parser.parse_args(argv)

    series, labels, truth = prepare(args.slices, args.work)
    files = sorted(series.glob("*.dcm"))
    size = sum(f.stat().st_size for f in files)
    int16_bytes = args.slices * 512 * 512 * 2
    sitk_cmd = [sys.executable, "-c", SITK_READ, str(series)]
    measure_cmd = [
        *measure_command(),
        "measure",
        "--series",
        str(series),
        "--labels",
        str(labels),
        "--json",
    ]

    a_s: list[float] = []
    b_runs: list[Run] = []
    c_runs: list[Run] = []
    failed: Run | None = None
    for _ in range(args.repeat):
        a_s.append(read_bytes(files))
        run_b = run_child(sitk_cmd)
        if run_b.returncode != 0:
            sys.stderr.write(run_b.stderr)
            print("SimpleITK could not read the series", file=sys.stderr)
            return 1
        b_runs.append(run_b)
        if failed is None:
            run_c = run_child(measure_cmd)
            if run_c.returncode != 0:
                failed = run_c
            else:
                c_runs.append(run_c)

    mb = 1024.0 * 1024.0
    a = statistics.median(a_s)
    b = statistics.median(r.seconds for r in b_runs)
    b_rss = max(r.max_rss_bytes for r in b_runs)
    c = statistics.median(r.seconds for r in c_runs) if c_runs else None
    c_rss = max(r.max_rss_bytes for r in c_runs) if c_runs else None
    rows = [
        ("(a) read file bytes", a, None),
        ("(b) SimpleITK ImageSeriesReader, fresh process", b, b_rss),
        ("(c) liverburden measure --json, fresh process", c, c_rss),
    ]
    print(
        f"\n{len(files)} files, {size / mb:.1f} MiB; int16 volume {int16_bytes / mb:.1f} MiB; "
        f"median of {args.repeat} runs"
    )
    print(f"{'measurement':<50} {'median s':>9} {'peak RSS MiB':>13}")
    for name, secs, rss in rows:
        shown = "failed" if secs is None else f"{secs:.3f}"
        print(f"{name:<50} {shown:>9} {'' if rss is None else f'{rss / mb:.0f}':>13}")
    figures: dict[str, Any] = {
        "slices": args.slices,
        "files": len(files),
        "bytes": size,
        "repeat": args.repeat,
        "a_read_bytes_s": round(a, 4),
        "b_sitk_s": round(b, 4),
        "b_peak_rss_bytes": b_rss,
        "int16_volume_bytes": int16_bytes,
    }
    if failed is not None or c is None or c_rss is None:
        print(json.dumps(figures))
        if failed is not None:
            sys.stderr.write(failed.stderr)
            print(
                f"`{' '.join(measure_command())} measure` failed with exit status "
                f"{failed.returncode}",
                file=sys.stderr,
            )
        return 1
    diffs = compare(json.loads(c_runs[-1].stdout), truth)
    print(
        f"c/b = {c / b:.2f} (goal <= 1.0)   c/a = {c / a:.1f}   "
        f"peak(c) = {c_rss / int16_bytes:.2f} x int16 volume (goal <= 3.0)"
    )
    print("measure output vs truth: " + ("agrees" if not diffs else "; ".join(diffs)))
    figures |= {
        "c_measure_s": round(c, 4),
        "c_over_b": round(c / b, 3),
        "c_over_a": round(c / a, 2),
        "c_peak_rss_bytes": c_rss,
        "c_peak_over_int16": round(c_rss / int16_bytes, 3),
        "goal_c_over_b_le_1": c / b <= 1.0,
        "goal_peak_le_3x_int16": c_rss <= 3 * int16_bytes,
        "agrees_with_truth": not diffs,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
