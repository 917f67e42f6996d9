"""Applying a producer's events on the consumer: filter → map → dependencies → apply → log.

Every event is applied as the Event Subscriber, through the Document layer, inside a savepoint
of the page's transaction: a failing event — a DocstreamError, or any unexpected exception (a
bug, a document of a shape this site can't take) — is rolled back alone and logged Failed with
its error; later events of the same document are logged Held behind it (not applied) until a resync
replays the chain in order; other documents keep flowing. An event with nothing left to do (an
Update of a document that is not here and that the producer has deleted since) is logged
Skipped, with the reason, and holds nothing back. A TransientError (the producer could
not be reached for a dependency) aborts the whole page, which is retried later with backoff.
When a subscription ends (its Event Producer is deleted), its Failed and Held logs are closed as
Skipped (``end_subscription``): a later subscription to the same producer starts with nothing held.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

from docstream.errors import DocstreamError, LinkValidationError, TransientError, ValidationError
from docstream.model.diff import apply as apply_diff
from docstream.model.documents import Session
from docstream.model.types import now
from docstream.streaming import records
from docstream.streaming.dependencies import ensure_dependencies
from docstream.streaming.remote import RemoteSite
from docstream.streaming.urls import same_site

BOOKKEEPING = ("owner", "creation", "modified", "modified_by")
REMOTE_NAME_FIELDS = ("remote_docname", "remote_site_name")
CHILD_BOOKKEEPING = BOOKKEEPING + ("parent", "parentfield", "parenttype", "doctype")
log = logging.getLogger("docstream.apply")


@dataclass(frozen=True)
class Subscription:
    """One row of an Event Producer, as the consumer applies it."""

    local_doctype: str
    remote_doctype: str
    use_same_name: bool
    mapping: str | None


class _NothingToDo(Exception):
    """The event can't change anything here (``args[0]`` says why): logged Skipped, holding nothing."""


@dataclass
class Outcome:
    status: str
    docname: str | None = None
    error: str | None = None


class Applier:
    def __init__(self, site: Any, producer: dict[str, Any], remote: RemoteSite | None) -> None:
        self.site = site
        self.producer = producer
        self.producer_url = producer["name"]
        self.remote = remote
        self.requests = 0
        self.subscriptions = _subscriptions(site, producer)

    # -- pages ---------------------------------------------------------------
    def apply_events(self, events: list[dict[str, Any]]) -> dict[str, int]:
        counts = {"synced": 0, "failed": 0, "held": 0}
        for event in events:
            sub = self.subscriptions.get(event["ref_doctype"])
            if sub is None:
                continue
            log = self.apply_event(sub, event)
            counts[{"Synced": "synced", "Skipped": "synced", "Failed": "failed", "Held": "held"}[log["status"]]] += 1
        return counts

    def apply_event(self, sub: Subscription, event: dict[str, Any]) -> dict[str, Any]:
        blocker = self._blocker(event)
        if blocker:
            return self._log(sub, event, Outcome("Held", error=f"held behind failed event {blocker}"), held_by=blocker)
        return self._log(sub, event, self.attempt(sub, event))

    def attempt(self, sub: Subscription, event: dict[str, Any]) -> Outcome:
        try:
            with self.site.db.savepoint():
                name = self._apply(sub, event)
            return Outcome("Synced", docname=name)
        except _NothingToDo as exc:
            return Outcome("Skipped", error=str(exc))
        except TransientError:
            raise
        except DocstreamError as exc:
            return Outcome("Failed", self.failed_docname(sub, event), f"{type(exc).__name__}: {exc.message}")
        except Exception as exc:  # a bug, or a shape nothing checked: this event's failure, not the page's
            log.exception("unexpected error applying event %s of %s", event.get("sequence"), self.producer_url)
            return Outcome("Failed", self.failed_docname(sub, event),
                           f"unexpected error (a bug in docstream, or a document this site can't take; the "
                           f"site's log has the traceback): {type(exc).__name__}: {str(exc)[:1000]}")

    def failed_docname(self, sub: Subscription, event: dict[str, Any]) -> str | None:
        """The local document a failed event is about, when that is known: the producer's name
        with use same name on; with it off, the local copy's name if there is one yet (a failed
        Create of a document not here has none: left empty)."""
        if sub.use_same_name:
            return event["docname"]
        try:
            return self.find_local(self.site.session("Administrator", ignore_permissions=True), sub, event["docname"])
        except DocstreamError:  # the local DocType itself is what failed: no name to give
            return None

    # -- one event -----------------------------------------------------------
    def session(self, event: dict[str, Any]) -> Session:
        """The session an event is applied in: its changes are logged here with the site they
        were first made on (``origin``) and the producer they came from (``source``, as that site
        names itself: ``via``), and are streamed to neither."""
        origin = event.get("origin") or self.producer_url
        source = event.get("via") if isinstance(event.get("via"), str) else self.producer_url
        return self.site.session(self.producer["user"], origin=origin, source=source, ignore_timestamp=True,
                                 in_sync=True)

    def _apply(self, sub: Subscription, event: dict[str, Any]) -> str | None:
        session = self.session(event)
        data = self.transform(session, sub, event)
        kind = event["update_type"]
        if kind == "Create":
            return self._upsert(session, sub, event["docname"], data)
        if kind == "Update":
            return self._update(session, sub, event["docname"], data)
        if kind == "Delete":
            return self._delete(session, sub, event["docname"])
        raise DocstreamError(f"unknown update type {kind!r}")

    def transform(self, session: Session, sub: Subscription, event: dict[str, Any]) -> Any:
        """The map step: a Document Type Mapping turns the remote shape into the local one."""
        if sub.mapping:
            from docstream.streaming.mapping import map_event

            return map_event(session, sub, event, self)
        return event.get("data")

    def _upsert(self, session: Session, sub: Subscription, remote_name: str, data: dict[str, Any]) -> str:
        meta = session.meta(sub.local_doctype)
        doc = clean(meta, data, session)
        self._localise_links(session, meta, doc)
        self._ensure_dependencies(session, meta, doc)
        return self._store(session, sub, remote_name, doc, self._original(session, sub, data))

    def _store(self, session: Session, sub: Subscription, remote_name: str, doc: dict[str, Any],
               original: str | None = None) -> str:
        """Update the local copy of ``remote_name``, or insert one named per the subscription row.
        The producer's copy of a document of this site updates that ``original``; with use same
        name off, the remote fields are this site's (the producer's own say where its copy came from)."""
        if original is not None:
            return _replace(session, sub.local_doctype, original, _without(doc, REMOTE_NAME_FIELDS))
        local = self.find_local(session, sub, remote_name)
        if not sub.use_same_name:
            doc.pop("name", None)
            doc.update(remote_docname=remote_name, remote_site_name=self.producer_url)
        if local is not None:
            return _replace(session, sub.local_doctype, local, doc)
        if sub.use_same_name:
            doc["name"] = remote_name
        return insert_document(session, doc)

    def _original(self, session: Session, sub: Subscription, data: dict[str, Any]) -> str | None:
        """The document of this site that ``data`` — a copy the producer named itself, its remote
        fields naming this site — came from, if it is still here: a change to the copy is its change."""
        name, source = (data or {}).get("remote_docname"), (data or {}).get("remote_site_name")
        if not name or not source or not self.site.url or not same_site(str(source), self.site.url):
            return None
        return str(name) if session.exists(sub.local_doctype, str(name)) else None

    def _update(self, session: Session, sub: Subscription, remote_name: str, change: dict[str, Any]) -> str:
        local = self.find_local(session, sub, remote_name)
        if local is None:
            whole = self.fetch([[sub.remote_doctype, remote_name]])
            if whole.get("missing") or not whole.get("docs"):  # deleted there since: its Delete follows
                raise _NothingToDo(f"{sub.remote_doctype} {remote_name} is not here and the producer has deleted it "
                                   "since: nothing to update")
            remote_doc = whole["docs"][0]
            data = self.transform(session, sub, {"update_type": "Create", "data": remote_doc,
                                                 "docname": remote_name, "ref_doctype": sub.remote_doctype})
            return self._upsert(session, sub, remote_name, data)
        meta = session.meta(sub.local_doctype)
        current = session.get(sub.local_doctype, local)
        change = self._localise_change(session, meta, current, change)
        if not sub.use_same_name:  # the producer's remote fields describe its copy, not this one
            change["changed"] = _without(change.get("changed") or {}, REMOTE_NAME_FIELDS)
        new = clean(meta, apply_diff(current, change), session, keep_name=True)
        self._ensure_dependencies(session, meta, new)
        session.save({**new, "name": local})
        return local

    def _delete(self, session: Session, sub: Subscription, remote_name: str) -> str | None:
        local = self.find_local(session, sub, remote_name)
        if local is not None:
            session.delete(sub.local_doctype, local)
        return local

    def _localise_change(self, session: Session, meta: Any, current: dict[str, Any],
                         change: dict[str, Any]) -> dict[str, Any]:
        """An Update's own values (changed fields, added and changed rows) with local link names.
        The local document's other values are local already: translating them again would read a
        local name as the producer's."""
        change = copy.deepcopy(change or {})
        changed = change.get("changed") or {}
        self._localise_links(session, meta, changed, context={**current, **changed})
        for part in ("added", "row_changed"):
            for table, rows in (change.get(part) or {}).items():
                field = meta.get_field(table)
                if field is None or not field.is_table:
                    continue
                here = {row.get("name"): row for row in current.get(table) or []}
                for row in rows:
                    self._localise_links(session, session.meta(field.options), row,
                                         context={**here.get(row.get("name"), {}), **row})
        return change

    def _localise_links(self, session: Session, meta: Any, doc: dict[str, Any],
                        context: dict[str, Any] | None = None) -> None:
        """Links to documents this site names itself (use same name off) carry the producer's name:
        swap in the local name, syncing the linked document first when it isn't here yet. Only the
        values in ``doc`` are translated; ``context`` (``doc`` itself by default) says which DocType
        a Dynamic Link points at."""
        for field in meta.fields:
            value = doc.get(field.fieldname)
            if field.is_table:
                for row in value or []:
                    self._localise_links(session, session.meta(field.options), row)
                continue
            if value in (None, "") or field.fieldtype not in ("Link", "Dynamic Link"):
                continue
            target = field.options if field.fieldtype == "Link" else (context or doc).get(field.options)
            sub = self.subscriptions.get(target or "")
            if sub is None or sub.use_same_name or sub.local_doctype != target:
                continue
            doc[field.fieldname] = self._local_name_of(session, sub, str(value))

    def _local_name_of(self, session: Session, sub: Subscription, remote_name: str) -> str:
        local = self.find_local(session, sub, remote_name)
        if local is not None:
            return local
        answer = self.fetch([[sub.remote_doctype, remote_name]])
        if answer.get("missing") or not answer.get("docs"):
            raise LinkValidationError(f"{sub.remote_doctype} {remote_name} is linked to, but the producer no longer has it",
                                      doctype=sub.local_doctype)
        event = {"update_type": "Create", "data": answer["docs"][0], "docname": remote_name,
                 "ref_doctype": sub.remote_doctype}
        return self._upsert(session, sub, remote_name, self.transform(session, sub, event))

    def find_local(self, session: Session, sub: Subscription, remote_name: str) -> str | None:
        """The local document for a remote name, however the subscription row named it when it
        arrived: the copy that remembers it (remote_docname, remote_site_name); with use same name
        on, the document of that name; off, the one its last synced event went to (a copy made
        while the box was ticked: the sync log is read only then, not for every new document).
        Never an unrelated local one of the same name."""
        meta = session.meta(sub.local_doctype)
        if meta.has_field("remote_docname"):
            found = session.db.sql(
                f'SELECT name FROM "{meta.table_name}" WHERE remote_docname = ? AND remote_site_name = ?',
                (remote_name, self.producer_url),
            )
            if found:
                return found[0]["name"]
        if sub.use_same_name:  # every copy but one made with the box unticked (found above) has the name
            return remote_name if session.exists(sub.local_doctype, remote_name) else None
        return self._synced_to(session, sub, remote_name)

    def _synced_to(self, session: Session, sub: Subscription, remote_name: str) -> str | None:
        """The local document the last synced event of ``remote_name`` went to, if it is still here."""
        found = session.db.sql(
            'SELECT docname FROM "tabEvent Sync Log" WHERE event_producer = ? AND ref_doctype = ? '
            "AND producer_doc = ? AND status = 'Synced' AND docname IS NOT NULL ORDER BY sequence DESC LIMIT 1",
            (self.producer_url, sub.remote_doctype, remote_name),
        )
        local = found[0]["docname"] if found else None
        return local if local is not None and session.exists(sub.local_doctype, local) else None

    def remote_call(self, method: str, **args: Any) -> Any:
        if self.remote is None:
            raise TransientError(f"{self.producer_url} can't be reached for {method}")
        self.requests += 1
        return self.remote.call(method, **args)

    def insert_mapped_dependency(self, session: Session, doc: dict[str, Any]) -> str:
        """A document made by a Document mapping: reuse the local one of that name, or insert it."""
        meta = session.meta(doc["doctype"])
        clean_doc = clean(meta, doc, session)
        self._localise_links(session, meta, clean_doc)
        self._ensure_dependencies(session, meta, clean_doc)
        if meta.autoname.startswith("field:"):
            wanted = clean_doc.get(meta.autoname[len("field:"):].strip())
            if wanted and session.exists(meta.name, str(wanted)):
                return str(wanted)
        clean_doc.pop("name", None)
        return insert_document(session, clean_doc)

    def _ensure_dependencies(self, session: Session, meta: Any, doc: dict[str, Any]) -> None:
        ensure_dependencies(session, meta, doc, self.fetch, self.insert_dependency, self.has_copy)

    def _own_subscription(self, doctype: str) -> Subscription | None:
        """The subscription row that streams ``doctype`` into itself (not through a mapping)."""
        sub = self.subscriptions.get(doctype)
        return sub if sub is not None and sub.local_doctype == doctype else None

    def has_copy(self, session: Session, doctype: str, remote_name: str) -> bool:
        """Whether the producer's document ``remote_name`` is here, found as its events find it."""
        sub = self._own_subscription(doctype)
        if sub is None:
            return session.exists(doctype, remote_name)
        return self.find_local(session, sub, remote_name) is not None

    def insert_dependency(self, session: Session, remote_doc: dict[str, Any]) -> None:
        """A fetched dependency goes in as an event of its DocType would put it: named per its
        subscription row, links inside it made local. What it needs was fetched with it."""
        doctype, remote_name = remote_doc["doctype"], remote_doc["name"]
        unsubscribed = Subscription(doctype, doctype, use_same_name=True, mapping=None)  # the producer's name
        sub = self._own_subscription(doctype) or unsubscribed
        event = {"update_type": "Create", "data": remote_doc, "docname": remote_name, "ref_doctype": doctype}
        meta = session.meta(doctype)
        data = self.transform(session, sub, event)
        doc = clean(meta, data, session)
        self._localise_links(session, meta, doc)
        self._store(session, sub, remote_name, doc, self._original(session, sub, data))

    def fetch(self, docs: list[list[str]]) -> dict[str, Any]:
        answer = self.remote_call("docstream.streaming.get_documents", docs=docs)
        if not isinstance(answer, dict):
            raise DocstreamError(f"{self.producer_url} answered get_documents with an unexpected shape")
        return answer

    # -- sync logs -----------------------------------------------------------
    def _blocker(self, event: dict[str, Any]) -> str | None:
        found = self.site.db.sql(
            'SELECT name, status, held_by FROM "tabEvent Sync Log" WHERE event_producer = ? AND ref_doctype = ? '
            "AND producer_doc = ? AND status IN ('Failed', 'Held') ORDER BY sequence LIMIT 1",
            (self.producer_url, event["ref_doctype"], event["docname"]),
        )
        if not found:
            return None
        return found[0]["held_by"] or found[0]["name"]

    def _log(self, sub: Subscription, event: dict[str, Any], outcome: Outcome, held_by: str | None = None) -> dict:
        system = self.site.session("Administrator", ignore_permissions=True)
        values = {
            "update_type": event["update_type"], "ref_doctype": event["ref_doctype"], "status": outcome.status,
            "event_producer": self.producer_url, "producer_doc": event["docname"], "docname": outcome.docname,
            "use_same_name": int(sub.use_same_name), "mapping": sub.mapping, "sequence": event.get("sequence"),
            "data": None if event.get("data") is None else records.dumps(event["data"]), "error": outcome.error,
            "held_by": held_by, "event": records.dumps({k: v for k, v in event.items() if k != "data"}),
        }
        if not system.meta("Event Sync Log").has_field("event"):  # a site not migrated yet: the shape before
            del values["event"]
            values["data"] = records.dumps(event)
        return records.append(system, "Event Sync Log", values)


def end_subscription(db: Any, producer_url: str) -> None:
    """The subscription to ``producer_url`` ends (in the transaction deleting its Event Producer):
    its Failed and Held logs can never be resynced now, so they are closed as Skipped — kept as
    history, what they were and why at the start of their error — and hold nothing of a later
    subscription to the same producer, which begins again from the producer's state."""
    stamp = now()
    for status in ("Failed", "Held"):
        db.sql('UPDATE "tabEvent Sync Log" SET status = ?, modified = ?, error = ? || COALESCE(error, ?) '
               "WHERE event_producer = ? AND status = ?",
               ("Skipped", stamp, f"the subscription ended on {stamp} while this event was {status}: ", "",
                producer_url, status))


def _subscriptions(site: Any, producer: dict[str, Any]) -> dict[str, Subscription]:
    out = {}
    system = site.session("Administrator", ignore_permissions=True)
    for row in producer.get("producer_doctypes") or []:
        if row.get("unsubscribe") or row.get("status") != "Approved":
            continue
        remote_doctype, mapping = row["ref_doctype"], None
        if row.get("has_mapping") and row.get("mapping"):
            mapping = row["mapping"]
            remote_doctype = system.get("Document Type Mapping", mapping)["remote_doctype"]
        out[remote_doctype] = Subscription(row["ref_doctype"], remote_doctype, bool(row.get("use_same_name")), mapping)
    return out


def clean(meta: Any, data: dict[str, Any], session: Session, keep_name: bool = True) -> dict[str, Any]:
    """The remote document as local input: bookkeeping dropped, fields this site lacks dropped."""
    doc: dict[str, Any] = {"doctype": meta.name}
    for key, value in (data or {}).items():
        if key in BOOKKEEPING or key == "doctype" or not meta.is_known(key):
            continue
        field = meta.get_field(key)
        if field is not None and field.is_table:
            _check_rows(meta, field, value)
            child = session.meta(field.options)
            value = [{k: v for k, v in row.items() if k not in CHILD_BOOKKEEPING and child.is_known(k)}
                     for row in value or []]
        doc[key] = value
    if not keep_name:
        doc.pop("name", None)
    return doc


def _check_rows(meta: Any, field: Any, value: Any) -> None:
    """A Table field takes a list of rows: anything else means the two sites' DocTypes differ."""
    if value is None or (isinstance(value, list) and all(isinstance(row, dict) for row in value)):
        return
    raise ValidationError(f"{meta.name}.{field.fieldname} is a Table of {field.options} here, but the producer sent "
                          f"{type(value).__name__} {str(value)[:100]!r}: give the field the same type on both sites",
                          doctype=meta.name, field=field.fieldname)


def insert_document(session: Session, doc: dict[str, Any]) -> str:
    """Insert as it stands on the producer: a submitted document arrives submitted, a cancelled one cancelled."""
    docstatus = int(doc.get("docstatus") or 0)
    saved = session.insert({**doc, "docstatus": min(docstatus, 1)})
    if docstatus == 2:
        session.cancel(saved["doctype"], saved["name"])
    return saved["name"]


def _without(doc: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in fields}


def _replace(session: Session, doctype: str, name: str, doc: dict[str, Any]) -> str:
    current = int(session.get(doctype, name).get("docstatus") or 0)
    wanted = int(doc.get("docstatus") or 0)
    if wanted == 2 and current != 2:
        session.cancel(doctype, name)
    elif wanted >= current:  # a submitted document can't go back to draft: leave it as it is
        session.update(doctype, name, {k: v for k, v in doc.items() if k != "name"})
    return name
