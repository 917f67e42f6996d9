"""The change feed: the events after a consumer's cursor, in pages, filtered to what it may see.

A page is found through the unique index on ``sequence`` (``WHERE sequence > cursor ORDER BY
sequence LIMIT n``), so it costs the same at the start of the log and ten million events in.
The feed keeps no read-marks: the consumer's cursor is the only truth. ``last_sequence`` tells
the consumer how far the page looked, so filtered-out events are passed over, not re-read.
"""

from __future__ import annotations

import json
from typing import Any

from docstream.errors import DoesNotExistError, PermissionError, ValidationError
from docstream.model import rows
from docstream.model.documents import Session
from docstream.model.query import parse_json_arg
from docstream.model.types import now
from docstream.streaming.checkpoint import record_consumer_progress
from docstream.streaming.consumers import statuses
from docstream.streaming.updatelog import head
from docstream.streaming.urls import normalise_url

MAX_LIMIT = 1000
SCAN_FACTOR = 5


def get_updates(session: Session, event_consumer: str, after: Any = 0, limit: Any = 200) -> dict[str, Any]:
    consumer = _consumer(session, event_consumer)
    after, limit = _int(after, "after"), min(_int(limit, "limit") or 200, MAX_LIMIT)
    subscriptions = {r["ref_doctype"]: r for r in consumer.get("consumer_doctypes") or []}
    meta = session.meta("Event Update Log")
    logs = session.db.sql(
        'SELECT * FROM "tabEvent Update Log" WHERE sequence > ? ORDER BY sequence LIMIT ?',
        (after, limit * SCAN_FACTOR),
    )
    events, last = [], after
    for row in logs:
        log = rows.to_doc(meta, row)
        event = _event_for(consumer["name"], subscriptions.get(log["ref_doctype"]), log, session.site.url)
        if event is not None:
            events.append(event)
        last = log["sequence"]
        if len(events) >= limit:
            break
    record_consumer_progress(session.db, consumer["name"], after, now())
    return {"events": events, "last_sequence": last, "head": head(session), "doctypes": statuses(consumer)}


def _consumer(session: Session, event_consumer: str) -> dict[str, Any]:
    url = normalise_url(event_consumer, "consumer URL")
    system = session.as_user(session.user, ignore_permissions=True)
    if not system.exists("Event Consumer", url):
        raise DoesNotExistError(f"{url} is not registered as an Event Consumer here", doctype="Event Consumer", name=url)
    consumer = system.get("Event Consumer", url)
    if consumer.get("user") != session.user and not (session.roles & {"System Manager", "Administrator"}):
        raise PermissionError(f"{session.user} is not the Event Subscriber of {url}", doctype="Event Consumer", name=url)
    return consumer


def _event_for(consumer: str, subscription: dict[str, Any] | None, log: dict[str, Any],
               here: str) -> dict[str, Any] | None:
    if not subscription or subscription.get("status") != "Approved" or subscription.get("unsubscribed"):
        return None
    if log["sequence"] <= int(subscription.get("subscribed_from") or 0):
        return None
    if log.get("target") and log["target"] != consumer:
        return None
    if log.get("origin") and _same_site(log["origin"], consumer):
        return None
    verdict = (log.get("routing") or {}).get(consumer, "send")
    if verdict == "skip":
        return None
    update_type, data = log["update_type"], log.get("data")
    if verdict == "create":
        update_type, data = "Create", log.get("snapshot")
    return {
        "sequence": log["sequence"], "update_type": update_type, "ref_doctype": log["ref_doctype"],
        "docname": log["docname"], "data": json.loads(data) if data else None,
        "origin": log.get("origin") or here or None, "creation": log["creation"],
    }


def _same_site(origin: str, consumer: str) -> bool:
    try:
        return normalise_url(origin) == consumer
    except ValidationError:
        return False


def _int(value: Any, what: str) -> int:
    try:
        number = int(value or 0)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what} must be a whole number, not {value!r}") from exc
    if number < 0:
        raise ValidationError(f"{what} can't be negative")
    return number


def get_documents(session: Session, docs: Any) -> dict[str, Any]:
    """Documents the consumer needs as dependencies, in one request (read permission checked)."""
    wanted = parse_json_arg(docs, "docs")
    if not isinstance(wanted, list) or len(wanted) > MAX_LIMIT:
        raise ValidationError(f"docs must be a list of at most {MAX_LIMIT} [doctype, name] pairs")
    found, missing = [], []
    for item in wanted:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise ValidationError("each of docs must be [doctype, name]")
        doctype, name = str(item[0]), str(item[1])
        if not session.site.metas.exists(doctype) or not session.exists(doctype, name):
            missing.append([doctype, name])
            continue
        found.append(session.get(doctype, name))
    return {"docs": found, "missing": missing}
