"""Reading what a request sends: JSON or form bodies, query strings, Frappe's ``data`` field.

Malformed JSON is a MalformedRequestError (400). A form whose body is really JSON (``curl -d
'{…}'`` sends one) is read as JSON, as Frappe does. The body size limit is enforced while the
body streams in (see ``docstream.api.limits``).
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.requests import Request

from docstream.errors import MalformedRequestError, ValidationError

_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"


def loads(text: str | bytes, what: str = "the request body") -> Any:
    """Strict JSON (no NaN/Infinity); anything else is a 400 naming ``what``."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc) or type(exc).__name__
        raise MalformedRequestError(f"{what} is not valid JSON: {detail}") from exc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


async def read_body(request: Request) -> Any:
    """The parsed body: a JSON value, a dict of form fields, or None when empty."""
    return (await _parse(request))[0]


async def _parse(request: Request) -> tuple[Any, bool]:
    """(the body, whether it came as form fields)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == _MULTIPART:
        return await _multipart(request), True
    body = await request.body()
    if not body.strip():
        return None, False
    if content_type == "application/json" or content_type.endswith("+json"):
        return loads(body), False
    if content_type not in ("", _FORM, "text/plain"):
        raise MalformedRequestError(f"unsupported content type {content_type!r}: send JSON or a form")
    if body.lstrip()[:1] in (b"{", b"["):
        try:
            return loads(body), False
        except MalformedRequestError:
            if content_type != _FORM:
                raise
    return _form(body), True


def _form(body: bytes) -> dict[str, str]:
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedRequestError(f"the form body can't be read: {exc}") from exc


async def _multipart(request: Request) -> dict[str, str]:
    try:
        form = await request.form()
    except (ValueError, AssertionError) as exc:
        raise MalformedRequestError(f"the multipart body can't be read: {exc}") from exc
    out: dict[str, str] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            raise ValidationError(f"file uploads are not supported here (field {key!r})", field=key)
        out[key] = value
    return out


async def method_args(request: Request) -> dict[str, Any]:
    """Arguments of a method call: the query string, then the body's fields over it."""
    args: dict[str, Any] = dict(request.query_params)
    body = await read_body(request) if request.method not in ("GET", "HEAD") else None
    if body is None:
        return args
    if not isinstance(body, dict):
        raise ValidationError("method arguments must be a JSON object or form fields")
    args.update(body)
    return args


async def document_body(request: Request) -> dict[str, Any]:
    """The document of a resource POST/PUT: a JSON object, or Frappe's field ``data`` holding one
    (a form field, or the only key of a JSON body)."""
    body, is_form = await _parse(request)
    if body is None:
        return {}
    if isinstance(body, dict) and "data" in body and (is_form or set(body) == {"data"}):
        body = body["data"]
        if isinstance(body, str):
            body = loads(body, "the data field") if body.strip() else {}
    if not isinstance(body, dict):
        raise ValidationError("the document must be a JSON object")
    body.pop("flags", None)
    return body


__all__ = ["document_body", "loads", "method_args", "read_body"]
