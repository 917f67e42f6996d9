"""Compute and replay the difference between two versions of a document.

Why our own diff: the update-log wire format is Frappe's shape
(``changed`` / ``added`` / ``removed`` / ``row_changed``), and child rows are
matched by their ``name``.  Generic JSON-diff libraries emit JSON Patch paths
addressed by list index (``/items/3/qty``), which silently point at the wrong
row as soon as the receiving side has inserted, deleted or reordered rows.
Matching by name keeps each change attached to the row it was made on.

Semantics:

* A key absent from a document is the same as the key set to ``None``.
* A *table* is a value that is a list of dicts (an empty list counts).  Any
  other change, including a list turning into a non-list or back, is reported
  under ``changed`` with the whole new value.
* ``True`` and ``1`` are different values (JSON tells them apart), while
  ``1`` and ``1.0`` are the same number.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from docstream.errors import ValidationError

DEFAULT_IGNORED: frozenset[str] = frozenset(
    {"modified", "modified_by", "creation", "owner", "doctype", "name"}
)
ROW_IGNORED: frozenset[str] = frozenset(
    {"parent", "parentfield", "parenttype", "doctype", "modified", "modified_by", "creation", "owner"}
)
_TABLE_KEYS = ("added", "removed", "row_changed")
_SCALARS = (str, int, float, type(None))


def diff(
    old: Mapping[str, Any], new: Mapping[str, Any], *, ignore: Iterable[str] = DEFAULT_IGNORED
) -> dict[str, Any]:
    """Return the update log that turns ``old`` into ``new`` (see :func:`apply`)."""
    ignored = frozenset(ignore)
    out: dict[str, Any] = {"changed": {}, "added": {}, "removed": {}, "row_changed": {}}
    for key in _ordered_keys(old, new):
        if key in ignored:
            continue
        before, after = old.get(key), new.get(key)
        if type(before) is type(after) and isinstance(before, _SCALARS) and before == after:
            continue  # most fields (containers are compared deeply: False == 0 inside them too)
        if _is_table(before) and _is_table(after):
            _diff_table(key, before, after, out)
        elif not _same(before, after):
            out["changed"][key] = after if isinstance(after, _SCALARS) else copy.deepcopy(after)
    return out


def apply(doc: Mapping[str, Any], d: Mapping[str, Any]) -> dict[str, Any]:
    """Return a new document: ``doc`` with the update log ``d`` replayed on it.

    Lenient on purpose, so that a log can be replayed on a copy that drifted:
    a changed row that is missing is appended, and an added row whose name
    already exists replaces it instead of being duplicated.
    """
    out = copy.deepcopy(dict(doc))
    out.update(copy.deepcopy(d.get("changed") or {}))
    for table in _touched_tables(d):
        current = out.get(table)
        rows = list(current) if _is_table(current) else []
        rows = _drop_rows(rows, _section(d, "removed", table))
        rows = _update_rows(rows, _section(d, "row_changed", table))
        rows = _add_rows(rows, _section(d, "added", table))
        out[table] = [_with_parent(row, out, table) for row in sorted(rows, key=_idx_key)]
    return out


def is_empty(d: Mapping[str, Any]) -> bool:
    """True when the update log ``d`` changes nothing."""
    if d.get("changed"):
        return False
    return not any(rows for key in _TABLE_KEYS for rows in (d.get(key) or {}).values())


# -- diffing helpers ---------------------------------------------------------


def _ordered_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return list(old) + [key for key in new if key not in old]


def _is_table(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(row, dict) for row in value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _rows_by_name(table: str, rows: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    by_name: dict[Any, dict[str, Any]] = {}
    for row in rows:
        name = row.get("name")
        if name is None or name in by_name:
            problem = "a row without a name" if name is None else f"duplicate row name {name!r}"
            raise ValidationError(f"Table {table!r} has {problem}", name=name, field=table)
        by_name[name] = row
    return by_name


def _diff_table(table: str, old_rows: list, new_rows: list, out: dict[str, Any]) -> None:
    before, after = _rows_by_name(table, old_rows), _rows_by_name(table, new_rows)
    removed = [name for name in before if name not in after]
    added = [copy.deepcopy(row) for name, row in after.items() if name not in before]
    changed = [
        change
        for name, row in after.items()
        if name in before and (change := _diff_row(before[name], row))
    ]
    for key, value in (("removed", removed), ("added", added), ("row_changed", changed)):
        if value:
            out[key][table] = value


def _diff_row(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    fields = {
        key: copy.deepcopy(new.get(key))
        for key in _ordered_keys(old, new)
        if key not in ROW_IGNORED and key != "name" and not _same(old.get(key), new.get(key))
    }
    if not fields:
        return None
    return {"name": new["name"], "idx": new.get("idx"), **fields}


# -- applying helpers --------------------------------------------------------


def _touched_tables(d: Mapping[str, Any]) -> list[str]:
    tables: list[str] = []
    for key in _TABLE_KEYS:
        tables += [table for table in d.get(key) or {} if table not in tables]
    return tables


def _section(d: Mapping[str, Any], key: str, table: str) -> list[Any]:
    return list((d.get(key) or {}).get(table) or [])


def _drop_rows(rows: list[dict[str, Any]], names: Iterable[Any]) -> list[dict[str, Any]]:
    gone = set(names)
    return [row for row in rows if row.get("name") not in gone]


def _update_rows(rows: list[dict[str, Any]], changes: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    by_name = {row.get("name"): row for row in rows}
    for change in changes:
        row = by_name.get(change.get("name"))
        if row is None:
            row = {}
            rows.append(row)
            by_name[change.get("name")] = row
        row.update(copy.deepcopy(change))
    return rows


def _add_rows(rows: list[dict[str, Any]], added: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    for new_row in added:
        rows = [row for row in rows if row.get("name") != new_row.get("name")]
        rows.append(copy.deepcopy(new_row))
    return rows


def _with_parent(row: dict[str, Any], doc: Mapping[str, Any], table: str) -> dict[str, Any]:
    row.setdefault("parent", doc.get("name"))
    row.setdefault("parentfield", table)
    row.setdefault("parenttype", doc.get("doctype"))
    return row


def _idx_key(row: Mapping[str, Any]) -> tuple[int, Any]:
    """Rows sort by idx; rows without a numeric idx go last, in their current order."""
    idx = row.get("idx")
    is_number = isinstance(idx, int | float) and not isinstance(idx, bool)
    return (0, idx) if is_number else (1, 0)


__all__ = ["DEFAULT_IGNORED", "apply", "diff", "is_empty"]
