"""From a posted desk form to the changes of a document.

Inputs are named by fieldname; a grid's cells ``{table}.{rowkey}.{fieldname}`` (row order is
the order of the posted fields), with ``{table}.{rowkey}.name`` keeping an existing row's
name and a marker ``__table.{table}`` telling that the grid was on the page (so an emptied
grid empties the table). A Check posts a hidden ``0`` then, when ticked, ``1``: the last value
wins. Only editable fields are taken; a read-only cell keeps the stored row's value. An empty
Password input leaves the stored secret as it is.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from docstream.model.meta import DocField, Meta
from docstream.ui.layout import is_editable

TABLE_MARKER = "__table."
NEW_NAME = "__newname"
_CELL = re.compile(r"^(?P<table>[a-z_][a-z0-9_]*)\.(?P<key>[A-Za-z0-9_-]{1,40})\.(?P<field>[a-z_][a-z0-9_]*)$")


def new_row_key() -> str:
    return "n" + secrets.token_hex(4)


def parse(meta: Meta, form: Any, get_meta: Any, old: dict[str, Any] | None) -> dict[str, Any]:
    """The changes a form posts: editable fields that were on the page, and whole tables."""
    values = _last_values(form)
    changes: dict[str, Any] = {}
    for f in meta.fields:
        if not is_editable(f):
            continue
        if f.is_table:
            if TABLE_MARKER + f.fieldname in values:
                old_rows = (old or {}).get(f.fieldname) or []
                changes[f.fieldname] = _rows(get_meta(f.options), _cells(form, f.fieldname), old_rows)
        elif f.fieldname in values:
            value = _value(f, values[f.fieldname])
            if not (f.fieldtype == "Password" and value is None):
                changes[f.fieldname] = value
    if values.get("modified"):
        changes["modified"] = values["modified"]
    if old is None and values.get(NEW_NAME, "").strip():
        changes["name"] = values[NEW_NAME].strip()
    return changes


def rows_with(form: Any, meta: Meta, get_meta: Any, table: str, old: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The rows of ``table`` as posted (for re-showing a form without saving it)."""
    field = meta.get_field(table)
    if field is None or not field.is_table:
        return []
    return _rows(get_meta(field.options), _cells(form, table), (old or {}).get(table) or [], keep_keys=True)


def _last_values(form: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            out[key] = value
    return out


def _cells(form: Any, table: str) -> dict[str, dict[str, str]]:
    """Posted grid cells of ``table``, grouped by row key in the order they came."""
    rows: dict[str, dict[str, str]] = {}
    for key, value in form.multi_items():
        match = _CELL.match(key)
        if match and match["table"] == table and isinstance(value, str):
            rows.setdefault(match["key"], {})[match["field"]] = value
    return rows


def _rows(
    child: Meta, cells: dict[str, dict[str, str]], old_rows: list[dict[str, Any]], keep_keys: bool = False,
) -> list[dict[str, Any]]:
    by_name = {r.get("name"): r for r in old_rows if r.get("name")}
    out = []
    for key, posted in cells.items():
        base = by_name.get(posted.get("name") or "\0")
        row: dict[str, Any] = {f.fieldname: base.get(f.fieldname) for f in child.value_fields} if base else {}
        if base:
            row["name"] = base["name"]
        for f in child.value_fields:
            if is_editable(f) and f.fieldname in posted:
                row[f.fieldname] = _value(f, posted[f.fieldname])
        if not base and not keep_keys and not _filled(child, row):
            continue
        if keep_keys:
            row["__key"] = key
        out.append(row)
    return out


def _filled(child: Meta, row: dict[str, Any]) -> bool:
    """A new row with nothing typed in it is dropped, as Frappe drops blank grid rows."""
    return any(row.get(f.fieldname) not in (None, "", 0) for f in child.value_fields if is_editable(f))


def _value(f: DocField, raw: str) -> Any:
    if f.fieldtype == "Check":
        return 1 if raw in ("1", "on", "true") else 0
    if raw.strip() == "" and f.fieldtype not in ("Code", "Long Text", "Text", "Small Text"):
        return None
    if f.fieldtype == "Datetime":
        return raw.replace("T", " ")
    return raw if raw != "" else None


__all__ = ["NEW_NAME", "TABLE_MARKER", "new_row_key", "parse", "rows_with"]
