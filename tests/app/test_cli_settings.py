"""A bad ``LIVERBURDEN_*`` setting ends a command with one line and exit 2, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app._cli import liverburden


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
    proc = liverburden(tmp_path, *command, env={variable: value})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: invalid setting "), proc.stderr
    assert variable in lines[0] and expected in lines[0]
    assert "Traceback" not in proc.stderr
    assert "s3cr3t" not in proc.stderr  # values are not repeated (they may be secrets)
