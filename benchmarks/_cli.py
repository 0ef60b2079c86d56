"""How the benchmarks start ``liverburden``: the console script of the interpreter running them.

``shutil.which`` may find a version manager's shim first (pyenv's is a bash script that runs
``pyenv exec``, ~70 ms per call on the development machine), which a user of an installed
``liverburden`` in a virtual environment never pays; the script beside ``sys.executable`` is
the one ``pip install`` wrote for this interpreter.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def liverburden_command() -> list[str]:
    """The ``liverburden`` script of this interpreter, else on PATH, else ``python -m app.cli``."""
    beside = Path(sys.executable).parent / "liverburden"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    exe = shutil.which("liverburden")
    return [exe] if exe else [sys.executable, "-m", "app.cli"]
