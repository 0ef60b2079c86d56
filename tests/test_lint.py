"""The code stays as ruff (configured in pyproject.toml) wants it: lint rules and formatting."""

from __future__ import annotations

import shutil
import subprocess
import sys

from tests.conftest import REPO_ROOT


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("ruff")
    cmd = [exe] if exe else [sys.executable, "-m", "ruff"]
    return subprocess.run([*cmd, *args], cwd=REPO_ROOT, capture_output=True, text=True)


def test_ruff_check_passes() -> None:
    proc = _ruff("check", "--no-cache", ".")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_ruff_format_leaves_every_file_unchanged() -> None:
    proc = _ruff("format", "--check", "--no-cache", ".")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_mypy_strict_passes_on_every_package() -> None:
    """``mypy`` with the strict configuration of pyproject.toml, on a fresh cache (~30 s)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="lb-mypy-") as cache:
        proc = subprocess.run(
            [sys.executable, "-m", "mypy", "--cache-dir", cache],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
