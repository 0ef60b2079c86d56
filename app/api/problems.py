"""Exception handlers: every error leaves as RFC 9457 problem+json (app.errors has the table).

Unknown exceptions answer 500 with a reference id; the traceback goes to the log only. An
:class:`OSError` meaning "no room" (disk full, quota, file size limit) raised outside the blob store
-- spooling an upload to a temporary file -- answers 507 like the blob store's own
:class:`~app.errors.InsufficientStorageError`, without the error's file name.
"""

from __future__ import annotations

import errno
import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.errors import (
    INTERNAL,
    PROBLEMS,
    InsufficientStorageError,
    Problem,
    problem_body,
    problem_for,
)

__all__ = ["PROBLEM_JSON", "install_problem_handlers", "problem_response"]

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


def _internal(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, OSError) and exc.errno in _NO_ROOM:
        logger.warning("%s %s -> 507: %s", request.method, request.url.path, exc.strerror)
        return problem_response(
            PROBLEMS[InsufficientStorageError],
            "the server has no room to store this request; nothing more was stored, "
            "send it again later",
        )
    ref = uuid.uuid4().hex[:12]
    logger.error(
        "unhandled error on %s %s (reference %s)",
        request.method,
        request.url.path,
        ref,
        exc_info=exc,
    )
    return problem_response(INTERNAL, f"an unexpected error occurred; reference {ref}")


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    slug = _HTTP_TITLES.get(status, "http-error").lower().replace(" ", "-")
    problem = Problem(status, slug, _HTTP_TITLES.get(status, "HTTP error"))
    response = problem_response(problem, str(exc.detail))
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


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
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Exception, _internal)
