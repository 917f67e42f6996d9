"""Where streaming stands: per producer (this site consuming) and per consumer (this site producing)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from docstream.model.documents import Session
from docstream.model.types import DATETIME_FORMAT
from docstream.streaming import checkpoint
from docstream.streaming.updatelog import head


def status(session: Session) -> dict[str, Any]:
    session.check("Event Sync Log", "read")
    db = session.db
    failed = _counts(db, "Failed")
    held = _counts(db, "Held")
    producers = []
    for state in checkpoint.all_states(db):
        name = state["producer"]
        producers.append({
            "producer_url": name, "cursor": int(state["cursor"]), "head": int(state["head"]),
            "behind": max(0, int(state["head"]) - int(state["cursor"])),
            "failed": failed.get(name, 0), "held": held.get(name, 0),
            "last_success": state.get("last_success"), "last_error": state.get("last_error") if state.get("failures") else None,
            "next_attempt": _local_time(state.get("next_attempt")), "failures": int(state.get("failures") or 0),
            "rebaselined": state.get("rebaselined"),
        })
    return {"producers": producers, "consumers": _consumers(session)}


def _local_time(epoch: float | None) -> str | None:
    """A retry time as the other timestamps are given: local time, ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    return None if epoch is None else dt.datetime.fromtimestamp(float(epoch)).strftime(DATETIME_FORMAT)


def _counts(db: Any, status: str) -> dict[str, int]:
    rows = db.sql('SELECT event_producer, COUNT(*) AS n FROM "tabEvent Sync Log" WHERE status = ? '
                  "GROUP BY event_producer", (status,))
    return {r["event_producer"]: int(r["n"]) for r in rows}


def _consumers(session: Session) -> list[dict[str, Any]]:
    db = session.db
    top = head(session)
    progress = {r["consumer"]: r for r in db.sql('SELECT * FROM "__consumer_progress"')}
    out = []
    for consumer in db.sql('SELECT name FROM "tabEvent Consumer" ORDER BY name'):
        name = consumer["name"]
        rows = db.sql('SELECT ref_doctype, status, unsubscribed FROM "tabEvent Consumer Document Type" '
                      "WHERE parent = ? ORDER BY idx", (name,))
        seen = progress.get(name, {})
        cursor = int(seen.get("cursor") or 0)
        out.append({"callback_url": name, "cursor": cursor, "head": top, "behind": max(0, top - cursor),
                    "last_seen": seen.get("last_seen"), "doctypes": rows})
    return out
