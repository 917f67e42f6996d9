"""Internal records of the streaming engine (update logs, sync logs), appended through the
Document layer's own row writer: named and stamped like any document, but without permission
checks and hooks, because the engine writes them on behalf of the system inside the transaction
of the change they describe (and without coercion: the engine's values are canonical already)."""

from __future__ import annotations

import secrets
from typing import Any

import orjson

from docstream import deepjson
from docstream.errors import UnknownFieldError
from docstream.model import rows, validation
from docstream.model.documents import Session
from docstream.model.types import coerce, now


def append(session: Session, doctype: str, values: dict[str, Any]) -> dict[str, Any]:
    """Append one record (see ``build``)."""
    doc = build(session, doctype, values)
    rows.insert(session.db, session.meta(doctype), doc, session.meta)
    return doc


def build(session: Session, doctype: str, values: dict[str, Any]) -> dict[str, Any]:
    """The record to store. ``values`` are the engine's own and already canonical (text, whole
    numbers, a dict for a JSON field), so they are kept as given: no normalising pass per
    record, which was a third of what logging a change cost. Missing fields get their defaults,
    as ``validation.normalise`` would give them."""
    meta = session.meta(doctype)
    stamp = now()
    doc: dict[str, Any] = {"doctype": doctype, "name": secrets.token_hex(6), "owner": session.user,
                           "creation": stamp, "modified": stamp, "modified_by": session.user,
                           "docstatus": 0, "idx": 0}
    for field in meta.value_fields:
        key = field.fieldname
        doc[key] = values[key] if key in values else coerce(field, validation.default_value(field), doctype)
    if not values.keys() <= doc.keys():
        unknown = sorted(set(values) - set(doc))
        raise UnknownFieldError(f"{doctype} has no field {', '.join(map(repr, unknown))}", doctype=doctype, field=unknown[0])
    return doc


def set_fields(session: Session, doctype: str, name: str, values: dict[str, Any]) -> None:
    meta = session.meta(doctype)
    clean = validation.normalise(meta, values, session.meta, fill_defaults=False)
    columns = [k for k in values if meta.get_field(k)]
    assignments = ", ".join(f'"{c}" = ?' for c in columns + ["modified"])
    params = [rows.to_db_value(meta, c, clean[c]) for c in columns] + [now(), name]
    session.db.sql(f'UPDATE "{meta.table_name}" SET {assignments} WHERE name = ?', params)


_ORJSON = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def dumps(value: Any) -> str:
    """Compact JSON with sorted keys (what a log stores). orjson does it in a fifth of the time
    of ``json``; what it refuses (an int beyond 64 bits, a value nested deeper than its 255
    levels) goes the slow way, which no depth can crash."""
    try:
        return orjson.dumps(value, default=str, option=_ORJSON).decode()
    except (orjson.JSONEncodeError, TypeError):
        return deepjson.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
