"""Exception handlers: every error leaves as RFC 9457 problem+json (app.errors has the table).

Unknown exceptions answer 500 with a reference id; the traceback goes to the log only. They are
answered by :class:`UnexpectedErrorMiddleware`, which does not re-raise (Starlette's own 500 handler
re-raises into the server, which then drops the client's keep-alive connection). An
:class:`OSError` meaning "no room" (disk full, quota, file size limit) raised outside the blob store
-- spooling an upload to a temporary file -- answers 507 like the blob store's own
:class:`~app.errors.InsufficientStorageError`, without the error's file name. A value the
database refuses to store or compare (:class:`sqlalchemy.exc.DataError`: a NUL character in text,
a number out of a column's range) is a 422 problem, without the statement or its parameters.
"""

from __future__ import annotations

import errno
import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import (
    INTERNAL,
    PROBLEMS,
    InsufficientStorageError,
    InvalidRequestError,
    Problem,
    problem_body,
    problem_for,
)

__all__ = [
    "PROBLEM_JSON",
    "UnexpectedErrorMiddleware",
    "install_problem_handlers",
    "problem_response",
]

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_HTTP_TITLES = {
    400: "Bad request",
    401: "Missing or invalid API key",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Upload too large",
    415: "Unsupported media type",
    422: "Invalid request",
}


def problem_response(problem: Problem, detail: str, **extra: Any) -> JSONResponse:
    """A problem+json response."""
    headers = {"WWW-Authenticate": "Bearer"} if problem.status == 401 else None
    return JSONResponse(
        problem_body(problem, detail, **extra),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _mapped(request: Request, exc: Exception) -> JSONResponse:
    problem = problem_for(exc)
    if problem is INTERNAL:
        return _internal(request, exc)
    logger.info("%s %s -> %d %s", request.method, request.url.path, problem.status, problem.slug)
    return problem_response(problem, str(exc))


_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def _os_error(request: Request, exc: Exception) -> JSONResponse:
    """No room (disk full, quota, file size limit) is a 507; any other OSError a 500."""
    if isinstance(exc, OSError) and exc.errno in _NO_ROOM:
        logger.warning("%s %s -> 507: %s", request.method, request.url.path, exc.strerror)
        return problem_response(
            PROBLEMS[InsufficientStorageError],
            "the server has no room to store this request; nothing more was stored, "
            "send it again later",
        )
    return _internal(request, exc)


def _data_error(request: Request, exc: Exception) -> JSONResponse:
    """The database refused a value of the request (PostgreSQL is stricter than SQLite)."""
    logger.info("%s %s -> 422: the database refused a value", request.method, request.url.path)
    return problem_response(
        PROBLEMS[InvalidRequestError],
        "a value of the request cannot be stored or searched (a NUL character in text, or a "
        "number out of range); expected printable text and integers of at most 32 bits",
    )


def _logged_internal(method: str, path: str, exc: BaseException) -> JSONResponse:
    """Log ``exc`` with a new reference id; the 500 problem that names the reference."""
    ref = uuid.uuid4().hex[:12]
    logger.error("unhandled error on %s %s (reference %s)", method, path, ref, exc_info=exc)
    return problem_response(INTERNAL, f"an unexpected error occurred; reference {ref}")


def _internal(request: Request, exc: Exception) -> JSONResponse:
    return _logged_internal(request.method, request.url.path, exc)


class UnexpectedErrorMiddleware:
    """An exception no handler took answers one 500 problem, and the connection stays usable.

    Pure ASGI, the outermost of the service's middleware. When the response has already started
    (a stream that failed half-way) nothing can be replaced: the error is logged and the server
    ends that response.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            response = _logged_internal(scope.get("method", "?"), scope.get("path", "?"), exc)
            if not started:
                await response(scope, receive, send)


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    slug = _HTTP_TITLES.get(status, "http-error").lower().replace(" ", "-")
    problem = Problem(status, slug, _HTTP_TITLES.get(status, "HTTP error"))
    response = problem_response(problem, str(exc.detail))
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    if status == 405:
        # Starlette names the methods of the first route whose path matched; the resource has
        # every route of that path (RFC 9110 section 15.5.6: Allow lists all it supports)
        response.headers["Allow"] = ", ".join(_allowed_methods(request))
    return response


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route of this request's path answers (asked of the router itself,
    method by method: included routers and prefixes are its business)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    detail = f"{'.'.join(first['loc'])}: {first['msg']}"
    problem = Problem(422, "invalid-request", "Invalid request")
    return problem_response(problem, detail, errors=errors)


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers: the mapped domain errors, HTTP errors, validation, the rest."""
    for cls in PROBLEMS:
        if issubclass(cls, Exception):
            app.add_exception_handler(cls, _mapped)
    app.add_exception_handler(OSError, _os_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Exception, _internal)
