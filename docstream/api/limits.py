"""The request body limit (site setting ``max_body_size``), enforced before the body is read.

A declared ``Content-Length`` over the limit is refused at once (413) without reading a byte
of the body; a chunked body is counted as it streams in and refused the moment it passes
the limit, so no more than the limit is ever held in memory.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docstream.api.responses import error_response
from docstream.errors import MalformedRequestError, RequestTooLargeError


def too_large(limit: int) -> RequestTooLargeError:
    return RequestTooLargeError(
        f"the request body is larger than {limit} bytes, this site's limit (setting max_body_size)"
    )


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, site: Any) -> None:
        self.app = app
        self.site = site

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = int(self.site.settings["max_body_size"])
        declared = _content_length(scope)
        if isinstance(declared, Exception) or (declared is not None and declared > limit):
            exc = declared if isinstance(declared, Exception) else too_large(limit)
            response = error_response(exc, scope.get("state", {}).get("request_id"))
            response.headers["connection"] = "close"
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large(limit)
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | Exception | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return MalformedRequestError("the Content-Length header is not a number")
            return length if length >= 0 else MalformedRequestError("the Content-Length header is negative")
    return None
