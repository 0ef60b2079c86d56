"""FastAPI dependencies: settings, database session, blob store, and the caller's permission.

Every route but ``/healthz`` takes ``Annotated[Principal, Depends(require(Permission.X))]``: a
missing or bad key is a 401 problem, a role without ``X`` a 403 problem (app.auth.keys).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from app.auth.keys import Permission, Principal, authenticate, check_permission
from app.jobs.engine import JobEngine
from app.settings import Settings
from app.store.blobs import BlobStore

__all__ = [
    "SQL_INT_MAX",
    "BlobsDep",
    "JobsDep",
    "ReadSessionDep",
    "SessionDep",
    "SettingsDep",
    "require",
    "required_permission",
]

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer lbk_...`")


def get_settings_dep(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A write session for one request; rolled back unless the route committed."""
    session: Session = request.app.state.session_factory()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def read_session_factory(state: Any) -> sessionmaker[Session]:
    """The app's read-only session factory (see :mod:`app.db.session`)."""
    factory: sessionmaker[Session] = state.read_session_factory
    return factory


def get_read_session(request: Request) -> Iterator[Session]:
    """A read-only session for one request (routes that never write, not even an audit event).

    On SQLite it does not wait for the write lock: readers are not queued behind writers.
    """
    session = read_session_factory(request.app.state)()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def get_blobstore(request: Request) -> BlobStore:
    """The blob store."""
    blobs: BlobStore = request.app.state.blobstore
    return blobs


def get_jobs(request: Request) -> JobEngine:
    """The job engine."""
    jobs: JobEngine = request.app.state.jobs
    return jobs


#: Upper bound of integer query parameters that reach SQL: an SQL INTEGER (PostgreSQL's int4);
#: larger values overflow the driver or the column type (500 instead of a 422 problem).
SQL_INT_MAX = 2**31 - 1

SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
BlobsDep = Annotated[BlobStore, Depends(get_blobstore)]
JobsDep = Annotated[JobEngine, Depends(get_jobs)]


def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller of a valid API key (its own short session, closed before the route runs).

    :class:`app.api.authfirst.AuthFirstMiddleware` has usually checked the key already, before
    the body was read; its principal is reused then.
    """
    checked = getattr(request.state, "principal", None)
    if isinstance(checked, Principal):
        return checked
    header = None if credentials is None else f"{credentials.scheme} {credentials.credentials}"
    with read_session_factory(request.app.state)() as session:
        try:
            return authenticate(session, header)
        finally:
            session.rollback()


#: The permission each :func:`require` dependency checks (read by app.api.authfirst).
_REQUIRED: dict[object, Permission] = {}


def require(permission: Permission) -> Callable[..., Principal]:
    """A dependency that authenticates and checks one permission."""

    def _dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        check_permission(principal, permission)
        return principal

    _dependency.__name__ = f"require_{permission.value}"
    _REQUIRED[_dependency] = permission
    return _dependency


def required_permission(dependency: object) -> Permission | None:
    """The permission a dependency made by :func:`require` checks; None for anything else."""
    try:
        return _REQUIRED.get(dependency)
    except TypeError:  # unhashable callables are no require() dependency
        return None
