"""Behaviour of the built-in DocTypes: DocType and Custom Field change the schema at run time;
Sales Invoice computes its amounts; User checks its email, ends its sessions when its password
changes, and keeps the standard users (Administrator and Guest are never disabled nor deleted)."""

from __future__ import annotations

import re
from typing import Any

from docstream.auth.permissions import ADMINISTRATOR, GUEST
from docstream.auth.sessions import delete_user_sessions
from docstream.errors import ValidationError
from docstream.model.documents import MASK
from docstream.model.meta import FIELD_TYPES, STD_FIELDS, CHILD_STD_FIELDS, Meta
from docstream.model.schema import sync_table

_FIELDNAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
_DOCTYPE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9 _-]{0,60}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
RESERVED = set(STD_FIELDS) | set(CHILD_STD_FIELDS) | {"doctype"}
STANDARD_USERS = (ADMINISTRATOR, GUEST)
ADMIN_ROLES = ("Administrator", "System Manager")  # what a site is installed with (bootstrap)


def install(site: Any) -> None:
    hooks = site.hooks
    hooks.on("validate", "DocType")(validate_doctype)
    hooks.on("on_update", "DocType")(doctype_changed)
    hooks.on("on_trash", "DocType")(doctype_trashed)
    hooks.on("after_delete", "DocType")(lambda s, d, o: s.site.metas.bump())
    hooks.on("validate", "Custom Field")(validate_custom_field)
    hooks.on("on_update", "Custom Field")(custom_field_changed)
    hooks.on("after_delete", "Custom Field")(lambda s, d, o: s.site.metas.bump())
    hooks.on("validate", "Sales Invoice")(compute_invoice)
    hooks.on("validate", "User")(validate_user)
    hooks.on("on_trash", "User")(user_trashed)


def validate_doctype(session: Any, doc: dict[str, Any], old: Any) -> None:
    name = doc.get("name") or ""
    if not _DOCTYPE_NAME.match(name):
        raise ValidationError(f"invalid DocType name {name!r}", doctype="DocType", field="name")
    seen: set[str] = set()
    for row in doc.get("fields") or []:
        _check_field(session, row, f"DocType {name}")
        if row["fieldname"] in seen:
            raise ValidationError(f"DocType {name}: field {row['fieldname']!r} appears twice", doctype="DocType", field="fields")
        seen.add(row["fieldname"])
    _check_keyed_by(session, doc, old)
    if old is not None and session.site.metas.exists(name):
        _check_no_type_change(session.meta(name), doc)


def _check_keyed_by(session: Any, doc: dict[str, Any], old: Any) -> None:
    key, name = doc.get("keyed_by") or "", doc.get("name")
    if old is not None and key != (old.get("keyed_by") or ""):
        raise ValidationError(f"DocType {name}: keyed_by is set when the DocType is created and can't change",
                              doctype="DocType", field="keyed_by")
    if not key:
        return
    field = next((r for r in doc.get("fields") or [] if r.get("fieldname") == key), None)
    if field is None or field.get("fieldtype") != "Int" or doc.get("istable"):
        raise ValidationError(f"DocType {name}: keyed_by must name an Int field of a DocType that is not a child table",
                              doctype="DocType", field="keyed_by")
    if (doc.get("autoname") or "").replace(" ", "") != f"field:{key}":
        raise ValidationError(f"DocType {name}: a DocType keyed_by {key} is named by it: autoname must be field:{key}",
                              doctype="DocType", field="autoname")


def _check_field(session: Any, row: dict[str, Any], where: str) -> None:
    fieldname, fieldtype = row.get("fieldname") or "", row.get("fieldtype") or "Data"
    if not _FIELDNAME.match(fieldname) or fieldname in RESERVED:
        raise ValidationError(f"{where}: {fieldname!r} is not a valid field name (lower case, digits, _; not a standard field)", field="fieldname")
    if fieldtype not in FIELD_TYPES:
        raise ValidationError(f"{where}: unknown field type {fieldtype!r}", field="fieldtype")
    if fieldtype in ("Link", "Table", "Table MultiSelect") and not row.get("options"):
        raise ValidationError(f"{where}: {fieldname} ({fieldtype}) needs the target DocType in options", field="options")
    if fieldtype in ("Table", "Table MultiSelect") and session.site.metas.exists(row["options"]):
        if not session.meta(row["options"]).istable:
            raise ValidationError(f"{where}: {row['options']} is not a child table", field="options")


def _check_no_type_change(meta: Meta, doc: dict[str, Any]) -> None:
    for row in doc.get("fields") or []:
        old = meta.get_field(row["fieldname"])
        if old and not old.is_custom and old.has_value and old.fieldtype != row.get("fieldtype") and \
                old.is_table != (row.get("fieldtype") in ("Table", "Table MultiSelect")):
            raise ValidationError(f"{meta.name}.{row['fieldname']}: can't change a table field into a value field or back")


def doctype_changed(session: Any, doc: dict[str, Any], old: Any) -> None:
    sync_table(session.db, Meta.from_dict(doc))
    metas = session.site.metas
    metas.bump()
    sync_table(session.db, metas.get(doc["name"]))


def doctype_trashed(session: Any, doc: dict[str, Any], old: Any) -> None:
    if not doc.get("custom"):
        raise ValidationError(f"DocType {doc['name']} is built in and can't be deleted", doctype="DocType", name=doc["name"])
    meta = session.meta(doc["name"])
    if session.db.value(f'SELECT COUNT(*) FROM "{meta.table_name}"'):
        raise ValidationError(f"DocType {doc['name']} still has documents: delete them first", doctype="DocType", name=doc["name"])


def validate_custom_field(session: Any, doc: dict[str, Any], old: Any) -> None:
    meta = session.meta(doc["dt"])
    _check_field(session, doc, f"Custom Field on {doc['dt']}")
    existing = meta.get_field(doc["fieldname"])
    if existing and not existing.is_custom:
        raise ValidationError(f"{doc['dt']} already has a field {doc['fieldname']!r}", doctype="Custom Field", field="fieldname")
    if meta.istable is None:
        raise ValidationError("unreachable")


def custom_field_changed(session: Any, doc: dict[str, Any], old: Any) -> None:
    metas = session.site.metas
    metas.bump()
    sync_table(session.db, metas.get(doc["dt"]))


def compute_invoice(session: Any, doc: dict[str, Any], old: Any) -> None:
    total = 0.0
    for row in doc.get("items") or []:
        row["qty"] = float(row.get("qty") if row.get("qty") is not None else 1)
        row["rate"] = float(row.get("rate") or 0)
        row["amount"] = round(row["qty"] * row["rate"], 2)
        total += row["amount"]
    doc["grand_total"] = round(total, 2)


def validate_user(session: Any, doc: dict[str, Any], old: Any) -> None:
    email = doc.get("email") or ""
    if old is None and not doc.get("name"):
        doc["name"] = email.strip().lower()
    if doc.get("name") not in STANDARD_USERS and not _EMAIL.match(email):
        raise ValidationError(f"{email!r} is not a valid email address", doctype="User", field="email")
    if old is not None and doc["name"] in STANDARD_USERS:
        _check_standard_user(doc)
    if old is not None and doc.get("new_password") not in (None, "", MASK):
        _end_sessions(session, doc["name"])


def _check_standard_user(doc: dict[str, Any]) -> None:
    """Administrator and Guest stay enabled, and Administrator keeps its roles (as in Frappe)."""
    name = doc["name"]
    if not doc.get("enabled"):
        raise ValidationError(f"User {name} is a standard user and can't be disabled", doctype="User", name=name, field="enabled")
    kept = {row.get("role") for row in doc.get("roles") or []}
    for role in ADMIN_ROLES if name == ADMINISTRATOR else ():
        if role not in kept:
            raise ValidationError(f"User {name} must keep the role {role}", doctype="User", name=name, field="roles")


def user_trashed(session: Any, doc: dict[str, Any], old: Any) -> None:
    if doc["name"] in STANDARD_USERS:
        raise ValidationError(f"User {doc['name']} is a standard user and can't be deleted", doctype="User", name=doc["name"])


def _end_sessions(session: Any, user: str) -> None:
    """The password of ``user`` changes: their login sessions end (in the write's transaction),
    but the one making the change if it is theirs, as in Frappe."""
    delete_user_sessions(session.site, user, keep_sid=session.flags.get("sid") if session.user == user else None)
