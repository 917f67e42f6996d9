"""Reading and writing a document's rows: the parent row and its child tables."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from docstream.model.meta import Meta
from docstream.model.types import from_db, to_db
from docstream.storage import Database, quote

CHUNK = 500  # names per IN list: well under every database's limit on parameters


def by_name(meta: Meta, name: Any) -> tuple[str, tuple[Any, ...]]:
    """The condition that finds the row called ``name``, and its parameter: in a table keyed by an
    Int the key (the name column has no index there), ``name`` elsewhere."""
    if not meta.named_by_key:
        return "name = ?", (name,)
    key = meta.key_of(name)
    return ("1 = 0", ()) if key is None else (f"{quote(meta.keyed_by)} = ?", (key,))


def read(db: Database, meta: Meta, name: str, get_meta: Any, for_update: bool = False) -> dict[str, Any] | None:
    """The document called ``name``: the DocType's columns only (a column left behind by a
    deleted Custom Field is no part of it), its child tables' rows likewise."""
    suffix = " FOR UPDATE" if for_update and db.dialect == "postgres" else ""
    where, params = by_name(meta, name)
    rows = db.sql(f"SELECT {_select_list(meta)} FROM {quote(meta.table_name)} WHERE {where}{suffix}", params)
    if not rows:
        return None
    doc = to_doc(meta, rows[0])
    for field in meta.table_fields:
        child = get_meta(field.options)
        children = db.sql(
            f"SELECT {_select_list(child)} FROM {quote(child.table_name)} WHERE parent = ? AND parenttype = ? AND parentfield = ? "
            "ORDER BY idx",
            (name, meta.name, field.fieldname),
        )
        doc[field.fieldname] = [to_doc(child, r) for r in children]
    return doc


def _select_list(meta: Meta) -> str:
    return ", ".join(quote(c) for c in meta.columns)


def to_doc(meta: Meta, row: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"doctype": meta.name}
    for key, value in row.items():
        field = meta.get_field(key)
        doc[key] = from_db(field.fieldtype if field else _std_type(key), value)
    return doc


def _std_type(key: str) -> str:
    return "Datetime" if key in ("creation", "modified") else "Data"


def insert(db: Database, meta: Meta, doc: dict[str, Any], get_meta: Any) -> None:
    _insert_row(db, meta, doc)
    _insert_children(db, meta, doc, get_meta)


def insert_new(db: Database, meta: Meta, doc: dict[str, Any], get_meta: Any) -> bool:
    """Like ``insert``, but when a document of that name exists write nothing and return False.

    One statement instead of a look-up and an insert, and no failed statement (which would spoil
    the transaction on PostgreSQL) when the name is taken."""
    query = _insert_sql(meta.table_name, tuple(meta.columns), if_new=meta.keyed_by if meta.named_by_key else "name")
    if not db.execute(query, values(meta, doc)):
        return False
    _insert_children(db, meta, doc, get_meta)
    return True


def insert_many(db: Database, meta: Meta, docs: list[dict[str, Any]], get_meta: Any) -> None:
    """Write new documents with one ``executemany`` per table: the parent rows, then each child
    table's rows. The caller has checked that no name is taken (``existing_names``)."""
    if not docs:
        return
    db.executemany(_insert_sql(meta.table_name, tuple(meta.columns)), [values(meta, doc) for doc in docs])
    for field in meta.table_fields:
        child = get_meta(field.options)
        children = [values(child, row) for doc in docs for row in doc.get(field.fieldname) or []]
        if children:
            db.executemany(_insert_sql(child.table_name, tuple(child.columns)), children)


def existing_names(db: Database, meta: Meta, names: Iterable[str]) -> set[str]:
    """Which of ``names`` are documents of ``meta``: one query per ``CHUNK`` names."""
    column, wanted = "name", list(dict.fromkeys(names))
    if meta.named_by_key:
        column, wanted = meta.keyed_by, [k for k in dict.fromkeys(map(meta.key_of, wanted)) if k is not None]
    found: set[str] = set()
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start:start + CHUNK]
        query = f"SELECT name FROM {quote(meta.table_name)} WHERE {quote(column)} IN ({', '.join('?' for _ in chunk)})"
        found.update(r["name"] for r in db.sql(query, chunk))
    return found


def update(db: Database, meta: Meta, doc: dict[str, Any], get_meta: Any) -> None:
    columns = [c for c in meta.columns if c != "name" and not (meta.named_by_key and c == meta.keyed_by)]
    assignments = ", ".join(f"{quote(c)} = ?" for c in columns)
    where, params = by_name(meta, doc["name"])
    db.sql(
        f"UPDATE {quote(meta.table_name)} SET {assignments} WHERE {where}",
        [_value(meta, c, doc) for c in columns] + list(params),
    )
    delete_children(db, meta, doc["name"], get_meta)
    _insert_children(db, meta, doc, get_meta)


def delete(db: Database, meta: Meta, name: str, get_meta: Any) -> None:
    delete_children(db, meta, name, get_meta)
    where, params = by_name(meta, name)
    db.sql(f"DELETE FROM {quote(meta.table_name)} WHERE {where}", params)


def delete_children(db: Database, meta: Meta, name: str, get_meta: Any) -> None:
    for child in {f.options for f in meta.table_fields}:
        db.sql(
            f"DELETE FROM {quote(get_meta(child).table_name)} WHERE parent = ? AND parenttype = ?",
            (name, meta.name),
        )


def _insert_row(db: Database, meta: Meta, doc: dict[str, Any]) -> None:
    db.sql(_insert_sql(meta.table_name, tuple(meta.columns)), values(meta, doc))


@lru_cache(maxsize=1024)
def _insert_sql(table: str, columns: tuple[str, ...], if_new: str = "") -> str:
    """The INSERT of a row; ``if_new`` names the unique column whose conflict makes it do nothing."""
    query = (f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) "
             f"VALUES ({', '.join('?' for _ in columns)})")
    return query + f" ON CONFLICT ({quote(if_new)}) DO NOTHING" if if_new else query


def _insert_children(db: Database, meta: Meta, doc: dict[str, Any], get_meta: Any) -> None:
    for field in meta.table_fields:
        child = get_meta(field.options)
        for row in doc.get(field.fieldname) or []:
            _insert_row(db, child, row)


def stamp_children(meta: Meta, doc: dict[str, Any], get_meta: Any) -> None:
    """Give every child row its parent bookkeeping and a stable name."""
    for field in meta.table_fields:
        for idx, row in enumerate(doc.get(field.fieldname) or [], start=1):
            row.update(
                doctype=field.options, parent=doc["name"], parentfield=field.fieldname,
                parenttype=meta.name, idx=idx, docstatus=doc.get("docstatus", 0),
            )
            row.setdefault("owner", doc.get("owner"))
            row["creation"] = row.get("creation") or doc.get("modified")
            row["modified"], row["modified_by"] = doc.get("modified"), doc.get("modified_by")
            if not row.get("name"):
                row["name"] = secrets.token_hex(5)


def values(meta: Meta, doc: dict[str, Any]) -> list[Any]:
    """The row for ``meta.columns`` (only JSON values need converting)."""
    out = [doc.get(c) for c in meta.columns]
    for i in meta.json_positions:
        out[i] = to_db(meta.get_field(meta.columns[i]), out[i], "")
    return out


def _value(meta: Meta, column: str, doc: dict[str, Any]) -> Any:
    return to_db(meta.get_field(column), doc.get(column), "")


def to_db_value(meta: Meta, column: str, value: Any) -> Any:
    return to_db(meta.get_field(column), value, "")


def exists(db: Database, meta: Meta, name: str) -> bool:
    where, params = by_name(meta, name)
    return bool(db.sql(f"SELECT 1 AS x FROM {quote(meta.table_name)} WHERE {where}", params))
