"""Mapping configuration: streaming between DocTypes of different shape.

A Document Type Mapping says how a remote DocType's fields become a local DocType's: renamed
fields, default values (when the remote value is empty or missing, or no remote field is named),
child tables mapped row by row through their own mapping, and Document mappings that find a linked
remote document with filters — plain field names or ``eval:`` expressions over the remote
document, run by the strict expression evaluator — create it locally through its own mapping, and
link to it. A Create and an Update are mapped by the same rule (``Mapper._fields``): an Update's
fields get their defaults, the rows it adds are mapped whole, and a Document mapping is worked out
again when the Update changes a field its filters read — from the producer's document as it now
is, fetched, when the Update doesn't carry them all.
"""

from __future__ import annotations

import ast
import functools
import json
from collections.abc import Callable
from typing import Any

from docstream.errors import ValidationError
from docstream.expressions import compile_expression, validate_expression
from docstream.model.documents import Session
from docstream.model.meta import STD_FIELDS

CHILD_KEEP = ("name", "idx")


def install(site: Any) -> None:
    site.hooks.on("validate", "Document Type Mapping")(validate_mapping)


# -- validation ----------------------------------------------------------------
def validate_mapping(session: Session, doc: dict[str, Any], old: Any) -> None:
    meta = session.meta(doc["local_doctype"])
    for index, row in enumerate(doc.get("field_mapping") or [], start=1):
        where = f"Document Type Mapping {doc.get('mapping_name')}, row {index}"
        field = meta.get_field(row.get("local_fieldname") or "")
        if field is None and row.get("local_fieldname") not in STD_FIELDS:
            raise ValidationError(f"{where}: {meta.name} has no field {row.get('local_fieldname')!r}",
                                  doctype="Document Type Mapping", field="local_fieldname")
        if field is not None:
            _validate_row(session, where, field, row, doc.get("remote_doctype") or "")


def _validate_row(session: Session, where: str, field: Any, row: dict[str, Any], remote_doctype: str) -> None:
    kind = row.get("mapping_type") or ""
    if kind == "Child Table":
        _expect_inner(session, where, row, field.options if field.is_table else None, "a Table field")
    elif kind == "Document":
        target = field.options if field.fieldtype == "Link" else None
        _expect_inner(session, where, row, target, "a Link field")
        validate_filters(where, row.get("remote_value_filters"))
    elif field.fieldtype in ("Link", "Dynamic Link") or field.is_table:
        if not (row.get("default_value") or _links_alike(session, row, field, remote_doctype)):
            raise ValidationError(
                f"{where}: {field.fieldname} is a {field.fieldtype}: give it a mapping, a default value, "
                "or a remote field that links to the same DocType", doctype="Document Type Mapping", field="mapping")


def _links_alike(session: Session, row: dict[str, Any], field: Any, remote_doctype: str) -> bool:
    """The remote field is named and, when its DocType is known here, links to the same DocType."""
    if not row.get("remote_fieldname"):
        return False
    if not session.site.metas.exists(remote_doctype):
        return True
    remote_field = session.meta(remote_doctype).get_field(row["remote_fieldname"])
    return remote_field is not None and remote_field.options == field.options


def _expect_inner(session: Session, where: str, row: dict[str, Any], target: str | None, what: str) -> None:
    if target is None:
        raise ValidationError(f"{where}: a {row['mapping_type']} mapping needs {what} as local field",
                              doctype="Document Type Mapping", field="mapping_type")
    if not row.get("mapping"):
        raise ValidationError(f"{where}: choose the Mapping for {row['local_fieldname']}",
                              doctype="Document Type Mapping", field="mapping")
    inner = session.as_user(session.user, ignore_permissions=True).get("Document Type Mapping", row["mapping"])
    if inner["local_doctype"] != target:
        raise ValidationError(f"{where}: mapping {row['mapping']} makes {inner['local_doctype']}, "
                              f"but {row['local_fieldname']} needs {target}", doctype="Document Type Mapping",
                              field="mapping")


def validate_filters(where: str, raw: Any) -> dict[str, str]:
    try:
        filters = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{where}: Remote Value Filters is not valid JSON: {exc.msg}",
                              doctype="Document Type Mapping", field="remote_value_filters") from exc
    if not isinstance(filters, dict) or not filters:
        raise ValidationError(f"{where}: Remote Value Filters must be a JSON object of remote field → value",
                              doctype="Document Type Mapping", field="remote_value_filters")
    for key, value in filters.items():
        if not isinstance(value, str):
            raise ValidationError(f"{where}: the filter for {key} must be a field name or an eval: expression",
                                  doctype="Document Type Mapping", field="remote_value_filters")
        if value.startswith("eval:"):
            validate_expression(value[len("eval:"):])
    return filters


# -- mapping events ------------------------------------------------------------
# One rule maps a remote document, whether it comes whole (a Create, a row an Update adds) or as
# the fields an Update carries: each remote field no row claims is copied as it is, and each row of
# the mapping that reads a field it was given fills its local field — the remote value, or the
# default when that is empty; the rows of a child table, each mapped whole; the linked document a
# Document mapping's filters find. A document mapped through Updates is the one its Create makes.
Whole = Callable[[], dict[str, Any] | None]


class Mapper:
    def __init__(self, session: Session, applier: Any) -> None:
        self.session = session
        self.applier = applier
        self.system = session.as_user(session.user, ignore_permissions=True)

    def load(self, name: str) -> dict[str, Any]:
        return self.system.get("Document Type Mapping", name)

    def document(self, mapping: dict[str, Any], remote: dict[str, Any]) -> dict[str, Any]:
        """A whole remote document in the local shape: every row of the mapping applies."""
        doc = self._fields(mapping, remote, None, lambda: remote)
        doc["doctype"] = mapping["local_doctype"]
        return doc

    def row(self, mapping: dict[str, Any], remote_row: dict[str, Any]) -> dict[str, Any]:
        mapped = self.document(mapping, remote_row)
        for key in CHILD_KEEP:
            if key in remote_row:
                mapped[key] = remote_row[key]
        return mapped

    def update(self, mapping: dict[str, Any], change: dict[str, Any], whole: Whole) -> dict[str, Any]:
        """An Update's diff in the local shape, by the rule a Create is mapped with. ``whole`` gives
        the producer's document as it now is, for a Document mapping the diff alone can't work out."""
        out: dict[str, Any] = {"changed": {}, "added": {}, "removed": {}, "row_changed": {}}
        changed = change.get("changed") or {}
        carried = set(changed).union(*((change.get(part) or {}) for part in _TABLE_PARTS))
        out["changed"] = self._fields(mapping, changed, carried, whole)
        claimed = _claimed(mapping)
        for part in _TABLE_PARTS:
            for table, entries in (change.get(part) or {}).items():
                readers = [r for r in mapping.get("field_mapping") or []
                           if r.get("remote_fieldname") == table and (r.get("mapping_type") or "") != "Document"]
                if not readers and table not in claimed:
                    out[part][table] = entries
                for reader in readers:
                    out[part][reader["local_fieldname"]] = self._table_part(reader, part, table, entries, whole)
        return out

    def _table_part(self, reader: dict[str, Any], part: str, table: str, entries: list[Any],
                    whole: Whole) -> list[Any]:
        """Added, changed or removed rows of a remote table, for the local table ``reader`` fills."""
        if reader.get("mapping_type") != "Child Table" or part == "removed":
            return entries
        inner = self.load(reader["mapping"])
        if part == "added":
            return [self.row(inner, entry) for entry in entries]
        mapped = []
        for entry in entries:
            carried = set(entry) - set(CHILD_KEEP)
            fields = self._fields(inner, entry, carried, _row_of(whole, table, entry.get("name")))
            mapped.append({**fields, **{key: entry[key] for key in CHILD_KEEP if key in entry}})
        return mapped

    def _fields(self, mapping: dict[str, Any], values: dict[str, Any], carried: set[str] | None,
                whole: Whole) -> dict[str, Any]:
        """The local fields for remote ``values``: the whole document (``carried`` None) or the
        fields an Update carries (``carried`` names every remote field it touches)."""
        claimed = _claimed(mapping)
        out = {key: value for key, value in values.items() if key not in claimed}
        for row in mapping.get("field_mapping") or []:
            kind, source, local = row.get("mapping_type") or "", row.get("remote_fieldname") or "", row["local_fieldname"]
            if kind == "Document":
                remote = self._document_source(row, values, carried, whole)
                if remote is not None:
                    out[local] = self.dependency(row, remote)
            elif carried is not None and (not source or source not in values):
                continue  # the Update leaves what this row reads as it was
            elif kind == "Child Table":
                inner = self.load(row["mapping"])
                out[local] = [self.row(inner, r) for r in values.get(source) or []]
            else:
                value = values.get(source) if source else None
                out[local] = row.get("default_value") if value in (None, "") else value
        return out

    def _document_source(self, row: dict[str, Any], values: dict[str, Any], carried: set[str] | None,
                         whole: Whole) -> dict[str, Any] | None:
        """The remote document a Document mapping's filters read, or None when it needs no working
        out again (the Update changes nothing they read, or the producer has deleted the document
        since: its Delete follows)."""
        if carried is None:
            return values
        reads = _filter_reads(row)
        if reads is None:
            return whole() if carried else None
        if not reads & carried:
            return None
        return values if reads <= values.keys() else whole()

    def dependency(self, row: dict[str, Any], remote: dict[str, Any]) -> str:
        """Find the linked remote document with the filters, create it here through its mapping."""
        inner = self.load(row["mapping"])
        filters = {}
        for key, value in validate_filters(f"mapping {row['mapping']}", row.get("remote_value_filters")).items():
            if value.startswith("eval:"):
                filters[key] = compile_expression(value[len("eval:"):]).evaluate({"doc": remote})
            else:
                filters[key] = remote.get(value, value)
        matches = self.applier.remote_call("frappe.client.get_list", doctype=inner["remote_doctype"],
                                           filters=filters, fields=["name"], limit_page_length=1)
        if not matches:
            raise ValidationError(f"no {inner['remote_doctype']} on the producer matches {json.dumps(filters)}",
                                  doctype=inner["local_doctype"])
        found = self.applier.fetch([[inner["remote_doctype"], matches[0]["name"]]])
        if not found.get("docs"):
            raise ValidationError(f"{inner['remote_doctype']} {matches[0]['name']} vanished from the producer")
        local = self.document(inner, found["docs"][0])
        return self.applier.insert_mapped_dependency(self.session, local)

    def producer_document(self, doctype: str, name: str) -> Whole:
        """The producer's document as it now is, fetched once and only if asked for (None: deleted)."""

        @functools.cache
        def whole() -> dict[str, Any] | None:
            found = self.applier.fetch([[doctype, name]])
            docs = found.get("docs") or []
            return None if found.get("missing") or not docs else docs[0]

        return whole


_TABLE_PARTS = ("added", "row_changed", "removed")


def _claimed(mapping: dict[str, Any]) -> set[str]:
    """Remote fields not copied as they are: each row's local field (the row fills it) and the
    remote field a plain or Child Table row reads."""
    claimed = set()
    for row in mapping.get("field_mapping") or []:
        claimed.add(row["local_fieldname"])
        if (row.get("mapping_type") or "") != "Document" and row.get("remote_fieldname"):
            claimed.add(row["remote_fieldname"])
    return claimed


def _row_of(whole: Whole, table: str, name: Any) -> Whole:
    """The producer's row ``name`` of ``table`` as it now is (None: removed, or the document deleted)."""

    def row() -> dict[str, Any] | None:
        doc = whole()
        return next((r for r in (doc or {}).get(table) or [] if r.get("name") == name), None)

    return row


def _filter_reads(row: dict[str, Any]) -> set[str] | None:
    """The remote fields a Document mapping's filters read (None: the whole document)."""
    reads: set[str] = set()
    for value in validate_filters(f"mapping {row.get('mapping')}", row.get("remote_value_filters")).values():
        if not value.startswith("eval:"):
            reads.add(value)  # a field of that name, or else the text itself: either way, read here
            continue
        fields = _expression_reads(value[len("eval:"):])
        if fields is None:
            return None
        reads |= fields
    return reads


def _expression_reads(source: str) -> set[str] | None:
    """The fields an expression reads from ``doc`` (None: it uses ``doc`` itself)."""
    compile_expression(source)  # refused before it is looked at
    tree = ast.parse(source, mode="eval")
    fields: set[str] = set()
    read_from: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute | ast.Subscript) and isinstance(node.value, ast.Name):
            fields.add(node.attr if isinstance(node, ast.Attribute) else node.slice.value)  # only doc["field"]
            read_from.add(id(node.value))
    names = [node for node in ast.walk(tree) if isinstance(node, ast.Name)]
    return fields if all(id(node) in read_from for node in names) else None


def map_event(session: Session, sub: Any, event: dict[str, Any], applier: Any) -> Any:
    mapper = Mapper(session, applier)
    mapping = mapper.load(sub.mapping)
    if event["update_type"] == "Create":
        return mapper.document(mapping, event.get("data") or {})
    if event["update_type"] == "Update":
        whole = mapper.producer_document(mapping["remote_doctype"], event["docname"])
        return mapper.update(mapping, event.get("data") or {}, whole)
    return None
