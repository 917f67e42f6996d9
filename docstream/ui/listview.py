"""The list view: columns from ``in_list_view``, filters from the URL, sorting, paging, counts.

Filters are query parameters, as Frappe's route options: ``/app/event-sync-log?status=Failed``.
Text fields match by ``like``; Select, Link, Check, numbers and dates match exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from docstream.errors import ValidationError
from docstream.model.meta import DocField, Meta
from docstream.ui.formview import permissions, streaming_call
from docstream.ui.indicators import ROW_STATUS_TABLES, Indicator, row_indicators
from docstream.ui.urls import list_url

PAGE_LENGTHS = (20, 100, 500)
MAX_COLUMNS = 6
_EXACT = frozenset({"Select", "Link", "Dynamic Link", "Check", "Int", "Float", "Currency", "Percent", "Date", "Datetime", "Time"})
_FILTERABLE = _EXACT | {"Data", "Small Text", "Text", "Long Text", "Code", "Read Only", "Phone"}


@dataclass
class ListState:
    meta: Meta
    columns: list[DocField]
    rows: list[dict[str, Any]]
    total: int
    page: int
    page_length: int
    order_by: str
    active: dict[str, str]
    perms: dict[str, bool]
    row_status: dict[str, list[Indicator]] = field(default_factory=dict)
    message: str = ""
    flash: str = ""

    @property
    def first(self) -> int:
        return (self.page - 1) * self.page_length + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0

    def url(self, **changes: Any) -> str:
        """This list's URL with some parameters changed (paging, sorting, page length)."""
        params: dict[str, Any] = {**self.active, "order_by": self.order_by, "page_length": self.page_length}
        params.update(changes)
        if params.get("order_by") == self.meta.default_order:
            params.pop("order_by")
        if params.get("page_length") == PAGE_LENGTHS[0]:
            params.pop("page_length")
        if params.get("page") == 1:
            params.pop("page")
        return list_url(self.meta.name, **params)

    def sort_url(self, fieldname: str) -> str:
        current, _, direction = self.order_by.partition(" ")
        flip = "asc" if current == fieldname and direction == "desc" else "desc"
        return self.url(order_by=f"{fieldname} {flip}", page=1)


def columns(meta: Meta) -> list[DocField]:
    listed = [f for f in meta.value_fields if f.in_list_view and not f.hidden and f.fieldtype != "Password"]
    return listed[:MAX_COLUMNS]


def shown_columns(meta: Meta) -> list[DocField]:
    """The columns of the table: the listed fields less the status, which the indicator shows."""
    return [f for f in columns(meta) if not (f.fieldname == "status" and f.fieldtype == "Select")
            and f.fieldname != meta.title_field]


def filter_fields(meta: Meta) -> list[DocField]:
    """The fields of the filter bar: listed fields that can be filtered on."""
    return [f for f in columns(meta) if f.fieldtype in _FILTERABLE]


def build_filters(meta: Meta, params: dict[str, str]) -> tuple[list[list[Any]], dict[str, str]]:
    """``[[field, op, value]]`` for the Session, and the active filters to show (and keep in links)."""
    filters: list[list[Any]] = []
    active: dict[str, str] = {}
    for key, value in params.items():
        value = value.strip()
        if not value:
            continue
        if key == "name":
            filters.append(["name", "like", f"%{value}%"])
        elif (f := meta.get_field(key)) is not None and f.has_value and not f.is_table and f.fieldtype != "Password":
            filters.append([key, "=", value] if f.fieldtype in _EXACT else [key, "like", f"%{value}%"])
        else:
            continue
        active[key] = value
    return filters, active


def load(session: Any, meta: Meta, params: dict[str, str], flash: str = "") -> ListState:
    filters, active = build_filters(meta, params)
    page_length = _int(params.get("page_length"), PAGE_LENGTHS[0], PAGE_LENGTHS)
    page = max(1, _int(params.get("page"), 1))
    try:
        order_by, message = _order(meta, params.get("order_by")), ""
    except ValidationError as exc:
        order_by, message = meta.default_order, exc.message
    cols = columns(meta)
    fields = list(dict.fromkeys(["name", "modified", "docstatus", *[f.fieldname for f in cols], *_extra_fields(meta)]))
    rows = session.get_list(meta.name, fields=fields, filters=filters, order_by=order_by,
                            limit_start=(page - 1) * page_length, limit_page_length=page_length)
    state = ListState(meta, shown_columns(meta), rows, session.count(meta.name, filters), page, page_length, order_by, active,
                      permissions(session, meta), message=message, flash=flash)
    if meta.name in ROW_STATUS_TABLES:
        state.row_status = {r["name"]: row_indicators(meta, session.get(meta.name, r["name"])) for r in rows}
    return state


def resync_all_failed(session: Any) -> str:
    """Retry every failed Event Sync Log; the list URL that reports how it went."""
    result = streaming_call("resync_all_failed", session)
    counts = result if isinstance(result, dict) else {}
    return list_url("Event Sync Log", done="resync-all", synced=counts.get("synced"), failed=counts.get("failed"))


def flash_message(params: dict[str, str]) -> str:
    done = params.get("done")
    if done == "deleted":
        return "Deleted"
    if done == "resync-all":
        synced, failed = _int(params.get("synced"), -1), _int(params.get("failed"), -1)
        if synced < 0 or failed < 0:
            return "Resynced the failed events"
        return f"Resynced the failed events: {synced} synced, {failed} still failed"
    return ""


def _extra_fields(meta: Meta) -> list[str]:
    extra = [meta.title_field] if meta.title_field and meta.has_field(meta.title_field) else []
    status = meta.get_field("status")
    if status is not None and status.fieldtype == "Select":
        extra.append("status")
    if meta.name == "User":
        extra.append("enabled")
    return extra


def _order(meta: Meta, raw: str | None) -> str:
    if not raw:
        return meta.default_order
    fieldname, _, direction = raw.strip().partition(" ")
    direction = direction.strip().lower() or "asc"
    f = meta.get_field(fieldname)
    sortable = fieldname in meta.std_fields or (f is not None and f.has_value and not f.is_table)
    if not sortable or direction not in ("asc", "desc"):
        raise ValidationError(f"can't sort {meta.name} by {raw!r}", doctype=meta.name)
    return f"{fieldname} {direction}"


def _int(raw: Any, default: int, allowed: tuple[int, ...] = ()) -> int:
    try:
        value = int(str(raw))
    except ValueError:
        return default
    return value if not allowed or value in allowed else default


__all__ = ["PAGE_LENGTHS", "ListState", "build_filters", "columns", "filter_fields", "flash_message", "load", "resync_all_failed"]
