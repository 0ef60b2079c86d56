"""A request-body size limit enforced while the body streams in (pure ASGI middleware).

A declared ``Content-Length`` over the limit is refused before anything is read; a chunked body is
counted as it arrives and refused as soon as it passes the limit. Either way the client gets a
413 problem+json, and nothing of the body beyond the limit is buffered.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import PROBLEMS, UploadTooLargeError, problem_body

__all__ = ["BodySizeLimitMiddleware"]


class BodySizeLimitMiddleware:
    """Refuse request bodies larger than ``max_bytes`` with 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, int(declared))
            return
        seen = 0
        limit = self.max_bytes

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise UploadTooLargeError(
                        f"request body is larger than the limit of {limit} bytes"
                    )
            return message

        await self.app(scope, counting_receive, send)

    async def _refuse(self, send: Send, size: int) -> None:
        problem = PROBLEMS[UploadTooLargeError]
        body = problem_body(
            problem, f"request body of {size} bytes is over the limit of {self.max_bytes} bytes"
        )

        payload = json.dumps(body).encode("utf-8")
        headers: list[Any] = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(payload)).encode("ascii")),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": problem.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
