"""Helpers shared by the CLI commands: one-line errors and exit codes."""

from __future__ import annotations

import datetime as dt
import sys
from typing import NoReturn

import typer

#: Exit status for bad input (what the contracts call "exit 2").
EXIT_BAD_INPUT = 2


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print ``error: message`` as one line on stderr and exit with ``code``."""
    line = " ".join(str(message).split())
    print(f"error: {line}", file=sys.stderr)
    raise typer.Exit(code)


def since_date(value: str | None) -> dt.date | None:
    """A ``--since YYYY-MM-DD`` option as a date (``None`` when not given); exit 2 when bad."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"--since {value!r}: expected a date as YYYY-MM-DD")
