"""Resync: replay a failed event, then the events held behind it, in order."""

from __future__ import annotations

from typing import Any

from docstream import deepjson
from docstream.errors import DoesNotExistError, ValidationError
from docstream.model.documents import Session
from docstream.streaming import checkpoint, records
from docstream.streaming.apply import Applier, Outcome
from docstream.streaming.producers import producer_remote


def resync(session: Session, sync_log: str) -> str:
    """Retry one failed event (and the chain held behind it); ``"Synced"``, ``"Failed"`` or
    ``"Skipped"`` (nothing left to do: an Update of a document the producer has deleted since)."""
    session.check("Event Sync Log", "write", sync_log)
    log = session.get("Event Sync Log", sync_log)
    if log["status"] == "Held":
        raise ValidationError(f"Event Sync Log {sync_log} is held behind {log.get('held_by')}: resync that one",
                              doctype="Event Sync Log", name=sync_log)
    site = session.site
    producer = _producer(site, log["event_producer"])
    applier = Applier(site, producer, producer_remote(site, producer))
    with site.db.transaction():
        # the producer's state row is what a pull's page transaction locks first: holding it, no
        # page can be holding events behind this one unseen while we replay the chain
        checkpoint.lock_producer(site.db, log["event_producer"])
        log = session.get("Event Sync Log", sync_log)
        held = _held_behind(site, log)
        chain = ([log] if log["status"] == "Failed" else []) + held  # a Synced log frees what waits on it
        for index, entry in enumerate(chain):
            outcome = _replay(applier, entry)
            _record(site, entry, outcome)
            if outcome.status == "Failed":
                _rehold(site, chain[index + 1:], entry["name"])
                break
    return session.get("Event Sync Log", sync_log)["status"]


def resync_all_failed(session: Session, event_producer: str | None = None) -> dict[str, int]:
    session.check("Event Sync Log", "write")
    filters: dict[str, Any] = {"status": "Failed"}
    if event_producer:
        filters["event_producer"] = event_producer
    names = [r["name"] for r in session.get_list("Event Sync Log", filters=filters, order_by="sequence asc",
                                                  limit_page_length=0)]
    counts = {"synced": 0, "failed": 0}
    for name in names:
        counts["failed" if resync(session, name) == "Failed" else "synced"] += 1  # Skipped: nothing left to do
    return counts


def _producer(site: Any, name: str) -> dict[str, Any]:
    system = site.session("Administrator", ignore_permissions=True)
    if not system.exists("Event Producer", name):
        raise DoesNotExistError(f"Event Producer {name} no longer exists", doctype="Event Producer", name=name)
    return system.get("Event Producer", name)


def _held_behind(site: Any, log: dict[str, Any]) -> list[dict[str, Any]]:
    system = site.session("Administrator", ignore_permissions=True)
    return system.get_list("Event Sync Log", fields=["*"], filters={
        "status": "Held", "event_producer": log["event_producer"], "ref_doctype": log["ref_doctype"],
        "producer_doc": log["producer_doc"]}, order_by="sequence asc", limit_page_length=0)


def _replay(applier: Applier, entry: dict[str, Any]) -> Outcome:
    event = _logged_event(entry)
    sub = applier.subscriptions.get(event["ref_doctype"])
    if sub is None:
        return Outcome("Failed", error=f"{event['ref_doctype']} is no longer subscribed and approved")
    return applier.attempt(sub, event)


def _logged_event(entry: dict[str, Any]) -> dict[str, Any]:
    """The event a sync log was written for: ``event`` holds all of it but its document data, which
    is in ``data``; a log written before ``event`` existed holds the whole event in ``data``."""
    data = deepjson.loads(entry["data"]) if entry.get("data") else None
    if not entry.get("event"):
        return data
    return {**deepjson.loads(entry["event"]), "data": data}


def _record(site: Any, entry: dict[str, Any], outcome: Outcome) -> None:
    system = site.session("Administrator", ignore_permissions=True)
    records.set_fields(system, "Event Sync Log", entry["name"], {
        "status": outcome.status, "error": outcome.error, "docname": outcome.docname or entry.get("docname"),
        "held_by": None,
    })


def _rehold(site: Any, rest: list[dict[str, Any]], blocker: str) -> None:
    system = site.session("Administrator", ignore_permissions=True)
    for entry in rest:
        records.set_fields(system, "Event Sync Log", entry["name"], {
            "held_by": blocker, "error": f"held behind failed event {blocker}"})
