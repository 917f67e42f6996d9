"""Importing DocType definitions (Frappe's JSON shape) at run time, and bringing the built-in
ones of a site up to this version's (``migrate``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from docstream.errors import ValidationError
from docstream.model.documents import Session
from docstream.model.meta import STD_FIELDS
from docstream.model.validation import normalise

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


@dataclass
class Migration:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)


def migrate(site: Any) -> Migration:
    """Bring the site's built-in DocTypes to this version's definitions (added, or updated where
    they differ; columns are added or converted, never dropped, so no data is lost), add the roles
    they name, and the engine's internal tables. All or nothing; a second run changes nothing.
    Custom Fields and the site's own DocTypes are not touched."""
    from docstream.bootstrap import builtin_order, ensure_schema, roles_of
    from docstream.model.registry import bootstrap_metas, builtin_doctypes
    from docstream.model.schema import sync_table

    db = site.db
    done = Migration()
    with db.transaction():
        db.lock_key("docstream:schema")
        for meta in bootstrap_metas().values():  # the tables the definitions themselves are stored in
            sync_table(db, meta)
        session = site.session("Administrator", ignore_permissions=True, ignore_links=True)
        definitions = builtin_doctypes()
        for definition in sorted(definitions, key=builtin_order):
            doc = {"doctype": "DocType", **json.loads(json.dumps(definition)), "custom": 0}
            if not session.exists("DocType", doc["name"]):
                session.insert(doc)
                done.added.append(doc["name"])
            elif _shape(session, session.get("DocType", doc["name"])) != _shape(session, doc):
                session.update("DocType", doc["name"], doc)
                done.updated.append(doc["name"])
        for role in sorted(roles_of(definitions)):
            if not session.exists("Role", role):
                session.insert({"doctype": "Role", "role_name": role})
                done.roles.append(role)
    ensure_schema(site)
    return done


def _shape(session: Session, doc: dict[str, Any]) -> Any:
    """What a DocType definition says, with defaults filled in: two that say the same compare equal
    however they were written (and whatever rows' names and timestamps)."""
    meta = session.meta("DocType")
    clean = normalise(meta, {k: v for k, v in doc.items() if k not in STD_FIELDS}, session.meta, True)
    clean.pop("custom", None)
    for table in ("fields", "permissions"):
        clean[table] = [{k: v for k, v in row.items() if k not in STD_FIELDS} for row in clean.get(table) or []]
    return clean


def _known(session: Session, child: str, rows: list[Any]) -> list[dict[str, Any]]:
    """Frappe exports carry many presentation keys we don't model (print_hide, columns, …): drop them."""
    meta = session.meta(child)
    if not all(isinstance(r, dict) for r in rows):
        raise ValidationError(f"{child} rows must be JSON objects")
    return [{k: v for k, v in r.items() if meta.has_field(k)} for r in rows]
