"""``liverburden recist``: RECIST 1.1 response assessment (contracts/recist-assess.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli._common import fail

app = typer.Typer(
    name="recist",
    help="RECIST 1.1 (and mRECIST) response assessment of one subject.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _recist() -> None:
    """RECIST 1.1 (and mRECIST) response assessment of one subject."""


def _read(file: str) -> str:
    if file == "-":
        return sys.stdin.read()
    path = Path(file)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"cannot read {file!r}: no such file")
    except IsADirectoryError:
        fail(f"cannot read {file!r}: it is a directory")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file!r}: {exc}")


@app.command("assess")
def assess(
    file: Annotated[
        str, typer.Argument(help="Input JSON file (contracts/recist-assess.md), or - for stdin.")
    ],
) -> None:
    """Assess one subject's timepoints and print the output JSON on stdout."""
    from recist.assessment import assess as assess_subject
    from recist.errors import RecistInputError

    source = "standard input" if file == "-" else repr(file)
    try:
        data: Any = json.loads(_read(file))
    except json.JSONDecodeError as exc:
        fail(f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    try:
        result = assess_subject(data)
    except RecistInputError as exc:
        fail(f"invalid RECIST input in {source}: {exc}")
    typer.echo(json.dumps(result, indent=2))


if __name__ == "__main__":
    app()
