"""A bad ``LIVERBURDEN_*`` setting ends a command with one line and exit 2, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _run(
    args: list[str], env_extra: dict[str, str], home: Path
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVERBURDEN_")}
    env.update({"LIVERBURDEN_HOME": str(home), **env_extra})
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("LIVERBURDEN_JOB_STALE_SECONDS", "s3cr3t-value", "valid number"),
        ("LIVERBURDEN_STUDY_ID", "s3cr3t value!", "pattern"),
    ],
    ids=["number", "pattern"],
)
@pytest.mark.parametrize("command", [["keys", "list"], ["audit", "verify"]], ids=["keys", "audit"])
def test_invalid_setting_exits_2_with_one_line_naming_it(
    tmp_path: Path, variable: str, value: str, expected: str, command: list[str]
) -> None:
    proc = _run(command, {variable: value}, tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: invalid setting "), proc.stderr
    assert variable in lines[0] and expected in lines[0]
    assert "Traceback" not in proc.stderr
    assert "s3cr3t" not in proc.stderr  # values are not repeated (they may be secrets)
