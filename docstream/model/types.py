"""Coercion of field values by fieldtype: from user input, and from the database."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from docstream import deepjson
from docstream.deepjson import MAX_JSON_DEPTH
from docstream.errors import ValidationError
from docstream.model.meta import DATE_TYPES, FLOAT_TYPES, INT_TYPES, TEXT_TYPES, DocField

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def now() -> str:
    return dt.datetime.now().isoformat(" ", "microseconds")  # DATETIME_FORMAT, faster


def today() -> str:
    return dt.date.today().isoformat()


def coerce(field: DocField, value: Any, doctype: str = "") -> Any:
    """Turn an input value into the canonical value for ``field``, or raise ValidationError."""
    ftype = field.fieldtype
    if ftype in TEXT_TYPES and (value is None or type(value) is str):
        return value  # the common case, first
    try:
        if ftype in INT_TYPES:
            return _to_int(field, value)
        if ftype in FLOAT_TYPES:
            return 0.0 if value in (None, "") else float(value)
        if ftype in DATE_TYPES:
            return _to_date(ftype, value)
        if ftype == "JSON":
            return _to_json(field, value, doctype)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"{field.label or field.fieldname}: {value!r} is not a valid {ftype}",
            doctype=doctype or None, field=field.fieldname,
        ) from exc
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise ValidationError(
            f"{field.label or field.fieldname}: a {ftype} field takes text, not {type(value).__name__}",
            doctype=doctype or None, field=field.fieldname,
        )
    if isinstance(value, bool):
        return str(int(value))
    return str(value)


def _to_int(field: DocField, value: Any) -> int:
    if value in (None, ""):
        return 0
    if isinstance(value, str) and "." in value:
        value = float(value)
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("not an integer")
    number = int(value)
    if field.fieldtype == "Check":
        if number not in (0, 1):
            raise ValueError("a Check is 0 or 1")
    return number


def _to_date(ftype: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        parsed: Any = value
    elif isinstance(value, (dt.date, dt.time)):
        parsed = value
    else:
        text = str(value).strip().replace("T", " ")
        if ftype == "Date":
            parsed = dt.date.fromisoformat(text[:10])
        elif ftype == "Time":
            parsed = dt.time.fromisoformat(text)
        else:
            parsed = dt.datetime.fromisoformat(text)
    return _format_date(ftype, parsed)


def _format_date(ftype: str, value: Any) -> str:
    if ftype == "Date":
        return (value.date() if isinstance(value, dt.datetime) else value).isoformat()
    if ftype == "Time":
        return value.strftime("%H:%M:%S.%f") if value.microsecond else value.strftime("%H:%M:%S")
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    return value.strftime(DATETIME_FORMAT)


def _to_json(field: DocField, value: Any, doctype: str) -> Any:
    if value is None or (isinstance(value, str) and value == ""):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except RecursionError:
            raise _too_deep(field, doctype) from None
    if deepjson.depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise _too_deep(field, doctype)
    json.dumps(value)  # must be serialisable
    return value


def _too_deep(field: DocField, doctype: str) -> ValidationError:
    return ValidationError(
        f"{field.label or field.fieldname}: a JSON value may be nested at most {MAX_JSON_DEPTH} levels deep "
        "(lists and objects inside one another); this one is nested deeper",
        doctype=doctype or None, field=field.fieldname,
    )


def to_db(field: DocField | None, value: Any, dialect: str) -> Any:
    """The value to bind as a query parameter."""
    if field is not None and field.fieldtype == "JSON" and value is not None:
        return json.dumps(value, sort_keys=True, default=str)
    return value


def from_db(fieldtype: str, value: Any) -> Any:
    """The document value for a value read from the database."""
    if value is None:
        return None
    if fieldtype == "JSON":  # at any depth: a value stored before the depth limit may be deeper
        return deepjson.loads(value) if isinstance(value, str) else value
    if isinstance(value, (dt.date, dt.time)):
        return _format_date(fieldtype if fieldtype in DATE_TYPES else "Datetime", value)
    return value
