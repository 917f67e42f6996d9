"""The producer's update log: every change of a streamed DocType, in the change's own transaction.

Create logs the whole document, Update the diff, Delete only the name. Each log gets the next
``sequence`` from a counter row that the appending transaction holds locked until it commits
(SQLite serialises writers anyway), so commit order is sequence order and a reader never sees
a gap that a running transaction could fill later; a rolled-back change gives its number back.
"""

from __future__ import annotations

import functools
from typing import Any

from docstream.errors import ExpressionError
from docstream.expressions import compile_expression
from docstream.model import rows
from docstream.model.diff import diff, is_empty
from docstream.model.documents import Session
from docstream.storage import quote
from docstream.streaming import notify, records

SEQUENCE_KEY = "docstream:event-update-log"
# writers hold it shared while they decide whether a change is streamed; an approval holds it
# exclusively, so a change is either logged or already visible to the approval's backfill
SUBSCRIPTION_LOCK = "docstream:subscriptions"
NOT_STREAMED = frozenset({
    "DocType", "DocField", "DocPerm", "Custom Field", "Event Producer", "Event Producer Document Type",
    "Event Consumer", "Event Consumer Document Type", "Event Update Log", "Event Sync Log",
    "Document Type Mapping", "Document Type Field Mapping", "User", "Has Role", "Role",
})


def install(site: Any) -> None:
    site.hooks.on("after_insert")(_on_insert)
    site.hooks.on("on_update")(_on_update)
    site.hooks.on("after_delete")(_on_delete)


def _on_insert(session: Session, doc: dict[str, Any], old: Any) -> None:
    _log(session, "Create", doc, None, doc)


def _on_update(session: Session, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
    if old is None:
        return
    change = diff(old, doc)
    if not is_empty(change):
        _log(session, "Update", doc, old, change)


def _on_delete(session: Session, doc: dict[str, Any], old: Any) -> None:
    _log(session, "Delete", None, doc, None)


def subscribers(session: Session, doctype: str) -> list[dict[str, Any]]:
    """The approved, subscribed consumer rows of ``doctype`` (read inside the writing transaction)."""
    return session.db.sql(
        'SELECT parent AS consumer, "condition" FROM "tabEvent Consumer Document Type" '
        "WHERE ref_doctype = ? AND status = 'Approved' AND COALESCE(unsubscribed, 0) = 0",
        (doctype,),
    )


def _log(session: Session, update_type: str, new: dict | None, old: dict | None, data: Any) -> None:
    doctype = (new or old or {})["doctype"]
    if doctype in NOT_STREAMED or session.meta(doctype).istable:
        return
    session.db.lock_key(SUBSCRIPTION_LOCK, shared=True, defer=True)  # travels with the read below
    rows_ = subscribers(session, doctype)
    if not rows_:
        return
    routing = _routing(update_type, new, old, rows_)
    if routing and all(v == "skip" for v in routing.values()) and len(routing) == len(rows_):
        return
    values = {
        "update_type": update_type, "ref_doctype": doctype, "docname": (new or old)["name"],
        "data": records.dumps(data) if data is not None else None, "origin": session.flags.get("origin"),
        "routing": routing or None,
        "snapshot": records.dumps(new) if "create" in (routing or {}).values() else None,
    }
    append_log(session, values)
    notify.after_commit(session.site, {r["consumer"] for r in rows_ if routing.get(r["consumer"]) != "skip"})


def append_log(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    """Append one log with the next sequence: the counter is advanced by a deferred statement that
    travels with the INSERT, which reads the new value itself (one round trip on PostgreSQL)."""
    db = session.db
    meta = session.meta("Event Update Log")
    doc = records.build(session, meta.name, {**values, "sequence": None})
    params = [SEQUENCE_KEY if c == "sequence" else v for c, v in zip(meta.columns, rows.values(meta, doc))]
    with db.transaction():  # the change's own, as a rule
        db.defer(_advance_sql(1), (SEQUENCE_KEY, 1))
        doc["sequence"] = int(db.sql(_append_sql(meta.table_name, tuple(meta.columns)), params)[0]["sequence"])
    return doc


@functools.lru_cache(maxsize=16)
def _append_sql(table: str, columns: tuple[str, ...]) -> str:
    marks = ", ".join('(SELECT current FROM "tabSeries" WHERE name = ?)' if c == "sequence" else "?" for c in columns)
    return f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) VALUES ({marks}) RETURNING sequence"


def lock_sequence(session: Session) -> int:
    """Hold the sequence until this transaction ends (no append can slip in); the current head."""
    return _advance(session.db, 0)


def _advance(db: Any, step: int) -> int:
    """The sequence counter lives in its own row, so pruning old logs can never make it go back.
    Updating the row locks it until commit: appends are serialised and commit in sequence order."""
    return int(db.sql(_advance_sql(step) + " RETURNING current", (SEQUENCE_KEY, step))[0]["current"])


@functools.lru_cache(maxsize=4)
def _advance_sql(step: int) -> str:
    return ('INSERT INTO "tabSeries" (name, current) VALUES (?, '
            '(SELECT COALESCE(MAX(sequence), 0) FROM "tabEvent Update Log") + ?) '
            f'ON CONFLICT (name) DO UPDATE SET current = "tabSeries".current + {int(step)}')


def head(session: Session) -> int:
    found = session.db.value('SELECT current FROM "tabSeries" WHERE name = ?', (SEQUENCE_KEY,))
    if found is not None:
        return int(found)
    return int(session.db.value('SELECT COALESCE(MAX(sequence), 0) FROM "tabEvent Update Log"'))


def _routing(update_type: str, new: dict | None, old: dict | None, rows_: list[dict]) -> dict[str, str]:
    """Per consumer with a condition: send, skip, or send the whole document as a Create."""
    out = {}
    for row in rows_:
        if (row.get("condition") or "").strip():
            out[row["consumer"]] = _verdict(update_type, row["condition"], new, old)
    return out


def _verdict(update_type: str, condition: str, new: dict | None, old: dict | None) -> str:
    after = condition_holds(condition, new) if new is not None else False
    before = condition_holds(condition, old) if old is not None else False
    if update_type == "Create":
        return "send" if after else "skip"
    if update_type == "Delete":
        return "send" if before else "skip"
    if after and not before:
        return "create"
    return "send" if before else "skip"


def condition_holds(condition: str, doc: dict[str, Any]) -> bool:
    try:
        return bool(compile_expression(condition).evaluate({"doc": doc}))
    except ExpressionError:
        return False
