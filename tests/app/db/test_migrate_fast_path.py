"""``upgrade_database`` leaves a database already at the newest revision alone, without Alembic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from app.db.migrate import (
    HEAD_REVISION,
    alembic_config,
    current_revision,
    upgrade_database,
)


def test_head_revision_constant_is_alembics_head() -> None:
    """A new migration must update HEAD_REVISION (else databases would never reach it)."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script.get_heads() == [HEAD_REVISION]


def test_fresh_and_older_databases_are_migrated_to_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lb.db'}"
    assert current_revision(url) is None
    assert not (tmp_path / "lb.db").exists()  # looking does not create the file
    upgrade_database(url)
    assert current_revision(url) == HEAD_REVISION
    command.downgrade(alembic_config(url), "0002")
    assert current_revision(url) == "0002"
    upgrade_database(url)
    assert current_revision(url) == HEAD_REVISION


def test_database_at_head_is_checked_without_importing_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lb.db'}"
    upgrade_database(url)
    code = (
        "import sys\n"
        "from app.db import upgrade_database\n"
        f"upgrade_database({url!r})\n"
        "print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
