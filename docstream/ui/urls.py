"""Desk URLs, as in Frappe: ``/app/{slug}`` lists, ``/app/{slug}/new``, ``/app/{slug}/{name}`` forms.

Names may hold any character (Event Producers are named by URLs), so a name is always
percent-encoded whole in a link (``/`` and ``:`` included) and decoded by the router.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from docstream.errors import DoesNotExistError
from docstream.model.meta import Meta, slug

DASHBOARD = "/app/event-streaming"
ASSETS = "/assets/docstream"


def list_url(doctype: str, **params: Any) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"/app/{slug(doctype)}" + (f"?{query}" if query else "")


def doc_url(doctype: str, name: Any) -> str:
    return f"/app/{slug(doctype)}/{quote(str(name), safe='')}"


def new_url(doctype: str) -> str:
    return f"/app/{slug(doctype)}/new"


def meta_for_slug(metas: dict[str, Meta], value: str) -> Meta:
    """The DocType a URL slug names (``event-sync-log`` → Event Sync Log)."""
    for name, meta in metas.items():
        if slug(name) == value:
            return meta
    raise DoesNotExistError(f"no DocType at /app/{value}", doctype="DocType", name=value)


def safe_redirect(target: str | None, default: str = "/app") -> str:
    """Only paths on this site: never another host (``//evil`` or ``http://…``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


__all__ = ["ASSETS", "DASHBOARD", "doc_url", "list_url", "meta_for_slug", "new_url", "safe_redirect"]
