"""Run the ``liverburden`` command line of this checkout in a subprocess, on a home of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def liverburden(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m app.cli ARGS`` with ``LIVERBURDEN_HOME=home``, the embedded database (no
    other ``LIVERBURDEN_*`` setting of this environment) and ``env`` on top."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("LIVERBURDEN_")}
    full.update({"LIVERBURDEN_HOME": str(home), "PYTHONPATH": str(REPO), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env=full,
        cwd=REPO,
        timeout=120,
        check=False,
    )
