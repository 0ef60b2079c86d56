"""A server killed with SIGKILL mid-upload loses no acknowledged instance and restarts cleanly."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pydicom
import pytest
from sqlalchemy import select

from app.auth import audit
from app.auth.keys import create_key
from app.db import get_engine, make_session_factory, session_scope, upgrade_database
from app.db.models import Instance
from app.settings import Settings
from tests.app.conftest import SeriesFiles, dicom_parts
from tests.conftest import SAMPLE_DICOM

REPO = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LIVERBURDEN_HOME": str(home), "PYTHONPATH": str(REPO)}
    env.pop("LIVERBURDEN_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail("liverburden serve did not start")


def _uid(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def test_sigkill_mid_upload_loses_no_acknowledged_instance(
    tmp_path: Path, ct_series: SeriesFiles
) -> None:
    """Every instance answered 201 before the kill is stored intact after a restart."""
    home = tmp_path / "home"
    settings = Settings(home=home)
    home.mkdir()
    upgrade_database(settings.resolved_database_url)
    factory = make_session_factory(get_engine(settings.resolved_database_url))
    with session_scope(factory) as s:
        key = create_key(s, "radiologist", "crash test", "test")[1]
    headers = {"Authorization": f"Bearer {key}"}
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    big = sorted((SAMPLE_DICOM / "ct").glob("*.dcm")) or list(ct_series.files)
    server = _serve(home, port)
    acked: list[str] = []
    stop = threading.Event()

    def one_by_one() -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
            for path in ct_series.files:
                if stop.is_set():
                    return
                try:
                    r = c.post("/v1/uploads", files=dicom_parts([path]))
                except httpx.HTTPError:
                    return
                if r.status_code == 201:
                    acked.append(_uid(path))

    def whole_series() -> None:  # in flight when the server dies (its outcome is not checked)
        with (
            httpx.Client(base_url=base, headers=headers, timeout=30) as c,
            contextlib.suppress(httpx.HTTPError),
        ):
            c.post("/v1/uploads", files=dicom_parts(big))

    try:
        writers = [threading.Thread(target=one_by_one), threading.Thread(target=whole_series)]
        for t in writers:
            t.start()
        deadline = time.monotonic() + 60
        while len(acked) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
        stop.set()
        for t in writers:
            t.join(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    assert len(acked) >= 4

    server = _serve(home, port)
    try:
        with session_scope(factory) as s:
            rows = {i.sop_instance_uid: i for i in s.execute(select(Instance)).scalars()}
        for uid in acked:
            blob = settings.blob_dir / rows[uid].blob_path
            assert hashlib.sha256(blob.read_bytes()).hexdigest() == rows[uid].sha256
        with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
            again = c.post("/v1/uploads", files=dicom_parts(list(ct_series.files)))
            assert again.status_code == 201, again.text
            assert again.json()["duplicates"] >= len(acked)
        with session_scope(factory) as s:
            assert audit.verify(s).ok
            assert len(s.execute(select(Instance)).scalars().all()) >= len(ct_series.files)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
