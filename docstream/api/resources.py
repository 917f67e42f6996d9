"""``/api/resource/{doctype}[/{name}]``: documents over REST, as Frappe serves them.

Names may hold any character: the path is split on ``/`` *before* percent-decoding (from
the raw path), so ``/api/resource/Event%20Consumer/http%3A%2F%2Fstore1%3A8000`` names
``http://store1:8000``; an unencoded ``/`` in a name also works (the rest of the path is
the name), and a trailing ``/`` is ignored, as Frappe does.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from docstream.api import client_methods
from docstream.api.arguments import document_body
from docstream.api.methods import bind, get_method
from docstream.api.responses import json_response
from docstream.auth.masking import mask_document
from docstream.errors import DoesNotExistError, ValidationError
from docstream.model.documents import Session

PREFIX = "/api/resource/"
# Frappe's list URLs also take ``limit`` and ``start``
_LIST_ALIASES = {"limit": "limit_page_length", "start": "limit_start", "page_length": "limit_page_length"}


def resource_path(scope: dict[str, Any]) -> tuple[str, str | None]:
    """(doctype, name or None) from the raw request path, each decoded exactly once."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else scope["path"]
    path = path.split("?", 1)[0]
    rest = path[path.index(PREFIX) + len(PREFIX):] if PREFIX in path else ""
    doctype, _, name = rest.partition("/")
    doctype, name = _decode(doctype), _decode(name.removesuffix("/"))
    if not doctype:
        raise DoesNotExistError("say which DocType: /api/resource/{doctype}")
    return doctype, (name or None)


def _decode(part: str) -> str:
    return unquote(part, encoding="utf-8", errors="strict") if "%" in part else part


async def endpoint(request: Request) -> Response:
    try:
        doctype, name = resource_path(request.scope)
    except UnicodeDecodeError as exc:
        raise ValidationError("the path is not valid percent-encoded UTF-8") from exc
    session: Session = request.state.session
    method = request.method
    if name is None and method in ("GET", "HEAD"):
        args = _list_args(dict(request.query_params))
        return json_response({"data": await run_in_threadpool(list_documents, session, doctype, args)})
    if name is None and method == "POST":
        doc = await document_body(request)
        return json_response({"data": await run_in_threadpool(create_document, session, doctype, doc)})
    if name is not None and method in ("GET", "HEAD"):
        return json_response({"data": await run_in_threadpool(read_document, session, doctype, name)})
    if name is not None and method == "PUT":
        changes = await document_body(request)
        return json_response({"data": await run_in_threadpool(update_document, session, doctype, name, changes)})
    if name is not None and method == "DELETE":
        await run_in_threadpool(session.delete, doctype, name)
        return json_response({"message": "ok"}, status=202)
    allowed = "GET, POST" if name is None else "GET, PUT, DELETE"
    raise HTTPException(405, f"{method} is not allowed here: use {allowed}", headers={"Allow": allowed})


def _list_args(query: dict[str, Any]) -> dict[str, Any]:
    for alias, real in _LIST_ALIASES.items():
        if alias in query:
            value = query.pop(alias)
            query.setdefault(real, value)
    return query


def list_documents(session: Session, doctype: str, args: dict[str, Any]) -> list[Any]:
    kwargs = bind(get_method("frappe.client.get_list"), {**args, "doctype": doctype})
    return client_methods.get_list(session, **kwargs)


def read_document(session: Session, doctype: str, name: str) -> dict[str, Any]:
    return mask_document(session.meta, doctype, session.get(doctype, name))


def create_document(session: Session, doctype: str, doc: dict[str, Any]) -> dict[str, Any]:
    saved = session.insert({**{k: v for k, v in doc.items() if k != "doctype"}, "doctype": doctype})
    return mask_document(session.meta, doctype, saved)


def update_document(session: Session, doctype: str, name: str, changes: dict[str, Any]) -> dict[str, Any]:
    return mask_document(session.meta, doctype, session.update(doctype, name, changes))
