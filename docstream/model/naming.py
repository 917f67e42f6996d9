"""Naming rules (``autoname``): field:, naming_series:, patterns, format:, hash, autoincrement, prompt.

Series counters live in ``tabSeries`` and are advanced with one
``INSERT … ON CONFLICT DO UPDATE … RETURNING`` inside the write transaction,
so two writers can never draw the same number (SQLite serialises writers;
PostgreSQL locks the counter row until commit).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

from docstream.errors import MandatoryError, ValidationError
from docstream.model.meta import Meta
from docstream.storage import Database

SERIES_DDL = 'CREATE TABLE IF NOT EXISTS "tabSeries" (name TEXT PRIMARY KEY, current BIGINT NOT NULL DEFAULT 0)'
_FORMAT_FIELD = re.compile(r"\{([\w#]+)\}")


def make_name(db: Database, meta: Meta, doc: dict[str, Any]) -> str:
    """The name a new document gets; a name the caller gave is kept where the rule allows."""
    rule = (meta.autoname or "").strip()
    given = doc.get("name")
    if rule.startswith("field:"):
        return _by_field(meta, doc, rule[len("field:"):].strip(), given)
    if given not in (None, ""):
        return str(given)
    if rule == "prompt":
        raise MandatoryError(f"{meta.name}: a name is required", doctype=meta.name, field="name")
    if rule.startswith("naming_series:"):
        series = doc.get("naming_series") or _default_series(meta)
        if not series:
            raise MandatoryError(f"{meta.name}: naming series is required", doctype=meta.name, field="naming_series")
        doc["naming_series"] = series
        return expand_pattern(db, series, doc)
    if rule.startswith("format:"):
        return _format(db, rule[len("format:"):], doc)
    if rule == "autoincrement":
        return str(next_value(db, f"autoincrement:{meta.name}"))
    if "#" in rule:
        return expand_pattern(db, rule, doc)
    return secrets.token_hex(5)


def _by_field(meta: Meta, doc: dict[str, Any], fieldname: str, given: Any) -> str:
    value = doc.get(fieldname)
    if value in (None, "") and given not in (None, ""):
        doc[fieldname] = value = given
    if value in (None, ""):
        label = meta.get_field(fieldname).label if meta.get_field(fieldname) else fieldname
        raise MandatoryError(f"{meta.name}: {label} is required to name the document", doctype=meta.name, field=fieldname)
    return str(value).strip()


def _default_series(meta: Meta) -> str:
    field = meta.get_field("naming_series")
    if field is None:
        return ""
    if field.default:
        return str(field.default)
    options = [o for o in field.select_options if o]
    return options[0] if options else ""


def expand_pattern(db: Database, pattern: str, doc: dict[str, Any]) -> str:
    """``SINV-.YYYY.-.#####`` → ``SINV-2026-00001``; the counter is keyed by the prefix."""
    today = dt.date.today()
    parts = pattern.split(".")
    out: list[str] = []
    for part in parts:
        if part and set(part) == {"#"}:
            prefix = "".join(out)
            out.append(str(next_value(db, prefix)).zfill(len(part)))
        else:
            out.append(_expand_part(part, today, doc))
    if not any(p and set(p) == {"#"} for p in parts):
        raise ValidationError(f"naming pattern {pattern!r} has no ##### counter", field="autoname")
    return "".join(out)


def _expand_part(part: str, today: dt.date, doc: dict[str, Any]) -> str:
    tokens = {
        "YYYY": f"{today.year:04d}", "YY": f"{today.year % 100:02d}",
        "MM": f"{today.month:02d}", "DD": f"{today.day:02d}",
    }
    if part in tokens:
        return tokens[part]
    if part.startswith("{") and part.endswith("}"):
        return str(doc.get(part[1:-1]) or "")
    return part


def _format(db: Database, template: str, doc: dict[str, Any]) -> str:
    text = _FORMAT_FIELD.sub(lambda m: _format_token(db, m.group(1), doc, template), template)
    return text


def _format_token(db: Database, token: str, doc: dict[str, Any], template: str) -> str:
    if token and set(token) == {"#"}:
        return str(next_value(db, template.split("{")[0])).zfill(len(token))
    today = dt.date.today()
    value = _expand_part(token, today, doc)
    if value != token:
        return value
    field_value = doc.get(token)
    if field_value in (None, ""):
        raise MandatoryError(f"{token} is required to name the document", field=token)
    return str(field_value)


def next_value(db: Database, key: str) -> int:
    rows = db.sql(
        'INSERT INTO "tabSeries" (name, current) VALUES (?, 1) '
        'ON CONFLICT (name) DO UPDATE SET current = "tabSeries".current + 1 RETURNING current',
        (key,),
    )
    return int(rows[0]["current"])
