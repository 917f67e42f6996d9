"""The outermost layer of every request: its id, its log line, and the last-resort 500.

Each request gets an id (the client's ``X-Request-ID`` when it is sane, else a new one),
echoed in the response header. One log line per request on the logger
``docstream.requests``: id, method, path (never the query string, which may carry
credentials), status, milliseconds, user. What the client chose (the decoded path above all:
``%0A`` is a line feed) goes through :func:`one_line` first, so that a request can never write a
second, forged line. An unexpected exception is logged with its traceback here and answered with
a 500 that holds only the request id.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docstream.api.responses import error_response
from docstream.errors import DocstreamError

log = logging.getLogger("docstream.requests")
_ESCAPED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
REQUEST_ID_HEADER = "x-request-id"


def one_line(value: Any, *, backslashes: bool = True) -> str:
    """``value`` as text fit for one log line: every character that is not printable (CR, LF,
    tab, other control characters, Unicode line and paragraph separators) is written as an escape
    (``\\n``, ``\\x1b``, ``\\u2028``), so the text never spans two lines; so is a backslash
    (unless ``backslashes`` is false), so that an escape can't be mistaken for characters the
    client sent as such."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable() and (not backslashes or "\\" not in text):
        return text  # the common case
    return "".join(_escape(ch, backslashes) for ch in text)


def _escape(ch: str, backslashes: bool) -> str:
    if ch == "\\" and not backslashes:
        return ch
    if ch in _ESCAPED:
        return _ESCAPED[ch]
    if ch.isprintable():
        return ch
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def request_id_from(scope: Scope) -> str:
    for key, value in scope.get("headers", ()):
        if key == REQUEST_ID_HEADER.encode():
            text = value.decode("latin-1").strip()
            if _REQUEST_ID.match(text):
                return text
    return uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started, status = time.perf_counter(), [500, False]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0], status[1] = message["status"], True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != REQUEST_ID_HEADER.encode()]
                message = {**message, "headers": [*headers, (REQUEST_ID_HEADER.encode(), request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("request %s %s %s failed", request_id, one_line(scope.get("method")), one_line(scope.get("path")))
            if not status[1]:
                await _internal_error(scope, receive, send_with_id, request_id)
        finally:
            _log_request(scope, state, request_id, status[0], started)


async def _internal_error(scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
    response = error_response(DocstreamError("internal error"), request_id)
    await response(scope, receive, send)


def _log_request(scope: Scope, state: dict[str, Any], request_id: str, status: int, started: float) -> None:
    elapsed = (time.perf_counter() - started) * 1000
    log.info(
        "%s %s %s %s %.1fms user=%s", request_id, one_line(scope.get("method")), one_line(scope.get("path")),
        status, elapsed, one_line(state.get("user") or "-"),
    )
