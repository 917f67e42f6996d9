"""Turning input into a valid document: known fields, defaults, coercion, mandatory, options, links."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from docstream.errors import LinkValidationError, MandatoryError, UnknownFieldError, ValidationError
from docstream.model.meta import CHILD_STD_FIELDS, NO_VALUE_TYPES, STD_FIELDS, TABLE_TYPES, Meta
from docstream.model.types import coerce, now, today

# keys that may travel with a document but are not stored as columns
_IGNORED_KEYS = frozenset({"doctype", "__islocal", "__unsaved", "_user_tags", "_comments", "_assign", "_liked_by", "_seen"})


def normalise(meta: Meta, doc: dict[str, Any], get_meta: Any, fill_defaults: bool) -> dict[str, Any]:
    """A new dict with only known fields, coerced; child rows normalised by their own meta.
    (Written for speed: it runs for every document and row written.)"""
    is_known = meta.is_known
    unknown = [k for k in doc if not (is_known(k) or k in _IGNORED_KEYS)]
    if unknown:
        raise UnknownFieldError(
            f"{meta.name} has no field {', '.join(repr(u) for u in sorted(unknown))}",
            doctype=meta.name, field=sorted(unknown)[0],
        )
    out: dict[str, Any] = {"doctype": meta.name}
    for key in meta.std_fields:
        if key in doc:
            out[key] = doc[key]
    for field in meta.fields:
        ftype, key = field.fieldtype, field.fieldname
        if ftype in NO_VALUE_TYPES:
            continue
        if ftype in TABLE_TYPES:
            out[key] = _rows(meta, field, doc.get(key), get_meta, fill_defaults)
            continue
        if key in doc:
            value = coerce(field, doc[key], meta.name)
        elif fill_defaults:
            value = coerce(field, default_value(field), meta.name)
        else:
            continue
        if field.unique and isinstance(value, str) and not value.strip():
            value = None  # empty is "no value", which a unique field may have many times (Frappe)
        out[key] = value
    if not isinstance(out.get("name", ""), str):
        out["name"] = _name(meta, out["name"])
    out["docstatus"] = _std_int(meta, "docstatus", out.get("docstatus"))
    out["idx"] = _std_int(meta, "idx", out.get("idx"))
    return out


def _std_int(meta: Meta, key: str, value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{meta.name}: {key} must be a whole number, not {value!r}", doctype=meta.name, field=key) from exc


def _name(meta: Meta, value: Any) -> str | None:
    """A name given as a number is that number written out; a list or an object names nothing."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value if value is None else str(value)
    raise ValidationError(f"{meta.name}: a name must be text, not {value!r}", doctype=meta.name, field="name")


def default_value(field: Any) -> Any:
    default = field.default
    if default in (None, ""):
        return None
    if field.fieldtype in ("Date", "Datetime") and str(default).lower() in ("today", "now"):
        return today() if field.fieldtype == "Date" else now()
    return default


def _rows(meta: Meta, field: Any, rows: Any, get_meta: Any, fill_defaults: bool) -> list[dict[str, Any]]:
    if rows in (None, ""):
        return []
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValidationError(f"{field.label}: a table takes a list of rows", doctype=meta.name, field=field.fieldname)
    child = get_meta(field.options)
    out = []
    for i, row in enumerate(rows, start=1):
        clean = normalise(child, {k: v for k, v in row.items() if k not in CHILD_STD_FIELDS}, get_meta, True)
        clean["idx"] = i
        out.append(clean)
    return out


def check_mandatory(meta: Meta, doc: dict[str, Any], get_meta: Any) -> None:
    for field in meta.mandatory_checks:
        value = doc.get(field.fieldname)
        is_table = field.fieldtype in TABLE_TYPES
        if field.reqd and (value in (None, "", []) if not is_table else not value):
            raise MandatoryError(
                f"{meta.name}: {field.label} is required", doctype=meta.name, name=doc.get("name"), field=field.fieldname,
            )
        if is_table:
            for row in value or []:
                check_mandatory(get_meta(field.options), row, get_meta)


def check_options(meta: Meta, doc: dict[str, Any], get_meta: Any) -> None:
    for field in meta.option_checks:
        value = doc.get(field.fieldname)
        if field.fieldtype == "Select" and value not in (None, ""):
            options = _select_options(field.options)
            if options != ("",) and value not in options:
                raise ValidationError(
                    f"{meta.name}: {field.label} must be one of {', '.join(o for o in options if o)}, not {value!r}",
                    doctype=meta.name, name=doc.get("name"), field=field.fieldname,
                )
        elif field.fieldtype in TABLE_TYPES:
            for row in value or []:
                check_options(get_meta(field.options), row, get_meta)


@lru_cache(maxsize=1024)
def _select_options(options: str) -> tuple[str, ...]:
    """A Select field's choices (``DocField.select_options``, computed once per options text)."""
    return tuple((options or "").split("\n"))


def check_read_only(meta: Meta, sent: dict[str, Any], new: dict[str, Any], old: dict[str, Any] | None, get_meta: Any) -> None:
    """A client sends a read-only field only with the value it has (a new document's or row's: its
    default): such fields are the system's (computed, generated, or set by the sync engine).
    ``sent``: the input, ``new``: it normalised, ``old``: the stored document (a child row: the
    stored row of the same name)."""
    for field in meta.read_only_checks:
        key = field.fieldname
        if key not in sent:
            continue
        if field.fieldtype in TABLE_TYPES:
            stored = {row["name"]: row for row in (old or {}).get(key) or []}
            for raw, row in zip(sent[key] or [], new.get(key) or []):
                check_read_only(get_meta(field.options), raw, row, stored.get(raw.get("name")), get_meta)
            continue
        before = coerce(field, old.get(key) if old is not None else default_value(field), meta.name)
        if new.get(key) != before and not (new.get(key) in (None, "") and before in (None, "")):
            raise ValidationError(
                f"{meta.name}: {field.label or key} is read only (the site sets it): leave it out or send it unchanged",
                doctype=meta.name, name=(old or {}).get("name"), field=key,
            )


def check_links(meta: Meta, doc: dict[str, Any], get_meta: Any, exists: Any) -> None:
    """Every Link and Dynamic Link target exists (child rows included)."""
    for field in meta.link_checks:
        value = doc.get(field.fieldname)
        if field.fieldtype in TABLE_TYPES:
            for row in value or []:
                check_links(get_meta(field.options), row, get_meta, exists)
            continue
        if value in (None, "") or field.fieldtype not in ("Link", "Dynamic Link"):
            continue
        target = field.options if field.fieldtype == "Link" else doc.get(field.options)
        if not target:
            raise LinkValidationError(
                f"{meta.name}: {field.label} needs {field.options} to be set", doctype=meta.name, field=field.fieldname,
            )
        if not exists(target, value):
            raise LinkValidationError(
                f"{meta.name}: could not find {target} {value!r} ({field.label})",
                doctype=meta.name, name=doc.get("name"), field=field.fieldname,
            )


__all__ = ["STD_FIELDS", "check_links", "check_mandatory", "check_options", "check_read_only", "default_value", "normalise"]
