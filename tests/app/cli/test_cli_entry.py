"""The console script registers only the invoked command; nothing a user sees changes."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from app.cli.main import _COMMANDS, build_app


@pytest.mark.parametrize("name", sorted(_COMMANDS))
def test_command_alone_has_the_same_help_as_in_the_full_cli(name: str) -> None:
    runner = CliRunner()
    alone = runner.invoke(build_app(name), [name, "--help"], terminal_width=100)
    full = runner.invoke(build_app(), [name, "--help"], terminal_width=100)
    assert alone.exit_code == full.exit_code == 0
    assert alone.output == full.output
    assert f"liverburden {name}" in alone.output


def test_full_cli_lists_every_command() -> None:
    out = CliRunner().invoke(build_app(), ["--help"], terminal_width=120).output
    listed = {line.strip("│ ").split()[0] for line in out.splitlines() if line.startswith("│ ")}
    assert set(_COMMANDS) <= listed


def test_measure_run_imports_no_other_command() -> None:
    """``liverburden measure`` (here with a missing series: exit 2) loads no other command."""
    code = (
        "import sys\n"
        "sys.argv = ['liverburden', 'measure', '--series', '/nonexistent', '--labels', '/x']\n"
        "from app.cli.main import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "others = sorted(m for m in sys.modules if m.startswith('app.cli.') and\n"
        "                m not in ('app.cli.main', 'app.cli._common', 'app.cli.measure'))\n"
        "print(code, others)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2 []"
