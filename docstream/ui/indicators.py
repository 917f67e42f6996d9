"""Status indicators: the coloured pills of lists, forms and grids (Frappe's colours)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from docstream.model.meta import Meta

COLOURS = {
    "Pending": "orange", "Approved": "green", "Rejected": "red",
    "Synced": "green", "Failed": "red", "Held": "orange", "Skipped": "gray",
    "Open": "orange", "Closed": "green", "Cancelled": "red",
    "Create": "blue", "Update": "orange", "Delete": "red",
    "Draft": "red", "Submitted": "blue", "Enabled": "green", "Disabled": "gray",
}
DOCSTATUS = {0: "Draft", 1: "Submitted", 2: "Cancelled"}
# child tables whose row statuses a parent's list shows
ROW_STATUS_TABLES = {"Event Producer": "producer_doctypes", "Event Consumer": "consumer_doctypes"}


@dataclass(frozen=True)
class Indicator:
    label: str
    colour: str


def colour(value: Any) -> str:
    return COLOURS.get(str(value), "gray")


def indicator(value: Any, label: str | None = None) -> Indicator:
    return Indicator(label or str(value), colour(value))


def doc_indicator(meta: Meta, doc: dict[str, Any]) -> Indicator | None:
    """The one indicator of a document: its status field, else its docstatus, else enabled."""
    if meta.is_submittable:
        return indicator(DOCSTATUS.get(int(doc.get("docstatus") or 0), "Draft"))
    status = meta.get_field("status")
    if status is not None and status.fieldtype == "Select" and doc.get("status"):
        return indicator(doc["status"])
    if meta.name == "User" and doc.get("enabled") is not None:
        return indicator("Enabled" if doc.get("enabled") else "Disabled")
    return None


def row_indicators(meta: Meta, doc: dict[str, Any]) -> list[Indicator]:
    """Per-row statuses (Event Producer / Event Consumer document types): ``Item: Approved``."""
    table = ROW_STATUS_TABLES.get(meta.name)
    if not table:
        return []
    return [indicator(row.get("status") or "Pending", f"{row.get('ref_doctype')}: {row.get('status') or 'Pending'}")
            for row in doc.get(table) or []]


__all__ = ["COLOURS", "ROW_STATUS_TABLES", "Indicator", "colour", "doc_indicator", "indicator", "row_indicators"]
