"""Service fixtures: a real uvicorn server on a free port, real HTTP clients, API keys per role,
a tiny synthetic CT series with its label map, and a throw-away PostgreSQL database."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from app.api.main import create_app
from app.auth.keys import create_key
from app.db.session import get_engine, make_session_factory, session_scope
from app.settings import Settings

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get(
    "LIVERBURDEN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ROLES = ("radiologist", "edc", "admin")


class LiveServer:
    """The real application under uvicorn in a background thread (lifespan included)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    @property
    def session_factory(self) -> sessionmaker[Session]:
        factory: sessionmaker[Session] = self.app.state.session_factory
        return factory


@dataclass
class Service:
    """A running service, its keys by role and HTTP clients."""

    server: LiveServer
    keys: dict[str, str] = field(default_factory=dict)
    _clients: list[httpx.Client] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return self.server.settings

    @property
    def url(self) -> str:
        return self.server.base_url

    def client(self, role: str | None = "radiologist") -> httpx.Client:
        """An httpx client with the key of ``role`` (none for ``None``)."""
        headers = {} if role is None else {"Authorization": f"Bearer {self.keys[role]}"}
        c = httpx.Client(base_url=self.url, headers=headers, timeout=60)
        self._clients.append(c)
        return c

    def close(self) -> None:
        for c in self._clients:
            c.close()


def make_keys(factory: sessionmaker[Session]) -> dict[str, str]:
    """One key per role, created directly in the database."""
    keys = {}
    with session_scope(factory) as s:
        for role in ROLES:
            keys[role] = create_key(s, role, f"test {role}", "test:setup")[1]
    return keys


@contextlib.contextmanager
def running_service(settings: Settings) -> Iterator[Service]:
    """Start a server for ``settings`` with one key per role."""
    with LiveServer(settings) as server:
        svc = Service(server, make_keys(server.session_factory))
        try:
            yield svc
        finally:
            svc.close()


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """Embedded defaults under a fresh home, one worker."""
    return Settings(home=tmp_path / "home", workers=1)


@pytest.fixture
def service(sqlite_settings: Settings) -> Iterator[Service]:
    """A fresh embedded service (SQLite + blob folder in tmp_path)."""
    with running_service(sqlite_settings) as svc:
        yield svc


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def backend_service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    """A fresh service on SQLite, then on a fresh PostgreSQL database (two workers each)."""
    url = None if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    settings = Settings(home=tmp_path / "home", workers=2, database_url=url)
    with running_service(settings) as svc:
        yield svc


def wait_for_job(client: httpx.Client, location: str, timeout_s: float = 120) -> dict[str, Any]:
    """Poll a job until it succeeds or fails."""
    deadline = time.monotonic() + timeout_s
    while True:
        body: dict[str, Any] = client.get(location).json()
        if body["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


@dataclass(frozen=True)
class SeriesFiles:
    """A synthetic CT series on disk with its label map and truth."""

    files: tuple[Path, ...]
    labels: Path
    truth: dict[str, Any]


def _write_phantom(out: Path, seed: int) -> SeriesFiles:
    from phantoms import (
        LesionSpec,
        PhantomSpec,
        make_phantom,
        write_dicom_series,
        write_label_nifti,
    )

    spec = PhantomSpec(
        shape_zyx=(10, 48, 48),
        spacing_zyx_mm=(2.5, 3.0, 3.0),
        liver_center_lps_mm=(-10.0, 0.0, 0.0),
        liver_semi_axes_mm=(50.0, 45.0, 11.0),
        lesions=(LesionSpec(center_lps_mm=(-10.5, 1.5, 0.0), semi_axes_mm=(15.0, 12.0, 5.0)),),
        body_semi_axes_xy_mm=(70.0, 70.0),
        seed=seed,
    )
    phantom = make_phantom(spec)
    files = write_dicom_series(phantom, out / "ct")
    labels = write_label_nifti(phantom, out / "labels.nii.gz")
    return SeriesFiles(tuple(files), labels, dict(phantom.truth))


@pytest.fixture(scope="session")
def ct_series(tmp_path_factory: pytest.TempPathFactory) -> SeriesFiles:
    """A 10-slice 48x48 CT phantom: liver with one measurable lesion, and its label map."""
    return _write_phantom(tmp_path_factory.mktemp("phantom"), seed=11)


@pytest.fixture(scope="session")
def ct_series_b(tmp_path_factory: pytest.TempPathFactory) -> SeriesFiles:
    """A second phantom study (other UIDs)."""
    return _write_phantom(tmp_path_factory.mktemp("phantom_b"), seed=12)


def dicom_parts(paths: tuple[Path, ...] | list[Path]) -> list[tuple[str, tuple[str, bytes, str]]]:
    """Multipart ``files`` parts for DICOM files."""
    return [("files", (p.name, p.read_bytes(), "application/dicom")) for p in paths]


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The PostgreSQL server's URL; skipped with a reason when it is down (failed under CI)."""
    try:
        engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any connection failure means "server not available"
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true but unreachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {type(exc).__name__}")
    return PG_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh database (unique name) on the PostgreSQL server, dropped afterwards."""
    name = f"lb_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = postgres_admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        from app.db.session import dispose_engine

        dispose_engine(url)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def session_factory_for(settings: Settings) -> sessionmaker[Session]:
    """Sessions on the database of ``settings`` (for tests that edit rows behind the API)."""
    return make_session_factory(get_engine(settings.resolved_database_url))


ClientFactory = Callable[[str | None], httpx.Client]
