"""The producer side of a subscription: Event Consumer documents, registration, approval, backfill."""

from __future__ import annotations

from typing import Any

from docstream.auth.permissions import has_permission
from docstream.errors import DoesNotExistError, PermissionError, ValidationError
from docstream.expressions import validate_expression
from docstream.model import rows
from docstream.model.documents import Session
from docstream.model.query import parse_json_arg
from docstream.streaming import notify
from docstream.streaming.remote import RemoteSite
from docstream.streaming.records import dumps
from docstream.streaming.updatelog import (
    NOT_STREAMED,
    SUBSCRIPTION_LOCK,
    append_log,
    condition_holds,
    head,
    lock_sequence,
)
from docstream.streaming.urls import normalise_url

ROW_KEYS = ("ref_doctype", "unsubscribed", "condition", "initial_sync")
BACKFILL_PAGE = 500


def install(site: Any) -> None:
    site.hooks.on("validate", "Event Consumer")(_validate)
    site.hooks.on("after_insert", "Event Consumer")(lambda s, d, o: _approvals_changed(s, d, None))
    site.hooks.on("on_update", "Event Consumer")(lambda s, d, o: o is not None and _approvals_changed(s, d, o))


# -- registration (called by the consumer site, as the Event Subscriber) -------
def register_consumer(
    session: Session, event_consumer: str, api_key: str, api_secret: str, consumer_doctypes: Any,
) -> dict[str, Any]:
    url = normalise_url(event_consumer, "consumer URL")
    wanted = _requested_rows(session, parse_json_arg(consumer_doctypes, "consumer_doctypes"))
    system = session.as_user(session.user, ignore_permissions=True)
    with session.db.transaction():
        if system.exists("Event Consumer", url):
            current = system.get("Event Consumer", url)
            _check_owner(session, current)
            rows_ = _merge_rows(current.get("consumer_doctypes") or [], wanted)
            doc = system.update("Event Consumer", url, {
                "consumer_doctypes": rows_, "api_key": api_key, "api_secret": api_secret, "user": session.user,
            })
        else:
            doc = system.insert({
                "doctype": "Event Consumer", "callback_url": url, "user": session.user,
                "api_key": api_key, "api_secret": api_secret, "consumer_doctypes": wanted,
            })
    return {"event_consumer": doc["name"], "doctypes": statuses(doc), "head": head(session)}


def unregister_consumer(session: Session, event_consumer: str) -> str:
    url = normalise_url(event_consumer, "consumer URL")
    system = session.as_user(session.user, ignore_permissions=True)
    with session.db.transaction():
        if not system.exists("Event Consumer", url):
            raise DoesNotExistError(f"no Event Consumer {url} here", doctype="Event Consumer", name=url)
        _check_owner(session, system.get("Event Consumer", url))
        system.delete("Event Consumer", url)
    return "ok"


def statuses(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"ref_doctype": r["ref_doctype"], "status": r.get("status") or "Pending",
             "unsubscribed": int(r.get("unsubscribed") or 0)} for r in doc.get("consumer_doctypes") or []]


def _requested_rows(session: Session, requested: Any) -> list[dict[str, Any]]:
    if not isinstance(requested, list) or not requested:
        raise ValidationError("consumer_doctypes must be a non-empty list of {ref_doctype, …}")
    out, seen = [], set()
    for item in requested:
        if not isinstance(item, dict) or not item.get("ref_doctype"):
            raise ValidationError("each of consumer_doctypes needs a ref_doctype")
        doctype = str(item["ref_doctype"])
        if doctype in seen:
            continue
        seen.add(doctype)
        _check_subscribable(session, doctype)
        if (item.get("condition") or "").strip():
            validate_expression(item["condition"])
        out.append({k: item.get(k) for k in ROW_KEYS} | {"ref_doctype": doctype})
    return out


def _check_subscribable(session: Session, doctype: str) -> None:
    where = session.site.url or session.site.name
    if not session.site.metas.exists(doctype):
        raise DoesNotExistError(f"DocType {doctype} does not exist at {where}", doctype=doctype)
    meta = session.meta(doctype)
    if meta.istable or doctype in NOT_STREAMED:
        raise ValidationError(f"{doctype} can't be streamed (child tables and system DocTypes can't)", doctype=doctype)
    if not has_permission(meta, session.user, session.roles, "read"):
        raise PermissionError(
            f"Event Subscriber {session.user} has no read permission on {doctype} at {where} — "
            f"give its role read access there", doctype=doctype,
        )


def _check_owner(session: Session, consumer: dict[str, Any]) -> None:
    if consumer.get("user") != session.user and not (session.roles & {"System Manager", "Administrator"}):
        raise PermissionError(f"Event Consumer {consumer['name']} belongs to another user", doctype="Event Consumer")


def _merge_rows(current: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The consumer's list decides which rows exist; the producer's approvals are kept."""
    by_type = {r["ref_doctype"]: r for r in current}
    out = []
    for row in wanted:
        kept = by_type.get(row["ref_doctype"])
        if kept:
            out.append({**kept, **row})
        else:
            out.append({**row, "status": "Pending"})
    return out


# -- Event Consumer hooks ------------------------------------------------------
def _validate(session: Session, doc: dict[str, Any], old: Any) -> None:
    doc["callback_url"] = normalise_url(doc.get("callback_url") or "", "Callback URL")
    for row in doc.get("consumer_doctypes") or []:
        if (row.get("condition") or "").strip():
            validate_expression(row["condition"])


def _approvals_changed(session: Session, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
    before = {r["ref_doctype"]: r for r in (old or {}).get("consumer_doctypes") or []}
    changed = False
    for row in doc.get("consumer_doctypes") or []:
        prior = before.get(row["ref_doctype"], {})
        starts = row.get("status") == "Approved" and not row.get("unsubscribed") and (
            prior.get("status") != "Approved" or prior.get("unsubscribed")
        )
        changed |= row.get("status") != prior.get("status") or row.get("unsubscribed") != prior.get("unsubscribed")
        if starts:
            # approved again by the producer (Pending or Rejected → Approved): what the consumer was
            # owed under the earlier approval and has not applied yet is still sent
            again = prior.get("status") != "Approved" and not prior.get("unsubscribed")
            _start_streaming(session, doc, row, prior.get("subscribed_from") if again else None)
    if changed:
        notify.after_commit(session.site, {doc["name"]})


def _start_streaming(session: Session, consumer: dict[str, Any], row: dict[str, Any],
                     earlier: Any = None) -> None:
    """From now on ``row``'s doctype streams to this consumer; with initial_sync, existing documents
    first. ``earlier``: where an earlier approval of the row started — the consumer still gets the
    events after what it has applied (its progress), none of which it may pass over (a Delete among
    them no baseline could carry)."""
    session.db.lock_key(SUBSCRIPTION_LOCK)
    start = lock_sequence(session)
    if earlier is not None:
        applied = session.db.value('SELECT cursor FROM "__consumer_progress" WHERE consumer = ?', (consumer["name"],))
        start = min(start, max(int(earlier), int(applied or 0)))
    session.db.sql('UPDATE "tabEvent Consumer Document Type" SET subscribed_from = ? WHERE name = ?', (start, row["name"]))
    row["subscribed_from"] = start
    if row.get("initial_sync"):
        backfill(session, consumer["name"], row)


def backfill(session: Session, consumer: str, row: dict[str, Any]) -> int:
    """A Create log of every document of ``row``'s DocType (that meets its condition), addressed to
    ``consumer``, in this transaction; how many."""
    sent, after = 0, ""
    while after is not None:
        count, after = backfill_page(session, consumer, row, after)
        sent += count
    return sent


def backfill_page(session: Session, consumer: str, row: dict[str, Any], after: str) -> tuple[int, str | None]:
    """The Create logs of the next page of ``row``'s documents, those named after ``after``: how
    many, and where the next page starts (None: that was the last). Keyset pages on the primary
    key: each page costs the same, however far in."""
    meta = session.meta(row["ref_doctype"])
    condition = (row.get("condition") or "").strip()
    names = [r["name"] for r in session.db.sql(
        f'SELECT name FROM "{meta.table_name}" WHERE name > ? ORDER BY name LIMIT {BACKFILL_PAGE}', (after,)
    )]
    sent = 0
    for name in names:
        doc = rows.read(session.db, meta, name, session.meta)
        if doc is None or (condition and not condition_holds(condition, doc)):
            continue
        append_log(session, {"update_type": "Create", "ref_doctype": meta.name, "docname": name,
                             "data": dumps(doc), "target": consumer})
        sent += 1
    return sent, (names[-1] if len(names) == BACKFILL_PAGE else None)


def consumer_remote(site: Any, consumer: str, transport: Any = None) -> RemoteSite | None:
    """A client for calling the consumer back with the keys it gave us (``transport``: see RemoteSite)."""
    found = site.db.sql('SELECT api_key FROM "tabEvent Consumer" WHERE name = ?', (consumer,))
    if not found:
        return None
    secret = site.secrets.decrypt("Event Consumer", consumer, "api_secret")
    return RemoteSite(consumer, found[0]["api_key"], secret, timeout=site.settings["request_timeout"], transport=transport)
