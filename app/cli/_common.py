"""Helpers shared by the CLI commands: one-line errors and exit codes."""

from __future__ import annotations

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
