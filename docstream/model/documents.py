"""The Document layer: every read and write of a document goes through a Session.

A Session is a user acting on a site. Its methods check permissions, validate,
name, run the lifecycle hooks and write the rows, all inside one transaction:
a failed write changes nothing. The HTTP API, the web desk, the CLI and the
sync engine are all clients of this one layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from docstream.auth.permissions import ADMINISTRATOR, AUTOMATIC_ROLES, check_permission
from docstream.errors import (
    DocstatusError,
    DoesNotExistError,
    DuplicateEntryError,
    LinkExistsError,
    ValidationError,
)
from docstream.model import rows, validation
from docstream.model.meta import Meta
from docstream.model.naming import make_name
from docstream.model.query import order_clause, select_fields, where_clause
from docstream.model.schema import dynamic_link_fields, link_fields_to
from docstream.model.types import now
from docstream.storage import quote

if TYPE_CHECKING:
    from docstream.site import Site

MASK = "*" * 8
# logs keep pointing at what they describe after it is gone (as Frappe's ignore_links_on_delete)
IGNORE_LINKS_ON_DELETE = frozenset({"Event Sync Log", "Event Update Log"})


class Session:
    """A user acting on a site. ``flags`` carry context (``ignore_permissions``, ``origin``, …)."""

    def __init__(self, site: Site, user: str = ADMINISTRATOR, **flags: Any) -> None:
        self.site = site
        self.db = site.db
        self.user = user
        self.flags: dict[str, Any] = dict(flags)
        self._roles: frozenset[str] | None = None

    # -- who ----------------------------------------------------------------
    @property
    def roles(self) -> frozenset[str]:
        if self._roles is None:
            rows_ = self.db.sql(
                'SELECT role FROM "tabHas Role" WHERE parent = ? AND parenttype = ?', (self.user, "User"),
            )
            self._roles = frozenset(r["role"] for r in rows_) | AUTOMATIC_ROLES
            if self.user == ADMINISTRATOR:
                self._roles |= {"Administrator", "System Manager"}
        return self._roles

    def meta(self, doctype: str) -> Meta:
        return self.site.metas.get(doctype)

    def check(self, doctype: str | Meta, ptype: str, name: str | None = None) -> None:
        if self.flags.get("ignore_permissions"):
            return
        meta = doctype if isinstance(doctype, Meta) else self.meta(doctype)
        if meta.istable:
            raise ValidationError(f"{meta.name} is a child table: reach it through its parent", doctype=meta.name)
        check_permission(meta, self.user, self.roles, ptype, name)

    def as_user(self, user: str, **flags: Any) -> Session:
        return Session(self.site, user, **{**self.flags, **flags})

    # -- reads --------------------------------------------------------------
    def get(self, doctype: str, name: str, for_update: bool = False) -> dict[str, Any]:
        meta = self.meta(doctype)
        self.check(meta, "read", name)
        with self.db.transaction(write=for_update):  # the row and its child rows at one moment
            doc = rows.read(self.db, meta, str(name), self.meta, for_update=for_update)
        if doc is None:
            raise DoesNotExistError(f"{doctype} {name} not found", doctype=doctype, name=str(name))
        return doc

    def exists(self, doctype: str, name: str) -> bool:
        return rows.exists(self.db, self.meta(doctype), str(name))

    def get_list(
        self, doctype: str, fields: Any = None, filters: Any = None, order_by: str | None = None,
        limit_start: int = 0, limit_page_length: int | None = 20,
    ) -> list[dict[str, Any]]:
        meta = self.meta(doctype)
        self.check(meta, "read")
        columns = select_fields(meta, fields)
        where, params = where_clause(meta, filters, self.meta)
        query = (
            f"SELECT {', '.join('t.' + quote(c) for c in columns)} FROM {quote(meta.table_name)} t "
            f"WHERE {where} ORDER BY {order_clause(meta, order_by)}"
        )
        limit_start, limit = int(limit_start or 0), int(limit_page_length or 0)
        if limit_start < 0 or limit < 0:
            raise ValidationError("limit_start and limit_page_length can't be negative")
        if limit:
            query += f" LIMIT {limit} OFFSET {limit_start}"
        elif limit_start:
            query += f" LIMIT -1 OFFSET {limit_start}" if self.db.dialect == "sqlite" else f" OFFSET {limit_start}"
        out = [rows.to_doc(meta, r) for r in self.db.sql(query, params)]
        for doc in out:
            doc.pop("doctype", None)
        return out

    def count(self, doctype: str, filters: Any = None) -> int:
        meta = self.meta(doctype)
        self.check(meta, "read")
        where, params = where_clause(meta, filters, self.meta)
        return int(self.db.value(f"SELECT COUNT(*) AS n FROM {quote(meta.table_name)} t WHERE {where}", params))

    # -- writes -------------------------------------------------------------
    def insert(self, doc: dict[str, Any]) -> dict[str, Any]:
        meta = self.meta(_doctype(doc))
        with self.db.transaction():
            self.check(meta, "create")
            new = validation.normalise(meta, doc, self.meta, fill_defaults=True)
            if new["docstatus"] not in (0, 1) or (new["docstatus"] == 1 and not meta.is_submittable):
                raise DocstatusError(f"a new {meta.name} can't have docstatus {new['docstatus']}", doctype=meta.name)
            if new["docstatus"] == 1:
                self.check(meta, "submit")
            self._run("validate", new, None)
            new["name"] = make_name(self.db, meta, new)
            stamp = now()
            new.update(owner=self.user, creation=stamp, modified=stamp, modified_by=self.user)
            rows.stamp_children(meta, new, self.meta)
            self._validate(meta, new)
            self._run("before_insert", new, None)
            self._store_secrets(meta, new)
            if not rows.insert_new(self.db, meta, new, self.meta):
                raise DuplicateEntryError(f"{meta.name} {new['name']} already exists", doctype=meta.name, name=new["name"])
            self._run("after_insert", new, None)
            self._run("on_update", new, None)
            if new["docstatus"] == 1:
                self._run("on_submit", new, None)
            return self._output(new)

    def save(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Write a whole document over the stored one (Frappe's ``doc.save()``)."""
        meta = self.meta(_doctype(doc))
        if not doc.get("name"):
            return self.insert(doc)
        with self.db.transaction():
            old = self.get(meta.name, doc["name"], for_update=True)
            return self._save(meta, old, doc)

    def update(self, doctype: str, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change some fields (child tables are replaced as sent)."""
        meta = self.meta(doctype)
        with self.db.transaction():
            old = self.get(doctype, name, for_update=True)
            merged = {**old, **{k: v for k, v in changes.items() if k not in ("name", "doctype")}}
            return self._save(meta, old, merged)

    def submit(self, doctype: str, name: str) -> dict[str, Any]:
        return self.update(doctype, name, {"docstatus": 1})

    def cancel(self, doctype: str, name: str) -> dict[str, Any]:
        return self.update(doctype, name, {"docstatus": 2})

    def delete(self, doctype: str, name: str) -> None:
        meta = self.meta(doctype)
        with self.db.transaction():
            self.check(meta, "delete", name)
            doc = self.get(doctype, name, for_update=True)
            if doc.get("docstatus") == 1:
                raise DocstatusError(f"{doctype} {name} is submitted: cancel it before deleting", doctype=doctype, name=name)
            self._check_not_linked(meta, name)
            self._run("on_trash", doc, doc)
            rows.delete(self.db, meta, name, self.meta)
            self.site.secrets.forget(doctype, name)
            self._run("after_delete", doc, doc)

    # -- internals ----------------------------------------------------------
    def _save(self, meta: Meta, old: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
        self._check_timestamp(old, doc)
        new = validation.normalise(meta, doc, self.meta, fill_defaults=False)
        for key in ("name", "owner", "creation"):
            new[key] = old[key]
        for field in meta.value_fields:
            new.setdefault(field.fieldname, old.get(field.fieldname))
        event = self._transition(meta, old, new)
        self._run("validate", new, old)
        new.update(modified=now(), modified_by=self.user)
        rows.stamp_children(meta, new, self.meta)
        self._validate(meta, new)
        self._store_secrets(meta, new)
        rows.update(self.db, meta, new, self.meta)
        self._run("on_update", new, old)
        if event:
            self._run(event, new, old)
        return self._output(new)

    def _check_timestamp(self, old: dict[str, Any], doc: dict[str, Any]) -> None:
        sent = doc.get("modified")
        if sent and not self.flags.get("ignore_timestamp") and str(sent) != str(old.get("modified")) and sent is not old.get("modified"):
            raise ValidationError(
                f"{old['doctype']} {old['name']} has been modified after you opened it "
                f"({old.get('modified')} ≠ {sent}): reload it and try again",
                doctype=old["doctype"], name=old["name"], field="modified",
            )

    def _transition(self, meta: Meta, old: dict[str, Any], new: dict[str, Any]) -> str | None:
        before, after = int(old.get("docstatus") or 0), int(new.get("docstatus") or 0)
        name = old["name"]
        if not meta.is_submittable and after != 0:
            raise DocstatusError(f"{meta.name} is not submittable", doctype=meta.name, name=name)
        if (before, after) == (0, 0):
            self.check(meta, "write", name)
            return None
        if (before, after) == (0, 1):
            self.check(meta, "submit", name)
            return "on_submit"
        if (before, after) == (1, 2):
            self.check(meta, "cancel", name)
            if _changed_fields(meta, old, new) - {"docstatus"}:
                raise DocstatusError(f"{meta.name} {name}: a cancel can't change fields", doctype=meta.name, name=name)
            return "on_cancel"
        if before == 1 and after == 1:
            if _changed_fields(meta, old, new):
                raise DocstatusError(f"{meta.name} {name} is submitted and can't be changed: cancel it first", doctype=meta.name, name=name)
            self.check(meta, "write", name)
            return None
        if before == 2:
            raise DocstatusError(f"{meta.name} {name} is cancelled and can't be changed", doctype=meta.name, name=name)
        raise DocstatusError(f"{meta.name} {name}: docstatus can't go from {before} to {after}", doctype=meta.name, name=name)

    def _validate(self, meta: Meta, doc: dict[str, Any]) -> None:
        validation.check_mandatory(meta, doc, self.meta)
        validation.check_options(meta, doc, self.meta)
        if not self.flags.get("ignore_links"):
            validation.check_links(meta, doc, self.meta, self._link_exists)

    def _link_exists(self, doctype: str, name: Any) -> bool:
        if not self.site.metas.exists(doctype):
            return False
        return rows.exists(self.db, self.meta(doctype), str(name))

    def _check_not_linked(self, meta: Meta, name: str) -> None:
        metas = {n: m for n, m in self.site.metas.all().items() if n not in IGNORE_LINKS_ON_DELETE}
        for other, field in link_fields_to(metas, meta.name):
            self._raise_if_linked(meta, name, other, f"t.{quote(field)} = ?", [name])
        for other, field, dt_field in dynamic_link_fields(metas):
            self._raise_if_linked(meta, name, other, f"t.{quote(field)} = ? AND t.{quote(dt_field)} = ?", [name, meta.name])

    def _raise_if_linked(self, meta: Meta, name: str, other: Meta, cond: str, params: list[Any]) -> None:
        if other.istable:
            query = (f"SELECT t.parent AS name, t.parenttype AS doctype FROM {quote(other.table_name)} t "
                     f"WHERE {cond} AND t.docstatus < 2 AND NOT (t.parent = ? AND t.parenttype = ?) LIMIT 1")
            params = [*params, name, meta.name]
        else:
            query = (f"SELECT t.name AS name FROM {quote(other.table_name)} t WHERE {cond} AND t.docstatus < 2 "
                     f"AND NOT (t.name = ? AND ? = ?) LIMIT 1")
            params = [*params, name, other.name, meta.name]
        found = self.db.sql(query, params)
        if found:
            linked_type = found[0].get("doctype") or other.name
            raise LinkExistsError(
                f"cannot delete {meta.name} {name}: it is linked with {linked_type} {found[0]['name']}",
                doctype=meta.name, name=name,
            )

    def _store_secrets(self, meta: Meta, doc: dict[str, Any]) -> None:
        for field in meta.value_fields:
            if field.fieldtype != "Password":
                continue
            value = doc.get(field.fieldname)
            if value in (None, "") or value == MASK:
                continue
            self.site.secrets.store(meta.name, doc["name"], field.fieldname, str(value))
            doc[field.fieldname] = None if field.fieldname == "new_password" else MASK

    def _run(self, event: str, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
        self.site.hooks.run(event, self, doc, old)

    def _output(self, doc: dict[str, Any]) -> dict[str, Any]:
        return _copy(doc)


def _copy(value: Any) -> Any:
    """A deep copy of a document (JSON-shaped: dicts, lists and immutable scalars), several
    times faster than ``copy.deepcopy``, which pays for generality documents don't need."""
    if isinstance(value, dict):
        return {k: _copy(v) if isinstance(v, (dict, list)) else v for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) if isinstance(v, (dict, list)) else v for v in value]
    return value


def _doctype(doc: dict[str, Any]) -> str:
    doctype = doc.get("doctype") if isinstance(doc, dict) else None
    if not doctype or not isinstance(doctype, str):
        raise ValidationError("the document has no doctype")
    return doctype


def _changed_fields(meta: Meta, old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    changed = {f.fieldname for f in meta.value_fields if old.get(f.fieldname) != new.get(f.fieldname)}
    changed |= {f.fieldname for f in meta.table_fields if _strip(old.get(f.fieldname)) != _strip(new.get(f.fieldname))}
    if old.get("docstatus") != new.get("docstatus"):
        changed.add("docstatus")
    return changed


def _strip(table: Any) -> list[dict[str, Any]]:
    ignore = {"modified", "modified_by", "creation", "owner", "docstatus", "parent", "parentfield", "parenttype", "doctype"}
    return [{k: v for k, v in row.items() if k not in ignore} for row in table or []]
