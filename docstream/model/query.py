"""Filters, field lists and ordering for list queries, in Frappe's shapes.

filters: ``{"field": value}``, ``{"field": ["op", value]}``, ``[["field", "op", value]]`` or
``[["Doctype", "field", "op", value]]`` (a child DocType's field: matched with EXISTS).
Every field name is checked against the meta and every value is a bound parameter.

A list request is refused (ValidationError, 417) beyond the limits below, before any SQL is
built: well past real use, and below what either database takes in one statement (SQLite's
expression depth of 1000, 2000 result columns, 32766 parameters in its default build;
PostgreSQL's 1664 result columns and 65535 parameters), whose errors would otherwise surface as
a server fault.
"""

from __future__ import annotations

import json
import re
from typing import Any

from docstream.errors import ValidationError
from docstream.model.meta import DocField, Meta
from docstream.model.types import coerce
from docstream.storage import quote

MAX_FILTERS = 200  # filters in one list request
MAX_FIELDS = 500  # fields named in one list request ("*" counts as one)
MAX_ORDER_TERMS = 100  # columns in one order_by
MAX_FILTER_VALUES = 30_000  # values bound by one request's filters (each of an "in" list's values counts)

OPERATORS = {"=", "!=", ">", "<", ">=", "<=", "like", "not like", "in", "not in", "is", "between"}
_STD_TYPES = {"creation": "Datetime", "modified": "Datetime", "docstatus": "Int", "idx": "Int"}
_NOT_NULL = frozenset({"name", "creation", "modified", "docstatus", "idx"})
_ORDER = re.compile(r"^\s*`?(?:tab[\w ]+`?\.`?)?(\w+)`?\s*(asc|desc)?\s*$", re.IGNORECASE)


def parse_json_arg(value: Any, what: str) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"{what} is not valid JSON: {exc.msg}") from exc
        except RecursionError:
            raise ValidationError(f"{what} is not valid JSON: it is nested too deeply") from None
    return value


def normalise_filters(filters: Any, doctype: str) -> list[tuple[str, str, str, Any]]:
    """Any accepted shape → ``[(doctype, field, op, value)]``."""
    filters = parse_json_arg(filters, "filters")
    if not filters:
        return []
    out = []
    if isinstance(filters, dict):
        if len(filters) > MAX_FILTERS:
            _too_many(len(filters), MAX_FILTERS, "filters")
        for field, cond in filters.items():
            if isinstance(cond, (list, tuple)) and len(cond) == 2 and str(cond[0]).lower() in OPERATORS:
                out.append((doctype, field, str(cond[0]).lower(), cond[1]))
            else:
                out.append((doctype, field, "=", cond))
        return out
    if not isinstance(filters, list):
        raise ValidationError("filters must be a JSON object or a list of [field, operator, value]")
    # what this function returned (4-tuples, which JSON can't give) was counted when it was made;
    # the site may add its own filters to it (a child table's parenttype)
    if len(filters) > MAX_FILTERS and not all(type(item) is tuple and len(item) == 4 for item in filters):
        _too_many(len(filters), MAX_FILTERS, "filters")
    for item in filters:
        if not isinstance(item, (list, tuple)) or len(item) not in (3, 4):
            raise ValidationError(f"a filter must be [field, operator, value], got {item!r}")
        dt, field, op, value = (doctype, *item) if len(item) == 3 else item
        if not isinstance(dt, str):
            raise ValidationError(f"a filter's DocType must be a DocType name, got {dt!r}")
        out.append((dt, field, str(op).lower(), value))
    return out


def where_clause(
    meta: Meta, filters: Any, get_meta: Any, alias: str = "t",
) -> tuple[str, list[Any]]:
    parts: list[str] = []
    params: list[Any] = []
    for dt, field, op, value in normalise_filters(filters, meta.name):
        if dt == meta.name:
            _check_field(meta, field)
            if field == "name" and meta.named_by_key and op in ("=", "in"):
                sql, p = _by_key(meta, alias, op, value)
            else:
                sql, p = _condition(f"{alias}.{quote(field)}", op, value, _field(meta, field))
        else:
            child = get_meta(dt)
            if not child.istable or dt not in {f.options for f in meta.table_fields}:
                raise ValidationError(f"{dt} is not a child table of {meta.name}", doctype=meta.name)
            _check_field(child, field)
            inner, p = _condition(f"c.{quote(field)}", op, value, _field(child, field))
            sql = (
                f"EXISTS (SELECT 1 FROM {quote(child.table_name)} c "
                f"WHERE c.parent = {alias}.name AND c.parenttype = ? AND {inner})"
            )
            p = [meta.name, *p]
        parts.append(sql)
        params.extend(p)
        if len(params) > MAX_FILTER_VALUES:
            raise ValidationError(f"the filters of a list request may bind at most {MAX_FILTER_VALUES} values "
                                  "(each value of an 'in' list counts); these bind more")
    return (" AND ".join(parts) or "1=1"), params


def _too_many(count: int, limit: int, what: str) -> None:
    raise ValidationError(f"a list request may have at most {limit} {what}; this one has {count}")


def _by_key(meta: Meta, alias: str, op: str, value: Any) -> tuple[str, list[Any]]:
    """``name =`` / ``name in`` in a table keyed by an Int: the same rows found by the key (the
    name is the key written out, and has no index of its own)."""
    names = [value] if op == "=" else value.split(",") if isinstance(value, str) else list(value or [])
    keys = [k for k in (meta.key_of(_scalar(n, None)) for n in names) if k is not None]
    if not keys:
        return "1=0", []
    return f"{alias}.{quote(meta.keyed_by)} IN ({', '.join('?' for _ in keys)})", keys


def _check_field(meta: Meta, field: str) -> None:
    if not isinstance(field, str) or not (meta.is_known(field) and field != "doctype"):
        raise ValidationError(f"{meta.name} has no field {field!r}", doctype=meta.name, field=str(field))
    f = meta.get_field(field)
    if f is not None and (f.is_table or not f.has_value):
        raise ValidationError(f"{meta.name}.{field} can't be filtered on", doctype=meta.name, field=field)


def _field(meta: Meta, fieldname: str) -> DocField:
    """The DocField a filter compares against (standard columns have implied types)."""
    return meta.get_field(fieldname) or DocField(fieldname, _STD_TYPES.get(fieldname, "Data"))


def _condition(column: str, op: str, value: Any, field: DocField) -> tuple[str, list[Any]]:
    """SQL for one filter. Values are compared as the field's type (so both backends agree), ``like``
    ignores case and the negative operators count an empty (NULL) value as different, as in Frappe."""
    if op not in OPERATORS:
        raise ValidationError(f"unknown filter operator {op!r}")
    if op in ("in", "not in"):
        values = value.split(",") if isinstance(value, str) else list(value or [])
        if not values:
            return ("1=0" if op == "in" else "1=1"), []
        marks = ", ".join("?" for _ in values)
        sql = f"{column} {op.upper()} ({marks})"
        if op == "not in" and "" not in values:
            sql = f"({column} IS NULL OR {sql})"
        return sql, [_scalar(v, field) for v in values]
    if op == "is":
        if value not in ("set", "not set"):
            raise ValidationError("the 'is' operator takes 'set' or 'not set'")
        return (f"({column} IS NOT NULL AND CAST({column} AS TEXT) != '')" if value == "set"
                else f"({column} IS NULL OR CAST({column} AS TEXT) = '')"), []
    if op == "between":
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ValidationError("'between' takes [from, to]")
        return f"{column} BETWEEN ? AND ?", [_scalar(value[0], field), _scalar(value[1], field)]
    if op in ("like", "not like"):
        sql = f"LOWER(CAST({column} AS TEXT)) {op.upper()} LOWER(?)"
        return (f"({column} IS NULL OR {sql})" if op == "not like" else sql), [str(_scalar(value, None))]
    if value is None and op in ("=", "!="):
        return f"{column} IS {'NOT ' if op == '!=' else ''}NULL", []
    if op == "!=" and value != "":
        return f"({column} IS NULL OR {column} != ?)", [_scalar(value, field)]
    return f"{column} {op} ?", [_scalar(value, field)]


def _scalar(value: Any, field: DocField | None) -> Any:
    if isinstance(value, (dict, list, tuple)):
        raise ValidationError(f"a filter value must be a single value, got {value!r}")
    if isinstance(value, bool):
        value = int(value)
    if field is None or value is None or field.fieldtype == "JSON":
        return value
    return coerce(field, value)


def order_clause(meta: Meta, order_by: str | None, alias: str = "t") -> str:
    if not order_by:
        field, direction = meta.default_order.split(" ")
        direction = direction.upper()
        tie = "" if field in ("name", meta.keyed_by) else f", {alias}.name {direction}"  # the key is unique
        return f"{alias}.{quote(field)} {direction}{tie}"
    parts = []
    pieces = str(order_by).split(",")
    if len(pieces) > MAX_ORDER_TERMS:
        _too_many(len(pieces), MAX_ORDER_TERMS, "columns in order_by")
    for piece in pieces:
        match = _ORDER.match(piece)
        if not match or not meta.is_known(match.group(1)) or match.group(1) == "doctype":
            raise ValidationError(f"can't order {meta.name} by {piece.strip()!r}", doctype=meta.name)
        direction = (match.group(2) or "asc").upper()
        nulls = "" if match.group(1) in _NOT_NULL else (" NULLS FIRST" if direction == "ASC" else " NULLS LAST")
        parts.append(f"{alias}.{quote(match.group(1))} {direction}{nulls}")
    return ", ".join(parts)


def select_fields(meta: Meta, fields: Any) -> list[str]:
    if isinstance(fields, str) and not fields.strip().startswith(("[", '"')):
        fields = [f.strip() for f in fields.split(",") if f.strip()]  # "*" or "title, qty"
    fields = parse_json_arg(fields, "fields")
    if fields in (None, "", []):
        return ["name"]
    if isinstance(fields, str):
        fields = [f.strip() for f in fields.split(",")]
    if not isinstance(fields, list):
        raise ValidationError("fields must be a JSON list of field names")
    if len(fields) > MAX_FIELDS:
        _too_many(len(fields), MAX_FIELDS, "fields")
    if "*" in fields:
        return list(meta.columns)
    out = []
    for field in fields:
        name = str(field).strip().strip("`")
        if name.startswith(f"tab{meta.name}`.`"):
            name = name.split("`.`", 1)[1]
        if name.startswith("`tab") and "." in name:
            name = name.rsplit(".", 1)[1].strip("`")
        if " as " in name.lower():
            raise ValidationError(f"field aliases are not supported: {field!r}", doctype=meta.name)
        _check_field(meta, name)
        out.append(name)
    return out
