"""The ``liverburden`` command line.

Sub-commands live in :mod:`app.commands`; each imports its heavy dependencies lazily so that
``liverburden measure`` starts fast (the measurement benchmark counts interpreter start-up).
Bad input ends with exit status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import sys

import typer

from app.commands import (
    audit_cmd,
    batch_cmd,
    demo_cmd,
    keys_cmd,
    measure_cmd,
    recist_cmd,
    report_cmd,
    segment_cmd,
    serve_cmd,
    worker_cmd,
)
from app.commands._common import EXIT_BAD_INPUT

app = typer.Typer(
    name="liverburden",
    help="Liver tumour burden and RECIST 1.1 measurements for a trial's imaging core lab.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("measure")(measure_cmd.measure)
app.command("batch")(batch_cmd.batch)
app.command("demo")(demo_cmd.demo)
app.add_typer(recist_cmd.app, name="recist")
app.add_typer(report_cmd.app, name="report")
app.add_typer(segment_cmd.app, name="segment")
app.command("serve")(serve_cmd.serve)
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(audit_cmd.app, name="audit")
app.command("worker")(worker_cmd.worker)


def _settings_problem(exc: Exception) -> str | None:
    """One line naming the environment settings a pydantic ``ValidationError`` refused.

    Values are not repeated (a database URL may hold a password); ``None`` for other errors.
    """
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return None
    prefix = {"Settings": "LIVERBURDEN_", "CelerySettings": "LIVERBURDEN_CELERY_"}.get(exc.title)
    if prefix is None:
        return None
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        name = prefix + "_".join(str(p) for p in err["loc"]).upper()
        parts.append(f"{name}: {err['msg']}")
    return "invalid setting " + "; ".join(parts) + " (check the environment)"


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except Exception as exc:
        problem = _settings_problem(exc)
        if problem is None:
            raise
        print(f"error: {' '.join(problem.split())}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


if __name__ == "__main__":
    main()
