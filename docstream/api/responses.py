"""JSON answers of the API: results, method replies with cookies, and errors in Frappe's shape."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import Response

from docstream import deepjson
from docstream.api.methods import Reply
from docstream.errors import DocstreamError

# cookies set at login besides the HttpOnly ``sid`` (Frappe's clients read them)
HTTP_ONLY_COOKIES = frozenset({"sid"})
_INTERNAL_STATUSES = frozenset({500})


class JSONResponse(Response):
    """JSON has no NaN or Infinity: they are sent as null rather than as an unparseable body. Any
    value can be answered, however deeply nested (``deepjson.dumps`` takes over from ``json``
    where its recursion would give up)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        text = deepjson.dumps(content, default=_default, nan_as_null=True, ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8")


def _default(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def json_response(payload: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(payload, status_code=status)


def error_payload(exc: DocstreamError, request_id: str | None) -> dict[str, Any]:
    """The JSON body for an error; a server-side fault says nothing but the request id."""
    if exc.http_status in _INTERNAL_STATUSES:
        exc = DocstreamError(f"internal error — quote request id {request_id} to the site's administrator")
    payload = exc.as_dict()
    # Frappe's clients look for ``exc`` (Frappe puts a traceback there; we never do) and show
    # ``_server_messages``
    payload["exc"] = json.dumps([payload["exception"]])
    payload["_server_messages"] = json.dumps([json.dumps({"message": exc.message, "indicator": "red"})])
    if request_id:
        payload["request_id"] = request_id
    return payload


def error_response(exc: DocstreamError, request_id: str | None) -> JSONResponse:
    return json_response(error_payload(exc, request_id), exc.http_status)


def method_response(result: Any, conn: HTTPConnection, cookie_max_age: int) -> JSONResponse:
    """``{"message": result}``; a :class:`Reply` adds its top-level keys and cookies."""
    if not isinstance(result, Reply):
        return json_response({"message": result})
    response = json_response({"message": result.message, **result.extra})
    secure = conn.url.scheme == "https"
    for name, value in result.cookies.items():
        if value is None:
            response.delete_cookie(name, path="/", httponly=name in HTTP_ONLY_COOKIES, samesite="lax")
        else:
            response.set_cookie(
                name, value, max_age=cookie_max_age, path="/", secure=secure,
                httponly=name in HTTP_ONLY_COOKIES, samesite="lax",
            )
    return response


__all__ = ["JSONResponse", "error_payload", "error_response", "json_response", "method_response"]
