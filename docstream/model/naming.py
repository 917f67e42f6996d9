"""Naming rules (``autoname``): field:, naming_series:, patterns, format:, hash, autoincrement, prompt.

Series counters live in ``tabSeries`` and are advanced with one
``INSERT … ON CONFLICT DO UPDATE … RETURNING`` inside the write transaction,
so two writers can never draw the same number (SQLite serialises writers;
PostgreSQL locks the counter row until commit). A batch of inserts draws its
numbers through ``Counters``: one such statement per counter reserves the range
the whole batch needs, so the names are those one insert after another would get.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections import Counter
from collections.abc import Callable
from typing import Any

from docstream.errors import MandatoryError, ValidationError
from docstream.model.meta import Meta
from docstream.storage import Database

SERIES_DDL = 'CREATE TABLE IF NOT EXISTS "tabSeries" (name TEXT PRIMARY KEY, current BIGINT NOT NULL DEFAULT 0)'
_FORMAT_FIELD = re.compile(r"\{([\w#]+)\}")
Draw = Callable[[str], int]  # the next number of a counter, by its key


def make_name(db: Database, meta: Meta, doc: dict[str, Any], draw: Draw | None = None) -> str:
    """The name a new document gets; a name the caller gave is kept where the rule allows.
    Counter numbers come from ``draw`` (default: one statement per number)."""
    draw = draw or (lambda key: next_value(db, key))
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
        return expand_pattern(draw, series, doc)
    if rule.startswith("format:"):
        return _format(draw, rule[len("format:"):], doc)
    if rule == "autoincrement":
        return str(draw(f"autoincrement:{meta.name}"))
    if "#" in rule:
        return expand_pattern(draw, rule, doc)
    return secrets.token_hex(5)


def _by_field(meta: Meta, doc: dict[str, Any], fieldname: str, given: Any) -> str:
    value = doc.get(fieldname)
    if value in (None, "") and given not in (None, ""):
        doc[fieldname] = value = given
    if value in (None, ""):
        label = meta.get_field(fieldname).label if meta.get_field(fieldname) else fieldname
        raise MandatoryError(f"{meta.name}: {label} is required to name the document", doctype=meta.name, field=fieldname)
    if meta.named_by_key:  # the name is the table's key written out, exactly
        key = meta.key_of(str(value).strip())
        if key is None:
            raise ValidationError(f"{meta.name}: {fieldname} must be a whole number to name the document, not {value!r}",
                                  doctype=meta.name, field=fieldname)
        doc[fieldname] = key
        return str(key)
    return str(value).strip()


def _default_series(meta: Meta) -> str:
    field = meta.get_field("naming_series")
    if field is None:
        return ""
    if field.default:
        return str(field.default)
    options = [o for o in field.select_options if o]
    return options[0] if options else ""


def uses_counters(meta: Meta) -> bool:
    """Whether names of ``meta`` may come from a counter (so a batch should reserve numbers)."""
    rule = (meta.autoname or "").strip()
    return not rule.startswith("field:") and (
        rule.startswith(("naming_series:", "format:")) or rule == "autoincrement" or "#" in rule
    )


def expand_pattern(draw: Draw, pattern: str, doc: dict[str, Any]) -> str:
    """``SINV-.YYYY.-.#####`` → ``SINV-2026-00001``; the counter is keyed by the prefix."""
    today = dt.date.today()
    parts = pattern.split(".")
    out: list[str] = []
    for part in parts:
        if part and set(part) == {"#"}:
            prefix = "".join(out)
            out.append(str(draw(prefix)).zfill(len(part)))
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


def _format(draw: Draw, template: str, doc: dict[str, Any]) -> str:
    return _FORMAT_FIELD.sub(lambda m: _format_token(draw, m.group(1), doc, template), template)


def _format_token(draw: Draw, token: str, doc: dict[str, Any], template: str) -> str:
    if token and set(token) == {"#"}:
        return str(draw(template.split("{")[0])).zfill(len(token))
    today = dt.date.today()
    value = _expand_part(token, today, doc)
    if value != token:
        return value
    field_value = doc.get(token)
    if field_value in (None, ""):
        raise MandatoryError(f"{token} is required to name the document", field=token)
    return str(field_value)


def next_value(db: Database, key: str) -> int:
    return reserve(db, key, 1)


def reserve(db: Database, key: str, count: int) -> int:
    """Advance counter ``key`` by ``count`` in one statement; the last number of the range
    reserved (the range is ``last - count + 1 … last``)."""
    rows = db.sql(
        'INSERT INTO "tabSeries" (name, current) VALUES (?, ?) '
        'ON CONFLICT (name) DO UPDATE SET current = "tabSeries".current + excluded.current RETURNING current',
        (key, count),
    )
    return int(rows[0]["current"])


class Counters:
    """Counter numbers for a batch of new documents, drawn as ``make_name`` asks for them.

    ``expect`` each document first (it records the counter its name will draw from); the first
    ``draw`` of a counter then reserves, in one statement, as many numbers as the documents from
    there on are expected to draw, so the numbers are consecutive, in document order, exactly as
    one insert after another would draw them. Only a name's first counter is predicted (a second
    counter's key may contain the first one's number); anything unpredicted is drawn one by one,
    so a batch never reserves a number it does not use.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._expected: Counter[str] = Counter()
        self._ranges: dict[str, list[int]] = {}  # key -> [next, last]

    def expect(self, meta: Meta, doc: dict[str, Any]) -> None:
        seen: list[str] = []

        def record(key: str) -> int:
            seen.append(key)
            raise _Predicted

        try:
            make_name(self.db, meta, doc, record)
        except _Predicted:
            self._expected[seen[0]] += 1

    def draw(self, key: str) -> int:
        span = self._ranges.get(key)
        if self._expected[key] > 0:
            self._expected[key] -= 1
        if span is None or span[0] > span[1]:
            count = self._expected[key] + 1
            last = reserve(self.db, key, count)
            span = self._ranges[key] = [last - count + 1, last]
        number = span[0]
        span[0] += 1
        return number


class _Predicted(Exception):
    """Stops ``make_name`` at its first counter, which is all a prediction needs."""
