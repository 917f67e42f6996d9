"""The consumer side of a subscription: Event Producer documents and their registration.

There is no transaction across two sites, so each step is idempotent: inserting or changing an
Event Producer registers (or re-registers) this site on the producer once the local change is
valid and written, before the local commit, and the local transaction undoes the producer side
(unregisters, or registers the old subscription again) if it rolls back afterwards.
"""

from __future__ import annotations

import hashlib
from typing import Any

from docstream.errors import (
    AuthenticationError,
    DocstreamError,
    RegistrationError,
    TransientError,
    ValidationError,
)
from docstream.expressions import validate_expression
from docstream.model import rows
from docstream.model.documents import MASK, Session
from docstream.streaming import checkpoint
from docstream.streaming.apply import end_subscription
from docstream.streaming.remote import RemoteSite
from docstream.streaming.urls import normalise_url

REMOTE_FIELDS = (
    {"fieldname": "remote_docname", "label": "Remote Document Name", "fieldtype": "Data", "read_only": 1},
    {"fieldname": "remote_site_name", "label": "Remote Site Name", "fieldtype": "Data", "read_only": 1},
)
_DUE = "register:due"  # the Event Producers whose registration the current transaction must send


def install(site: Any) -> None:
    site.hooks.on("validate", "Event Producer")(_validate)
    site.hooks.on("on_update", "Event Producer")(_saved)
    site.hooks.on("on_trash", "Event Producer")(_trashed)
    site.hooks.on("after_delete", "Event Producer")(_ended)


def producer_remote(site: Any, producer: dict[str, Any], secret: str | None = None) -> RemoteSite:
    if secret is None:
        secret = site.secrets.decrypt("Event Producer", producer["name"], "api_secret")
    return RemoteSite(producer["producer_url"], producer["api_key"], secret, timeout=site.settings["request_timeout"])


def _validate(session: Session, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
    doc["producer_url"] = normalise_url(doc.get("producer_url") or "", "Producer URL")
    if old is None:
        doc["name"] = doc["producer_url"]
    elif doc["producer_url"] != old["producer_url"]:
        raise ValidationError("the Producer URL of an Event Producer can't change: delete it and create a new one",
                              doctype="Event Producer", field="producer_url")
    seen: set[str] = set()
    for row in doc.get("producer_doctypes") or []:
        _validate_row(session, row)
        remote = _remote_row(session, row)["ref_doctype"]  # what the producer is asked for
        if remote in seen:  # the producer keeps one row per DocType: a second one's settings would be lost
            raise ValidationError(f"{remote} is listed twice: one row per DocType of the producer",
                                  doctype="Event Producer", field="ref_doctype")
        seen.add(remote)
    if session.flags.get("incoming"):
        return
    if old is None or _registration_changed(old, doc):  # sent once the change is written (_saved)
        session.db.memo.setdefault(_DUE, set()).add(doc["name"])


def _validate_row(session: Session, row: dict[str, Any]) -> None:
    if (row.get("condition") or "").strip():
        validate_expression(row["condition"])
    if row.get("has_mapping") and not row.get("mapping"):
        raise ValidationError(f"{row['ref_doctype']}: Has Mapping is ticked but no Mapping is chosen",
                              doctype="Event Producer", field="mapping")
    if row.get("has_mapping"):
        mapping = session.as_user(session.user, ignore_permissions=True).get("Document Type Mapping", row["mapping"])
        if mapping["local_doctype"] != row.get("ref_doctype"):
            raise ValidationError(f"mapping {row['mapping']} makes {mapping['local_doctype']}, not {row.get('ref_doctype')}",
                                  doctype="Event Producer", field="mapping")
    if not session.site.metas.exists(row.get("ref_doctype") or ""):
        raise ValidationError(f"DocType {row.get('ref_doctype')} does not exist on this site",
                              doctype="Event Producer", field="ref_doctype")


def _registration_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    keys = ("ref_doctype", "unsubscribe", "condition", "initial_sync", "has_mapping", "mapping")

    def shape(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [tuple(r.get(k) for k in keys) for r in doc.get("producer_doctypes") or []]

    return (shape(old) != shape(new) or old.get("api_key") != new.get("api_key")
            or new.get("api_secret") not in (None, "", MASK) or old.get("user") != new.get("user"))


def _register(session: Session, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Send the subscription ``doc`` describes (already written, not committed) to the producer;
    should the local transaction roll back, the producer gets the one before (``old``) again."""
    site = session.site
    if not site.url:
        raise RegistrationError("this site has no host_name, so the producer could not call it back: "
                                "run docstream set-config host_name http://THIS-SITE:PORT", doctype="Event Producer")
    remote = producer_remote(site, doc, _secret(session, doc))
    answer = _call(remote, "docstream.streaming.register_consumer", **_registration(session, doc))
    if old is None:
        session.db.on_rollback(lambda: _unregister_quietly(remote, site.url))
        session.db.after_commit(lambda: _start_cursor(site, doc["name"], int(answer.get("head") or 0)))
    else:
        session.db.on_rollback(lambda: _reregister_quietly(session, remote, old))
    if mirror_statuses(session, doc, answer.get("doctypes") or []):
        rows.update(session.db, session.meta("Event Producer"), doc, session.meta)


def _registration(session: Session, doc: dict[str, Any]) -> dict[str, Any]:
    """What ``register_consumer`` is sent for ``doc``: this site, its keys, the rows."""
    api_key, api_secret = _local_key(session, doc["user"])
    return {"event_consumer": session.site.url, "api_key": api_key, "api_secret": api_secret,
            "consumer_doctypes": [_remote_row(session, r) for r in doc.get("producer_doctypes") or []]}


def _secret(session: Session, doc: dict[str, Any]) -> str:
    value = doc.get("api_secret")
    if value and value != MASK:
        return str(value)
    return session.site.secrets.decrypt("Event Producer", doc["name"], "api_secret")


def _local_key(session: Session, user: str) -> tuple[str, str]:
    """The Event Subscriber's keys on this site, which the producer uses to call us back."""
    found = session.db.sql('SELECT api_key FROM "tabUser" WHERE name = ?', (user,))
    if not found or not found[0]["api_key"]:
        raise RegistrationError(f"{user} has no API keys on this site: generate them first "
                                f"(docstream user generate-keys {user})", doctype="Event Producer", field="user")
    try:
        secret = session.site.secrets.decrypt("User", user, "api_secret#onward")
    except AuthenticationError as exc:
        raise RegistrationError(f"the API secret of {user} on this site can't be sent on: generate the keys again",
                                doctype="Event Producer", field="user") from exc
    return found[0]["api_key"], secret


def _remote_row(session: Session, row: dict[str, Any]) -> dict[str, Any]:
    doctype = row["ref_doctype"]
    if row.get("has_mapping") and row.get("mapping"):
        doctype = session.as_user(session.user, ignore_permissions=True).get(
            "Document Type Mapping", row["mapping"])["remote_doctype"]
    return {"ref_doctype": doctype, "condition": row.get("condition"),
            "unsubscribed": int(row.get("unsubscribe") or 0), "initial_sync": int(row.get("initial_sync") or 0)}


def _call(remote: RemoteSite, method: str, **args: Any) -> dict[str, Any]:
    try:
        answer = remote.call(method, **args)
    except TransientError as exc:
        raise RegistrationError(f"could not reach the producer at {remote.url}: {exc.message}") from exc
    except AuthenticationError as exc:
        raise RegistrationError(f"the producer at {remote.url} refused the API key and secret: "
                                "check the Event Subscriber's keys there") from exc
    except DocstreamError as exc:
        raise RegistrationError(f"the producer at {remote.url} refused the registration: {_strip(exc.message, remote.url)}") from exc
    if not isinstance(answer, dict):
        raise RegistrationError(f"{remote.url} answered the registration with something unexpected: is it a docstream site?")
    return answer


def _strip(message: str, url: str) -> str:
    prefix = f"{url}: "
    return message[len(prefix):] if message.startswith(prefix) else message


def mirror_statuses(session: Session, doc: dict[str, Any], statuses: list[dict[str, Any]]) -> bool:
    """Copy the producer's approvals onto ``doc``'s rows; True when something changed."""
    by_remote = {s["ref_doctype"]: s.get("status") or "Pending" for s in statuses if isinstance(s, dict)}
    changed = False
    for row in doc.get("producer_doctypes") or []:
        status = by_remote.get(_remote_row(session, row)["ref_doctype"], "Pending")
        if row.get("status") != status:
            row["status"], changed = status, True
    return changed


def _saved(session: Session, doc: dict[str, Any], old: Any) -> None:
    due = session.db.memo.get(_DUE, set())
    if doc["name"] in due:
        due.discard(doc["name"])
        _register(session, doc, old)
    for row in doc.get("producer_doctypes") or []:
        if not row.get("use_same_name"):
            ensure_remote_fields(session, row["ref_doctype"])


def ensure_remote_fields(session: Session, doctype: str) -> None:
    """The custom fields that remember a document's name and site on the producer."""
    meta = session.meta(doctype)
    system = session.as_user("Administrator", ignore_permissions=True)
    for field in REMOTE_FIELDS:
        if not meta.has_field(field["fieldname"]):
            system.insert({"doctype": "Custom Field", "dt": doctype, **field})
    # every later event of such a document finds it by these two columns
    table = session.meta(doctype).table_name
    session.db.sql(f'CREATE INDEX IF NOT EXISTS "{_index_name(table)}" ON "{table}" (remote_docname, remote_site_name)')


def _index_name(table: str) -> str:
    return "idx_remote_" + hashlib.sha1(table.encode()).hexdigest()[:16]


def _start_cursor(site: Any, producer: str, head: int) -> None:
    checkpoint.ensure(site.db, producer, head)


def _trashed(session: Session, doc: dict[str, Any], old: Any) -> None:
    if session.flags.get("forget_remote"):  # ``docstream sync forget``: a producer gone for good
        return
    remote = producer_remote(session.site, doc)
    try:
        remote.call("docstream.streaming.unregister_consumer", event_consumer=session.site.url)
    except TransientError as exc:
        raise RegistrationError(f"could not reach the producer at {remote.url} to end the subscription: "
                                f"{exc.message} — try again when it is reachable (for a producer gone for good: "
                                f"docstream sync forget {doc['name']})") from exc
    except DocstreamError as exc:
        if exc.http_status != 404:
            raise RegistrationError(f"the producer at {remote.url} refused to end the subscription: {exc.message} "
                                    f"(for a producer gone for good: docstream sync forget {doc['name']})") from exc


def _ended(session: Session, doc: dict[str, Any], old: Any) -> None:
    """The subscription is over: forget its cursor, and close its failures so that they hold
    nothing of a later subscription to the same producer."""
    checkpoint.forget(session.db, doc["name"])
    end_subscription(session.db, doc["name"])


def _unregister_quietly(remote: RemoteSite, consumer_url: str) -> None:
    try:
        remote.call("docstream.streaming.unregister_consumer", event_consumer=consumer_url)
    except DocstreamError:
        pass


def _reregister_quietly(session: Session, remote: RemoteSite, old: dict[str, Any]) -> None:
    """After a rollback: the subscription as it is stored here again, on the producer."""
    try:
        remote.call("docstream.streaming.register_consumer", **_registration(session, old))
    except DocstreamError:
        pass
