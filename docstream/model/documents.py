"""The Document layer: every read and write of a document goes through a Session.

A Session is a user acting on a site. Its methods check permissions, validate,
name, run the lifecycle hooks and write the rows, all inside one transaction:
a failed write changes nothing. The HTTP API, the web desk, the CLI and the
sync engine are all clients of this one layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from docstream.auth.permissions import ADMINISTRATOR, AUTOMATIC_ROLES, check_permission
from docstream.errors import (
    DocstatusError,
    DocstreamError,
    DoesNotExistError,
    DuplicateEntryError,
    LinkExistsError,
    ValidationError,
)
from docstream.model import rows, validation
from docstream.model.meta import Meta
from docstream.model.naming import Counters, make_name, uses_counters
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
            self.know_roles(r["role"] for r in rows_)
        return self._roles  # type: ignore[return-value]

    def know_roles(self, roles: Iterable[str]) -> None:
        """The user's roles (Has Role), read by the caller with something else: not read again."""
        known = frozenset(roles) | AUTOMATIC_ROLES
        self._roles = known | {"Administrator", "System Manager"} if self.user == ADMINISTRATOR else known

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
        if not (for_update or meta.table_fields):  # one row, one statement: atomic by itself
            doc = rows.read(self.db, meta, str(name), self.meta)
        else:
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
            new = self._new(meta, doc)
            new["name"] = make_name(self.db, meta, new)
            self._stamp(meta, new)
            self._validate(meta, new)
            self._before_write(meta, new)
            if not rows.insert_new(self.db, meta, new, self.meta):
                raise _duplicate(meta, new["name"])
            return self._after_insert(new)

    def insert_many(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert ``docs`` as ``insert`` would one after another in one transaction (the same
        checks, hooks, names and results; a failure anywhere changes nothing and names the
        document), but write each table's rows with one ``executemany`` and draw names, check
        names and check links with a statement per batch, not per document."""
        if not isinstance(docs, list):
            raise ValidationError("insert_many takes a list of documents")
        batch = _Batch(self, len(docs))
        try:
            with self.db.transaction():
                out = [out for start, stop in _runs(docs, batch) for out in self._insert_run(docs, start, stop, batch)]
                batch.at = None  # the commit is no one document's
            return out
        except DocstreamError as exc:
            raise batch.locate(exc) from exc

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
    def _new(self, meta: Meta, doc: dict[str, Any]) -> dict[str, Any]:
        """A new document from input: normalised, its docstatus allowed, ``validate`` run."""
        new = validation.normalise(meta, doc, self.meta, fill_defaults=True)
        self._check_read_only(meta, doc, new, None)
        if new["docstatus"] not in (0, 1) or (new["docstatus"] == 1 and not meta.is_submittable):
            raise DocstatusError(f"a new {meta.name} can't have docstatus {new['docstatus']}", doctype=meta.name)
        if new["docstatus"] == 1:
            self.check(meta, "submit")
        self._run("validate", new, None)
        return new

    def _stamp(self, meta: Meta, new: dict[str, Any]) -> None:
        stamp = now()
        new.update(owner=self.user, creation=stamp, modified=stamp, modified_by=self.user)
        rows.stamp_children(meta, new, self.meta)

    def _before_write(self, meta: Meta, new: dict[str, Any]) -> None:
        self._run("before_insert", new, None)
        self._store_secrets(meta, new)

    def _after_insert(self, new: dict[str, Any]) -> dict[str, Any]:
        self._run("after_insert", new, None)
        self._run("on_update", new, None)
        if new["docstatus"] == 1:
            self._run("on_submit", new, None)
        return self._output(new)

    def _insert_run(self, docs: list[dict[str, Any]], start: int, stop: int, batch: _Batch) -> list[dict[str, Any]]:
        """``insert`` for ``docs[start:stop]``, all of one DocType, each step for every document
        before the next step (so that names, links and rows go to the database once per step)."""
        batch.at = start
        meta = self.meta(docs[start]["doctype"])
        self.check(meta, "create")
        news = [self._new(meta, doc) for doc in batch.each(docs[start:stop], start)]
        counters = Counters(self.db)
        if uses_counters(meta):
            for new in batch.each(news, start):
                counters.expect(meta, new)
        for new in batch.each(news, start):
            new["name"] = make_name(self.db, meta, new, counters.draw)
            self._stamp(meta, new)
            self._validate(meta, new, batch.links.record)
        batch.links.check(meta, news, start)
        for new in batch.each(news, start):
            self._before_write(meta, new)
        self._check_new_names(meta, news, start, batch)
        batch.at = None  # a failure now is no one document's
        rows.insert_many(self.db, meta, news, self.meta)
        return [self._after_insert(new) for new in batch.each(news, start)]

    def _check_new_names(self, meta: Meta, news: list[dict[str, Any]], start: int, batch: _Batch) -> None:
        """No name of the batch is taken, nor given twice in it (one query per 500 names)."""
        taken = rows.existing_names(self.db, meta, (new["name"] for new in news))
        seen: set[Any] = set()
        for new in batch.each(news, start):
            if new["name"] in taken or new["name"] in seen:
                raise _duplicate(meta, new["name"])
            seen.add(new["name"])

    def _save(self, meta: Meta, old: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
        self._check_timestamp(old, doc)
        new = validation.normalise(meta, doc, self.meta, fill_defaults=False)
        for key in ("name", "owner", "creation"):
            new[key] = old[key]
        if meta.named_by_key:  # the key is the name: it stays too
            new[meta.keyed_by] = old[meta.keyed_by]
        for field in meta.value_fields:
            new.setdefault(field.fieldname, old.get(field.fieldname))
        self._check_read_only(meta, doc, new, old)
        event = self._transition(meta, old, new)
        self._run("validate", new, old)
        new.update(modified=now(), modified_by=self.user)
        rows.stamp_children(meta, new, self.meta)
        self._validate(meta, new)
        self._store_secrets(meta, new, old)
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

    def _check_read_only(self, meta: Meta, sent: dict[str, Any], new: dict[str, Any], old: dict[str, Any] | None) -> None:
        """A client's write (flag ``from_client``, set for HTTP requests) can't set read-only
        fields; the system's writes (the CLI, the sync engine, ``ignore_permissions``) can."""
        if self.flags.get("from_client") and not self.flags.get("ignore_permissions"):
            validation.check_read_only(meta, sent, new, old, self.meta)

    def _validate(self, meta: Meta, doc: dict[str, Any], link_exists: Any = None) -> None:
        validation.check_mandatory(meta, doc, self.meta)
        validation.check_options(meta, doc, self.meta)
        if not self.flags.get("ignore_links"):
            validation.check_links(meta, doc, self.meta, link_exists or self._link_exists)

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

    def _store_secrets(self, meta: Meta, doc: dict[str, Any], old: dict[str, Any] | None = None) -> None:
        """Password values go to the site's secrets and a mask to the column, the document's own
        and its child rows' alike (a row's are kept under the document, so they go with it); the
        secrets of child rows the write removes are forgotten."""
        self._store_row_secrets(meta, doc, meta.name, doc["name"], "")
        for field in meta.table_fields:
            child = self.meta(field.options)
            if not child.password_fields:
                continue
            for row in doc.get(field.fieldname) or []:
                self._store_row_secrets(child, row, meta.name, doc["name"], f"{field.fieldname}.{row['name']}.")
            kept = {row["name"] for row in doc.get(field.fieldname) or []}
            for row in (old or {}).get(field.fieldname) or []:
                if row["name"] not in kept:
                    self.site.secrets.forget(meta.name, doc["name"], [
                        f"{field.fieldname}.{row['name']}.{f.fieldname}" for f in child.password_fields])

    def _store_row_secrets(self, meta: Meta, row: dict[str, Any], doctype: str, name: str, prefix: str) -> None:
        for field in meta.password_fields:
            value = row.get(field.fieldname)
            if value in (None, "") or value == MASK:
                continue
            self.site.secrets.store(doctype, name, prefix + field.fieldname, str(value))
            row[field.fieldname] = None if field.fieldname == "new_password" and not prefix else MASK

    def _run(self, event: str, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
        self.site.hooks.run(event, self, doc, old)

    def _output(self, doc: dict[str, Any]) -> dict[str, Any]:
        return _copy(doc)


def _copy(value: Any) -> Any:
    """A deep copy of a document (JSON-shaped: dicts, lists and immutable scalars), several
    times faster than ``copy.deepcopy``, which pays for generality documents don't need."""
    if isinstance(value, dict):
        out = value.copy()
        for key, item in out.items():
            if isinstance(item, (dict, list)):
                out[key] = _copy(item)  # replacing a value while iterating is safe (no key changes)
        return out
    if isinstance(value, list):
        return [_copy(v) if isinstance(v, (dict, list)) else v for v in value]
    return value


class _Batch:
    """Where ``insert_many`` is (the document an error belongs to) and the links it checks."""

    def __init__(self, session: Session, size: int) -> None:
        self.size = size
        self.at: int | None = None
        self.links = _Links(session, self)

    def each(self, items: list[dict[str, Any]], start: int) -> Iterator[dict[str, Any]]:
        for self.at, item in enumerate(items, start):
            yield item

    def locate(self, exc: DocstreamError) -> DocstreamError:
        """The error, saying which document of the batch it is about."""
        if self.at is None:
            return exc
        where = f"document {self.at + 1} of {self.size}"
        try:
            located = type(exc)(f"{where}: {exc.message}", doctype=exc.doctype, name=exc.name, field=exc.field)
        except TypeError:  # a subclass with a constructor of its own: keep it as it is
            return exc
        located.index = self.at  # type: ignore[attr-defined]
        return located


class _Links:
    """The Link and Dynamic Link values of a batch, checked with one query per target DocType
    (per 500 values) instead of one per value; targets found are remembered for the batch."""

    def __init__(self, session: Session, batch: _Batch) -> None:
        self.session = session
        self.batch = batch
        self.found: dict[str, set[str]] = {}
        self.wanted: dict[str, set[str]] = {}
        self.linking: list[int] = []  # the documents that have links to check

    def record(self, target: str, value: Any) -> bool:
        """``check_links``' look-up for the batch: note the value, check it later."""
        self.wanted.setdefault(target, set()).add(str(value))
        if not self.linking or self.linking[-1] != self.batch.at:
            self.linking.append(self.batch.at)  # type: ignore[arg-type]
        return True

    def check(self, meta: Meta, news: list[dict[str, Any]], start: int) -> None:
        """Raise as ``insert`` would for the first document whose link is missing. A document
        may link to one before it in the batch (inserting one by one, that one would exist)."""
        wanted, linking, self.wanted, self.linking = self.wanted, self.linking, {}, []
        missing = False
        for target, names in wanted.items():
            found = self.found.setdefault(target, set())
            if self.session.site.metas.exists(target):
                found |= rows.existing_names(self.session.db, self.session.meta(target), names - found)
            missing = missing or not names <= found
        if not missing:
            return
        batch_names: dict[str, int] = {}  # a name of this run → the first document with it
        for i, new in enumerate(news, start):
            batch_names.setdefault(str(new["name"]), i)
        for i in linking:
            self.batch.at = i
            validation.check_links(meta, news[i - start], self.session.meta,
                                   lambda target, value: self._exists(meta, target, str(value), batch_names, i))

    def _exists(self, meta: Meta, target: str, value: str, batch_names: dict[str, int], at: int) -> bool:
        return value in self.found.get(target, ()) or (target == meta.name and batch_names.get(value, at) < at)


def _runs(docs: list[Any], batch: _Batch) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of consecutive documents of one DocType. A run is written
    before the next one starts, so a batch may create a DocType and then documents of it."""
    bounds: list[int] = []
    for batch.at, doc in enumerate(docs):
        doctype = _doctype(doc)
        if not bounds or doctype != docs[bounds[-1]]["doctype"]:
            bounds.append(batch.at)
    return list(zip(bounds, [*bounds[1:], len(docs)]))


def _duplicate(meta: Meta, name: Any) -> DuplicateEntryError:
    return DuplicateEntryError(f"{meta.name} {name} already exists", doctype=meta.name, name=name)


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
