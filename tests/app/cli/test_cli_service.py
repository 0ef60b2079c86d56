"""``liverburden keys`` and ``liverburden audit`` as an operator runs them (subprocesses)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from tests.app._cli import liverburden
from tests.app.conftest import LiveServer

REPO = Path(__file__).resolve().parents[3]
KEY_RE = re.compile(r"^lbk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh LIVERBURDEN_HOME."""
    return tmp_path / "home"


def test_keys_create_prints_the_key_alone_on_the_last_line(home: Path) -> None:
    """The last stdout line is the key; only its hash is stored; it authenticates over HTTP."""
    run = liverburden(home, "keys", "create", "--role", "radiologist", "--name", "reader 1")
    assert run.returncode == 0, run.stderr
    key = run.stdout.rstrip("\n").splitlines()[-1]
    assert KEY_RE.match(key), run.stdout
    db = (home / "liverburden.db").read_bytes() + b"".join(
        p.read_bytes() for p in home.glob("liverburden.db-*")
    )
    assert key.encode() not in db
    with LiveServer(Settings(home=home, workers=0)) as server:
        r = httpx.get(f"{server.base_url}/v1/subjects", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200


def test_keys_list_and_revoke(home: Path) -> None:
    """``keys list`` shows ids and roles, never keys; a revoked key no longer authenticates."""
    key = liverburden(home, "keys", "create", "--role", "edc").stdout.splitlines()[-1]
    key_id = key.split("_")[1]
    listed = liverburden(home, "keys", "list")
    assert listed.returncode == 0
    assert key_id in listed.stdout and "edc" in listed.stdout and key not in listed.stdout
    revoked = liverburden(home, "keys", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in liverburden(home, "keys", "list").stdout
    events = liverburden(home, "audit", "list", "--json").stdout.splitlines()
    assert ['"key.created"' in events[0], '"key.revoked"' in events[1]] == [True, True]
    with LiveServer(Settings(home=home, workers=0)) as server:
        r = httpx.get(
            f"{server.base_url}/v1/subjects/x/burden", headers={"Authorization": f"Bearer {key}"}
        )
    assert r.status_code == 401
    missing = liverburden(home, "keys", "revoke", "000000000000")
    assert missing.returncode == 2 and missing.stderr.startswith("error: ")


def test_keys_create_refuses_unknown_roles(home: Path) -> None:
    """An unknown role is a usage error and creates nothing."""
    run = liverburden(home, "keys", "create", "--role", "superuser")
    assert run.returncode == 2
    assert "lbk_" not in run.stdout


def test_audit_verify_detects_an_edited_event(home: Path) -> None:
    """``audit verify`` passes on an intact trail and exits 1 naming an edited event."""
    for role in ("admin", "edc"):
        assert liverburden(home, "keys", "create", "--role", role).returncode == 0
    ok = liverburden(home, "audit", "verify")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "intact: 2 events" in ok.stdout
    with sqlite3.connect(home / "liverburden.db") as conn:
        conn.execute('UPDATE audit_events SET details = \'{"role": "admin"}\' WHERE seq = 2')
    broken = liverburden(home, "audit", "verify")
    assert broken.returncode == 1
    assert "seq 2" in broken.stdout and "BROKEN" in broken.stdout
