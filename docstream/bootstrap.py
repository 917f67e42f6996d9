"""Installing a new site: the schema of the built-in DocTypes, roles, Administrator and Guest."""

from __future__ import annotations

import json
from typing import Any

from docstream.model.registry import BOOTSTRAP, bootstrap_metas, builtin_doctypes
from docstream.model.schema import sync_table


def install_site(site: Any, admin_password: str) -> None:
    db = site.db
    with db.transaction():
        db.sql('INSERT INTO "__meta_version" (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING')
        for meta in bootstrap_metas().values():
            sync_table(db, meta)
        session = site.session("Administrator", ignore_permissions=True, ignore_links=True)
        definitions = builtin_doctypes()
        for definition in sorted(definitions, key=builtin_order):
            session.insert({"doctype": "DocType", **json.loads(json.dumps(definition))})
        for role in sorted(roles_of(definitions)):
            session.insert({"doctype": "Role", "role_name": role})
        session.insert({
            "doctype": "User", "name": "Administrator", "email": "admin@example.com",
            "first_name": "Administrator", "new_password": admin_password,
            "roles": [{"role": "Administrator"}, {"role": "System Manager"}],
        })
        session.insert({"doctype": "User", "name": "Guest", "email": "guest@example.com", "first_name": "Guest",
                        "roles": [{"role": "Guest"}]})
        ensure_schema(site)


def ensure_schema(site: Any) -> None:
    """Internal tables of the streaming engine (cursors, consumer progress), extra indexes, and on
    PostgreSQL the sequence that numbers the update log, brought up to the log's head."""
    from docstream.streaming import SCHEMA, checkpoint, updatelog

    db = site.db
    with db.transaction():
        db.lock_key("docstream:schema")  # processes opening the site at once take turns
        for ddl in SCHEMA:
            db.sql(ddl)
        checkpoint.add_columns(db)
        for ddl in updatelog.schema(db):
            db.sql(ddl)
        updatelog.sync_sequence(db)


def builtin_order(definition: dict[str, Any]) -> tuple[bool, bool]:
    """The order built-in DocTypes are made in: the definitions' own tables first, child tables
    before the DocTypes that hold them."""
    return definition["name"] not in BOOTSTRAP, not definition.get("istable")


def roles_of(definitions: list[dict[str, Any]]) -> set[str]:
    roles = {"Administrator", "System Manager", "All", "Guest"}
    for definition in definitions:
        roles |= {p["role"] for p in definition.get("permissions", [])}
    return roles
