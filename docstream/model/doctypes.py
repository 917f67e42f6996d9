"""Importing DocType definitions (Frappe's JSON shape) at run time."""

from __future__ import annotations

from typing import Any

from docstream.errors import ValidationError
from docstream.model.documents import Session

_KEYS = ("module", "autoname", "istable", "is_submittable", "title_field", "sort_field", "sort_order", "keyed_by",
         "fields", "permissions")


def import_doctype(session: Session, definition: Any) -> list[str]:
    """Add or update one DocType, or each of a list; returns the names. All or nothing."""
    items = definition if isinstance(definition, list) else [definition]
    names = []
    with session.db.transaction():
        for item in items:
            if not isinstance(item, dict) or not item.get("name"):
                raise ValidationError("a DocType definition is a JSON object with a name")
            doc = {"doctype": "DocType", "name": item["name"], "custom": 1,
                   **{k: item[k] for k in _KEYS if k in item}}
            for table, child in (("fields", "DocField"), ("permissions", "DocPerm")):
                doc[table] = _known(session, child, doc.get(table) or [])
            if session.exists("DocType", item["name"]):
                old = session.get("DocType", item["name"])
                doc["custom"] = old.get("custom", 1)
                session.update("DocType", item["name"], doc)
            else:
                session.insert(doc)
            names.append(item["name"])
    return names


def _known(session: Session, child: str, rows: list[Any]) -> list[dict[str, Any]]:
    """Frappe exports carry many presentation keys we don't model (print_hide, columns, …): drop them."""
    meta = session.meta(child)
    if not all(isinstance(r, dict) for r in rows):
        raise ValidationError(f"{child} rows must be JSON objects")
    return [{k: v for k, v in r.items() if meta.has_field(k)} for r in rows]
