"""Forms generated from meta: sections and columns, the widget of each field type, and the
text a value shows as (in an input, or read-only)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from docstream.model.meta import FLOAT_TYPES, DocField, Meta

_WIDGETS = {
    "Check": "check", "Select": "select", "Link": "link", "Dynamic Link": "link",
    "Table": "table", "Table MultiSelect": "table", "Password": "password",
    "Int": "int", "Date": "date", "Datetime": "datetime", "Time": "time",
    "Small Text": "textarea", "Text": "textarea", "Long Text": "textarea", "Text Editor": "textarea",
    "Markdown Editor": "textarea", "HTML Editor": "code", "Code": "code", "JSON": "code",
    "Color": "color", "Read Only": "readonly",
}
_SKIPPED = frozenset({"HTML", "Button", "Heading"})


@dataclass
class Section:
    label: str
    columns: list[list[DocField]] = field(default_factory=lambda: [[]])

    @property
    def fields(self) -> list[DocField]:
        return [f for column in self.columns for f in column]


def sections(meta: Meta) -> list[Section]:
    """Fields grouped as the form shows them: Section Break opens a section, Column Break a column."""
    out = [Section("")]
    for f in meta.fields:
        if f.fieldtype in ("Section Break", "Tab Break"):
            out.append(Section(f.label))
        elif f.fieldtype == "Column Break":
            out[-1].columns.append([])
        elif not f.hidden and f.fieldtype not in _SKIPPED:
            out[-1].columns[-1].append(f)
    for section in out:
        section.columns = [c for c in section.columns if c] or [[]]
    return [s for s in out if s.fields]


def widget(f: DocField) -> str:
    if f.fieldtype in FLOAT_TYPES:
        return "float"
    return _WIDGETS.get(f.fieldtype, "text")


def is_editable(f: DocField) -> bool:
    return not f.read_only and not f.hidden and f.fieldtype != "Read Only" and f.has_value


def grid_fields(meta: Meta) -> list[DocField]:
    """The columns of a child table's grid: every visible value field."""
    return [f for f in meta.value_fields if not f.hidden]


def link_target(f: DocField, doc: dict[str, Any]) -> str:
    """The DocType a Link (or Dynamic Link, through its type field) points at."""
    return f.options if f.fieldtype == "Link" else str(doc.get(f.options) or "")


def input_value(f: DocField, value: Any) -> str:
    """The text an input shows for ``value`` (never a password)."""
    if value is None or f.fieldtype == "Password":
        return ""
    if f.fieldtype == "Datetime":
        return str(value).replace(" ", "T")[:19]
    if f.fieldtype == "JSON" and not isinstance(value, str):
        return json.dumps(value, indent=2, sort_keys=True, default=str)
    if f.fieldtype in FLOAT_TYPES and isinstance(value, float):
        return _number(value)
    return str(value)


def pretty_text(f: DocField, value: Any) -> str:
    """A long text as it reads best: JSON held in text (an event's data) indented."""
    text = input_value(f, value)
    if text[:1] in ("{", "[") and f.fieldtype != "JSON":
        try:
            return json.dumps(json.loads(text), indent=2, sort_keys=True, default=str)
        except ValueError:
            return text
    return text


def display_value(f: DocField, value: Any) -> str:
    """The text a read-only field shows."""
    if f.fieldtype == "Password":
        return "••••••••" if value else ""
    if f.fieldtype == "Check":
        return "Yes" if value in (1, "1", True) else "No"
    if value in (None, ""):
        return ""
    if f.fieldtype == "Currency" and isinstance(value, (int, float)):
        return f"{value:,.2f}"
    if f.fieldtype == "Percent" and isinstance(value, (int, float)):
        return f"{_number(value)}%"
    return input_value(f, value).replace("T", " ") if f.fieldtype == "Datetime" else input_value(f, value)


def pretty_date(value: Any, now: dt.datetime | None = None) -> str:
    """``5 minutes ago`` for a timestamp string, as Frappe's lists show ``modified``."""
    if not value:
        return ""
    try:
        stamp = dt.datetime.fromisoformat(str(value).replace("T", " ")[:26])
    except ValueError:
        return str(value)
    seconds = int(((now or dt.datetime.now()) - stamp).total_seconds())
    for limit, unit, size in ((60, "", 1), (3600, "minute", 60), (86400, "hour", 3600), (86400 * 30, "day", 86400)):
        if seconds < limit:
            if not unit:
                return "just now"
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return stamp.strftime("%Y-%m-%d")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


__all__ = [
    "Section", "display_value", "pretty_text", "grid_fields", "input_value", "is_editable", "link_target",
    "pretty_date", "sections", "widget",
]
