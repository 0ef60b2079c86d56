"""The API key and the role are checked before a route reads its request body (ASGI middleware).

FastAPI reads and parses a route's body -- JSON, or a multipart form spooled to disk -- *before*
it solves the route's dependencies. With the ``require(...)`` dependency alone a caller without a
key could make the server parse and spool a body, and a malformed body would be answered 400/422
instead of 401/403 (contracts/http.md: 401 without a valid key, 403 when the role may not).

This middleware finds the route a request is for; when that route declares a permission with
:func:`app.api.deps.require` it authenticates the key and checks the role first, and answers the
401/403 problem+json before one byte of the body is read. The principal is left in the request
state, where :func:`app.api.deps.get_principal` picks it up (one key lookup per request). Public
routes (``/healthz``, ``/docs``, ``/openapi.json``) and unknown paths pass through unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.deps import required_permission
from app.api.problems import problem_response
from app.auth.keys import Permission, Principal, authenticate, check_permission
from app.errors import AppError, problem_for

__all__ = ["AuthFirstMiddleware"]


def _flat_routes(routes: Iterable[BaseRoute]) -> Iterator[Any]:
    """Every route, included routers expanded (FastAPI >= 0.160 keeps them nested)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: included routes are flat already
        yield from routes
        return
    yield from iter_route_contexts(list(routes))


def _permissions(route: Any) -> tuple[Permission, ...]:
    """The permissions a route's ``require`` dependencies check (any depth)."""
    dependant = getattr(getattr(route, "original_route", route), "dependant", None)
    found: list[Permission] = []
    stack = [dependant] if dependant is not None else []
    while stack:
        dep = stack.pop()
        permission = required_permission(dep.call)
        if permission is not None:
            found.append(permission)
        stack.extend(dep.dependencies)
    return tuple(found)


class AuthFirstMiddleware:
    """Answer 401/403 for protected routes before the route (and its body parsing) runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._table: list[tuple[Any, tuple[Permission, ...]]] | None = None
        self._lock = threading.Lock()

    def _routes(self, scope: Scope) -> list[tuple[Any, tuple[Permission, ...]]]:
        if self._table is None:  # routes are complete once the first request arrives
            with self._lock:
                if self._table is None:
                    routes = _flat_routes(scope["app"].router.routes)
                    self._table = [(r, p) for r in routes if (p := _permissions(r))]
        return self._table

    def _required(self, scope: Scope) -> tuple[Permission, ...]:
        for route, permissions in self._routes(scope):
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return permissions
        return ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "app" not in scope:
            await self.app(scope, receive, send)
            return
        # Authentication only reads: the read-only sessions do not queue behind writers.
        factory = getattr(scope["app"].state, "read_session_factory", None)
        permissions = self._required(scope) if factory is not None else ()
        if not permissions:
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope.get("headers") or ():
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        try:
            principal = await run_in_threadpool(_authenticate, factory, header)
            for permission in permissions:
                check_permission(principal, permission)
        except AppError as exc:
            response = problem_response(problem_for(exc), str(exc))
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def _authenticate(factory: Any, header: str | None) -> Principal:
    with factory() as session:
        try:
            return authenticate(session, header)
        finally:
            session.rollback()
