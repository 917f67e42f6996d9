"""The sync dashboard (/app/event-streaming): per producer and per consumer, where syncing stands,
and charts of events per minute over the last hours."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from docstream.errors import PermissionError, ValidationError
from docstream.ui import charts
from docstream.ui.formview import streaming_call
from docstream.ui.home import Shortcut, streaming_doctypes
from docstream.ui.indicators import Indicator, indicator

HOURS = (1, 3, 6, 12, 24)
PRODUCER_COLUMNS = ("producer_url", "cursor", "behind", "failed", "last_success", "last_error", "next_attempt")
_CONSUMER_FIRST = ("consumer_url", "callback_url", "name", "status", "doctypes", "cursor", "behind",
                   "last_seen", "last_success", "last_error", "next_attempt")
COLOURS = {"produced": "#2490ef", "Synced": "#29a364", "Failed": "#e24c4c"}


@dataclass
class Dashboard:
    hours: int
    links: list[Shortcut]
    producers: list[dict[str, Any]] = field(default_factory=list)
    consumers: list[dict[str, Any]] = field(default_factory=list)
    consumer_columns: list[str] = field(default_factory=list)
    notice: str = ""
    charts: list[charts.Chart] = field(default_factory=list)


def load(session: Any, hours: int) -> Dashboard:
    links = [Shortcut(d, session.count(d)) for d in streaming_doctypes(session)]
    board = Dashboard(hours if hours in HOURS else HOURS[1], links)
    try:
        status = streaming_call("status", session)
    except PermissionError as exc:
        board.notice = exc.message
        status = {}
    except ValidationError:
        board.notice = "Live sync status is not available on this site; showing what the documents say."
        status = _status_from_documents(session)
    board.producers = [dict(p) for p in status.get("producers") or []]
    board.consumers = [_flat(c) for c in status.get("consumers") or []]
    board.consumer_columns = _columns(board.consumers)
    board.charts = _charts(session, board.hours)
    if board.producers and not board.consumers:
        board.charts.reverse()  # a consumer site: what it receives first
    return board


def _charts(session: Any, hours: int) -> list[charts.Chart]:
    minutes = charts.minutes_back(hours)
    since = minutes[0] + ":00"
    out = []
    try:
        produced = charts.per_minute(session, "Event Update Log", since)
        out.append(charts.build("Events produced here (Event Update Log)",
                                [charts.Series("produced", COLOURS["produced"], produced)], minutes))
    except PermissionError:
        pass
    try:
        series = [charts.Series(s.lower(), COLOURS[s], charts.per_minute(session, "Event Sync Log", since, [["status", "=", s]]))
                  for s in ("Synced", "Failed")]
        out.append(charts.build("Events received here (Event Sync Log)", series, minutes))
    except PermissionError:
        pass
    return out


def _status_from_documents(session: Any) -> dict[str, list[dict[str, Any]]]:
    """What can be told without the streaming engine: cursors, failures, consumers' approvals."""
    out: dict[str, list[dict[str, Any]]] = {"producers": [], "consumers": []}
    try:
        for p in session.get_list("Event Producer", fields=["name", "last_update"], limit_page_length=0):
            failed = session.count("Event Sync Log", {"event_producer": p["name"], "status": "Failed"})
            out["producers"].append({"producer_url": p["name"], "cursor": p.get("last_update"), "failed": failed})
    except PermissionError:
        pass
    try:
        for c in session.get_list("Event Consumer", fields=["name"], limit_page_length=0):
            doc = session.get("Event Consumer", c["name"])
            doctypes = {r["ref_doctype"]: r.get("status") for r in doc.get("consumer_doctypes") or []}
            out["consumers"].append({"callback_url": c["name"], "doctypes": doctypes})
    except PermissionError:
        pass
    return out


def _flat(row: Any) -> dict[str, Any]:
    """A consumer's status for table cells: its document types as indicators, other nested values as text."""
    if not isinstance(row, dict):
        return {"name": str(row)}
    out = {}
    for key, value in row.items():
        if key == "doctypes":
            out[key] = _doctype_indicators(value)
        elif isinstance(value, (dict, list)):
            out[key] = json.dumps(value, sort_keys=True, default=str)
        else:
            out[key] = value
    return out


def _doctype_indicators(value: Any) -> list[Indicator]:
    if isinstance(value, dict):
        value = [{"ref_doctype": k, "status": v} for k, v in value.items()]
    out = []
    for row in value or []:
        status = str(row.get("status") or "Pending") if isinstance(row, dict) else "Pending"
        name = row.get("ref_doctype") if isinstance(row, dict) else row
        label = f"{name}: {status}" + (" (unsubscribed)" if isinstance(row, dict) and row.get("unsubscribed") else "")
        out.append(indicator(status, label))
    return out


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    return [k for k in _CONSUMER_FIRST if k in keys] + [k for k in keys if k not in _CONSUMER_FIRST]


__all__ = ["HOURS", "PRODUCER_COLUMNS", "Dashboard", "load"]
