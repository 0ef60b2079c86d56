"""A short, fixed-seed run of every atheris harness in ``benchmarks/fuzz_*.py``: no crash.

Each harness runs in its own process (atheris instruments the interpreter) from its seeds, for a
fixed number of inputs with a fixed libFuzzer seed, so the run is repeatable. A crash (an
exception that is not a DicomIOError, or a warning escaping a reader), a hang (``-timeout``) or a
memory blow-up (``-malloc_limit_mb``: one allocation over 2 GiB) fails the test, and the input
is left in the artifact folder named in the failure. Long runs are done by hand
(benchmarks/README.md, "Fuzzing").
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI, REPO_ROOT

#: Harness name -> inputs to run (5-8 s each, start-up included, on the 2-core dev machine).
RUNS = {"series": 400, "seg": 2000, "rtstruct": 2000, "labels": 500, "zip": 3000}
SEED = 20251124


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh work folder shared by the harnesses (the seed study is written once)."""
    if importlib.util.find_spec("atheris") is None:
        if IN_CI:
            pytest.fail("atheris is not installed (it is in the test extra)")
        pytest.skip("atheris is not installed")
    return tmp_path_factory.mktemp("fuzz")


def test_every_reader_has_a_harness() -> None:
    """The harnesses listed here are all of benchmarks/fuzz_*.py (none forgotten)."""
    found = {p.stem.removeprefix("fuzz_") for p in (REPO_ROOT / "benchmarks").glob("fuzz_*.py")}
    assert found - {"common"} == set(RUNS)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RUNS))
def test_bounded_fuzz_run_finds_no_crash(work: Path, name: str) -> None:
    """A fixed-seed run of the harness over its seeds and their mutations ends without a crash."""
    corpus = work / name / "corpus"
    artifacts = work / name / "artifacts"
    artifacts.mkdir(parents=True)
    env = {
        **os.environ,
        "LIVERBURDEN_FUZZ_WORK": str(work),
        "LIVERBURDEN_FUZZ_INSTRUMENT": "dicomio",
    }
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "benchmarks" / f"fuzz_{name}.py"),
            f"-atheris_runs={RUNS[name]}",
            f"-seed={SEED}",
            "-timeout=60",
            # Not -rss_limit_mb: Linux keeps ru_maxrss across fork+exec, so the child would start
            # with the peak RSS of this pytest process (GBs late in a full run) and report a
            # false out-of-memory at once. A per-allocation limit still catches forged sizes.
            "-rss_limit_mb=0",
            "-malloc_limit_mb=2048",
            f"-artifact_prefix={artifacts}/",
            "-print_final_stats=1",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
        cwd=work,
    )
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, tail
    assert not list(artifacts.iterdir()), tail
    assert f"Done {RUNS[name]} " in proc.stderr, tail
    assert any(corpus.iterdir()), "the harness wrote no seeds"
