"""The producer's update log: every change of a streamed DocType, in the change's own transaction.

Create logs the whole document, Update the diff, Delete only the name. Each log gets the next
``sequence`` from a counter row that the appending transaction holds locked until it commits
(SQLite serialises writers anyway), so commit order is sequence order and a reader never sees
a gap that a running transaction could fill later; a rolled-back change gives its number back.
"""

from __future__ import annotations

from typing import Any

from docstream.errors import ExpressionError
from docstream.expressions import compile_expression
from docstream.model.diff import diff, is_empty
from docstream.model.documents import Session
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
    session.db.lock_key(SUBSCRIPTION_LOCK, shared=True)
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
    values["sequence"] = _advance(session.db, 1)
    return records.append(session, "Event Update Log", values)


def lock_sequence(session: Session) -> int:
    """Hold the sequence until this transaction ends (no append can slip in); the current head."""
    return _advance(session.db, 0)


def _advance(db: Any, step: int) -> int:
    """The sequence counter lives in its own row, so pruning old logs can never make it go back.
    Updating the row locks it until commit: appends are serialised and commit in sequence order."""
    rows_ = db.sql(
        'INSERT INTO "tabSeries" (name, current) VALUES (?, '
        '(SELECT COALESCE(MAX(sequence), 0) FROM "tabEvent Update Log") + ?) '
        f'ON CONFLICT (name) DO UPDATE SET current = "tabSeries".current + {int(step)} RETURNING current',
        (SEQUENCE_KEY, step),
    )
    return int(rows_[0]["current"])


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
