"""The ``liverburden`` command line.

Each sub-command is a module of :mod:`app.cli`; each imports its heavy dependencies lazily so that
``liverburden measure`` starts fast (the measurement benchmark counts interpreter start-up).
Bad input ends with exit status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer

from app.cli._common import EXIT_BAD_INPUT

#: Each sub-command: (module, attribute, whether the attribute is a Typer group).
_COMMANDS: dict[str, tuple[str, str, bool]] = {
    "measure": ("app.cli.measure", "measure", False),
    "batch": ("app.cli.batch", "batch", False),
    "demo": ("app.cli.demo", "demo", False),
    "recist": ("app.cli.recist", "app", True),
    "report": ("app.cli.report", "app", True),
    "segment": ("app.cli.segment", "app", True),
    "serve": ("app.cli.serve", "serve", False),
    "keys": ("app.cli.keys", "app", True),
    "audit": ("app.cli.audit", "app", True),
    "worker": ("app.cli.worker", "worker", False),
    "track": ("app.cli.track", "track", False),
    "recheck": ("app.cli.recheck", "recheck", False),
    "reprocess": ("app.cli.reprocess", "reprocess", False),
    "adopt": ("app.cli.adopt", "adopt", False),
}
_HELP = "Liver tumour burden and RECIST 1.1 measurements for a trial's imaging core lab."


def build_app(only: str | None = None) -> typer.Typer:
    """The command line with every sub-command, or with ``only`` that one.

    ``liverburden measure ...`` needs neither the other commands' modules nor their parameters
    (typer converts every registered command's parameters before dispatching): registering the
    invoked command alone saves ~45 ms of every run. Its usage, help and errors are the same.
    """
    cli = typer.Typer(
        name="liverburden",
        help=_HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    names = [only] if only in _COMMANDS else list(_COMMANDS)
    if len(names) == 1:

        @cli.callback()
        def _root() -> None:  # a lone command would otherwise run as the program itself
            pass

        _root.__doc__ = _HELP
    for name in names:
        module, attr, group = _COMMANDS[name]
        target = getattr(importlib.import_module(module), attr)
        if group:
            cli.add_typer(target, name=name)
        else:
            cli.command(name)(target)
    return cli


def __getattr__(name: str) -> Any:
    """``app.cli.main.app``: the full command line (built on first access)."""
    if name == "app":
        full = build_app()
        globals()["app"] = full
        return full
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
        build_app(sys.argv[1] if len(sys.argv) > 1 else None)()
    except Exception as exc:
        problem = _settings_problem(exc)
        if problem is None:
            raise
        print(f"error: {' '.join(problem.split())}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


if __name__ == "__main__":
    main()
