"""Internal records of the streaming engine (update logs, sync logs), appended through the
Document layer's own row writer: named, stamped and coerced like any document, but without
permission checks and hooks, because the engine writes them on behalf of the system inside the
transaction of the change they describe."""

from __future__ import annotations

import json
import secrets
from typing import Any

from docstream.model import rows, validation
from docstream.model.documents import Session
from docstream.model.types import now


def append(session: Session, doctype: str, values: dict[str, Any]) -> dict[str, Any]:
    meta = session.meta(doctype)
    doc = validation.normalise(meta, {"doctype": doctype, **values}, session.meta, fill_defaults=True)
    stamp = now()
    doc.update(name=secrets.token_hex(6), owner=session.user, creation=stamp, modified=stamp,
               modified_by=session.user)
    rows.insert(session.db, meta, doc, session.meta)
    return doc


def set_fields(session: Session, doctype: str, name: str, values: dict[str, Any]) -> None:
    meta = session.meta(doctype)
    clean = validation.normalise(meta, values, session.meta, fill_defaults=False)
    columns = [k for k in values if meta.get_field(k)]
    assignments = ", ".join(f'"{c}" = ?' for c in columns + ["modified"])
    params = [rows.to_db_value(meta, c, clean[c]) for c in columns] + [now(), name]
    session.db.sql(f'UPDATE "{meta.table_name}" SET {assignments} WHERE name = ?', params)


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
