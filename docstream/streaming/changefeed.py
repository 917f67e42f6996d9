"""The change feed: the events after a consumer's cursor, in pages, filtered to what it may see.

A page is found through the unique index on ``sequence`` (``WHERE sequence >= cursor ORDER BY
sequence LIMIT n``: the log at the cursor itself, then the page), so it costs the same at the
start of the log and ten million events in.
The feed keeps no read-marks: the consumer's cursor is the only truth. ``last_sequence`` tells
the consumer how far the page looked, so filtered-out events are passed over, not re-read, and
``last_mark`` which log that was: the consumer hands it back with its next request, and a log
that is no longer the same (the producer restored from a backup gives numbers again) is refused
rather than read past.
"""

from __future__ import annotations

import hashlib
from typing import Any

from docstream import deepjson
from docstream.auth.permissions import has_permission
from docstream.errors import DoesNotExistError, LogRewoundError, PermissionError, ValidationError
from docstream.model import rows
from docstream.model.documents import Session
from docstream.model.query import parse_json_arg
from docstream.model.types import now
from docstream.streaming.checkpoint import record_consumer_progress
from docstream.streaming.consumers import statuses
from docstream.streaming.updatelog import head, pruned_through
from docstream.streaming.urls import normalise_url, same_site

MAX_LIMIT = 1000
SCAN_FACTOR = 5


def get_updates(session: Session, event_consumer: str, after: Any = 0, limit: Any = 200,
                after_mark: Any = None, committed: Any = None) -> dict[str, Any]:
    """A page of the events after ``after``. ``after_mark`` is the ``last_mark`` the consumer was
    given with the page that ended at ``after``: when the log at ``after`` is no longer that log,
    or the log ends before ``after``, this log was rewound (a restore, lost commits) and is giving
    numbers the consumer has already read again — LogRewoundError, so that nothing is skipped.
    The same when retention has pruned logs the consumer still needs (its cursor restored from an
    old backup): it re-baselines. ``committed`` is the cursor the consumer has committed — below
    ``after`` when it fetches a page ahead while it applies the one before — and what retention
    may prune up to (without it, ``after``: consumers of earlier versions)."""
    consumer = consumer_for(session, event_consumer)
    after, limit = whole_number(after, "after"), min(whole_number(limit, "limit") or 200, MAX_LIMIT)
    applied = after if committed in (None, "") else min(after, whole_number(committed, "committed"))
    if after_mark is not None and not isinstance(after_mark, str):
        raise ValidationError(f"after_mark must be text, not {after_mark!r}")
    subscriptions = {r["ref_doctype"]: r for r in consumer.get("consumer_doctypes") or []}
    _refuse_pruned(session, consumer["name"], after, subscriptions.values())
    meta = session.meta("Event Update Log")
    logs = session.db.sql(  # from the log at ``after`` itself, if it is still there: the anchor
        'SELECT * FROM "tabEvent Update Log" WHERE sequence >= ? ORDER BY sequence LIMIT ?',
        (after, limit * SCAN_FACTOR + 1),
    )
    events, last, last_mark, last_log = [], after, after_mark, None
    readable: dict[str, bool] = {}
    for row in logs:
        log = rows.to_doc(meta, row)
        if log["sequence"] == after:
            last_mark = mark(log)
            if after_mark is not None and last_mark != after_mark:
                raise _rewound(consumer["name"], after, f"its log {after} is not the one the consumer read")
            continue
        event = _event_for(consumer["name"], subscriptions.get(log["ref_doctype"]), log, session.site.url,
                           row.get("source"))
        if event is not None:
            if not _may_read(session, log["ref_doctype"], readable):
                if not events:  # nothing is passed over: the page ends before it, or there is none
                    raise PermissionError(
                        f"Event Subscriber {session.user} has no read permission on {log['ref_doctype']} here any "
                        f"more: its events wait until it has (give its role read access to {log['ref_doctype']})",
                        doctype=log["ref_doctype"])
                break
            events.append(event)
        last, last_log = log["sequence"], log
        if len(events) >= limit:
            break
    if last_log is not None:
        last_mark = mark(last_log)
    top = head(session)
    if after > top:
        raise _rewound(consumer["name"], after, f"its log ends at sequence {top}")
    record_consumer_progress(session.db, consumer["name"], applied, now())
    return {"events": events, "last_sequence": last, "last_mark": last_mark, "head": top,
            "doctypes": statuses(consumer)}


def mark(log: dict[str, Any]) -> str:
    """What tells one log from another given the same sequence after a rewind: a digest of the
    change it records (its kind, document, addressee and data) and of the moment it was appended
    (``modified``: a log is never changed after). The same change logged again at the same number
    — an Update's data carries no timestamp — is still told apart by that moment."""
    digest = hashlib.blake2b(digest_size=8)
    for part in (log["update_type"], log["ref_doctype"], log["docname"], log.get("target"), log.get("data"),
                 log.get("modified")):
        digest.update(str(part if part is not None else "").encode() + b"\0")
    return digest.hexdigest()


def mark_at(session: Session, sequence: int) -> str | None:
    """The mark of the log at ``sequence`` (None when there is none: 0, or pruned)."""
    found = session.db.sql('SELECT * FROM "tabEvent Update Log" WHERE sequence = ?', (sequence,))
    return mark(rows.to_doc(session.meta("Event Update Log"), found[0])) if found else None


def _rewound(consumer: str, after: int, why: str) -> LogRewoundError:
    return LogRewoundError(
        f"{consumer} has read this site's update log up to sequence {after}, but {why}: the log was "
        "rewound (restored from a backup, or its last commits were lost) and gives those numbers to "
        "other changes; the consumer must re-baseline (docstream.streaming.rebaseline)",
        doctype="Event Consumer", name=consumer)


def _refuse_pruned(session: Session, consumer: str, after: int, subscriptions: Any) -> None:
    """Retention pruned logs after ``after`` that one of the consumer's subscriptions needs (logs
    after the point it was subscribed from): its events are gone, and carrying on would pass over
    them without a sign — the consumer must re-baseline."""
    pruned = pruned_through(session.db)
    if after >= pruned:
        return
    starts = [int(r.get("subscribed_from") or 0) for r in subscriptions
              if r.get("status") == "Approved" and not r.get("unsubscribed")]
    if starts and max(after, min(starts)) < pruned:
        raise LogRewoundError(
            f"{consumer} has read this site's update log up to sequence {after}, but the logs up to "
            f"{pruned} were pruned (update_log_retention_days) before it read them: the consumer must "
            "re-baseline (docstream.streaming.rebaseline)", doctype="Event Consumer", name=consumer)


def consumer_for(session: Session, event_consumer: str) -> dict[str, Any]:
    """The Event Consumer ``event_consumer``, when the caller is its Event Subscriber (or a manager)."""
    url = normalise_url(event_consumer, "consumer URL")
    system = session.as_user(session.user, ignore_permissions=True)
    if not system.exists("Event Consumer", url):
        raise DoesNotExistError(f"{url} is not registered as an Event Consumer here", doctype="Event Consumer", name=url)
    consumer = system.get("Event Consumer", url)
    if consumer.get("user") != session.user and not (session.roles & {"System Manager", "Administrator"}):
        raise PermissionError(f"{session.user} is not the Event Subscriber of {url}", doctype="Event Consumer", name=url)
    return consumer


def _event_for(consumer: str, subscription: dict[str, Any] | None, log: dict[str, Any],
               here: str, source: str | None) -> dict[str, Any] | None:
    """The event ``log`` makes for ``consumer`` (None: not for it). Never one back to the site the
    change was first made on (``origin``), nor to the producer it was applied from here
    (``source``): with sites streaming to each other both ways and a third feeding one of them, a
    change of the third would otherwise go round the two for ever."""
    if not subscription or subscription.get("status") != "Approved" or subscription.get("unsubscribed"):
        return None
    if log["sequence"] <= int(subscription.get("subscribed_from") or 0):
        return None
    if log.get("target") and log["target"] != consumer:
        return None
    if log.get("origin") and same_site(log["origin"], consumer):
        return None
    if source and same_site(source, consumer):
        return None
    verdict = (log.get("routing") or {}).get(consumer, "send")
    if verdict == "skip":
        return None
    update_type, data = log["update_type"], log.get("data")
    if verdict == "create":
        update_type, data = "Create", log.get("snapshot")
    return {
        "sequence": log["sequence"], "update_type": update_type, "ref_doctype": log["ref_doctype"],
        "docname": log["docname"], "data": deepjson.loads(data) if data else None,
        "origin": log.get("origin") or here or None, "creation": log["creation"], "via": here or None,
    }


def _may_read(session: Session, doctype: str, known: dict[str, bool]) -> bool:
    """Whether the caller (the Event Subscriber) may read ``doctype`` now: a role taken away after
    the approval stops its events, as it stops the subscriber's reads of the documents."""
    if doctype not in known:
        metas = session.site.metas
        known[doctype] = not metas.exists(doctype) or has_permission(metas.get(doctype), session.user, session.roles, "read")
    return known[doctype]


def whole_number(value: Any, what: str) -> int:
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
