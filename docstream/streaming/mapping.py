"""Mapping configuration: streaming between DocTypes of different shape.

A Document Type Mapping says how a remote DocType's fields become a local DocType's: renamed
fields, default values (used on create when the remote value is missing), child tables mapped
row by row through their own mapping (on update too: added, changed and removed rows), and
Document mappings that find a linked remote document with filters — plain field names or
``eval:`` expressions over the remote document, run by the strict expression evaluator —
create it locally through its own mapping, and link to it.
"""

from __future__ import annotations

import json
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
class Mapper:
    def __init__(self, session: Session, applier: Any) -> None:
        self.session = session
        self.applier = applier
        self.system = session.as_user(session.user, ignore_permissions=True)

    def load(self, name: str) -> dict[str, Any]:
        return self.system.get("Document Type Mapping", name)

    def document(self, mapping: dict[str, Any], remote: dict[str, Any]) -> dict[str, Any]:
        doc = {k: v for k, v in remote.items()}
        doc["doctype"] = mapping["local_doctype"]
        for row in mapping.get("field_mapping") or []:
            kind = row.get("mapping_type") or ""
            if kind == "Child Table":
                inner = self.load(row["mapping"])
                doc[row["local_fieldname"]] = [self.row(inner, r) for r in remote.get(row.get("remote_fieldname") or "") or []]
                _drop_source(doc, row)
            elif kind == "Document":
                doc[row["local_fieldname"]] = self.dependency(row, remote)
            else:
                value = remote.get(row["remote_fieldname"]) if row.get("remote_fieldname") else None
                _drop_source(doc, row)
                doc[row["local_fieldname"]] = row.get("default_value") if value in (None, "") else value
        return doc

    def row(self, mapping: dict[str, Any], remote_row: dict[str, Any]) -> dict[str, Any]:
        mapped = self.document(mapping, remote_row)
        for key in CHILD_KEEP:
            if key in remote_row:
                mapped[key] = remote_row[key]
        return mapped

    def update(self, mapping: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"changed": {}, "added": {}, "removed": {}, "row_changed": {}}
        rows = {r.get("remote_fieldname"): r for r in mapping.get("field_mapping") or [] if r.get("remote_fieldname")}
        for key, value in (change.get("changed") or {}).items():
            row = rows.get(key)
            if row is None:
                out["changed"][key] = value
            elif not row.get("mapping_type"):
                out["changed"][row["local_fieldname"]] = value
        for part in ("added", "row_changed"):
            for table, table_rows in (change.get(part) or {}).items():
                row = rows.get(table)
                if row is None or row.get("mapping_type") != "Child Table":
                    out[part][table] = table_rows
                    continue
                inner = self.load(row["mapping"])
                out[part][row["local_fieldname"]] = [self._partial_row(inner, r) for r in table_rows]
        for table, names in (change.get("removed") or {}).items():
            row = rows.get(table)
            out["removed"][row["local_fieldname"] if row else table] = names
        return out

    def _partial_row(self, mapping: dict[str, Any], remote_row: dict[str, Any]) -> dict[str, Any]:
        renames = {r["remote_fieldname"]: r["local_fieldname"] for r in mapping.get("field_mapping") or []
                   if r.get("remote_fieldname") and not r.get("mapping_type")}
        return {renames.get(k, k): v for k, v in remote_row.items()}

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


def _drop_source(doc: dict[str, Any], row: dict[str, Any]) -> None:
    source = row.get("remote_fieldname")
    if source and source != row["local_fieldname"]:
        doc.pop(source, None)


def map_event(session: Session, sub: Any, event: dict[str, Any], applier: Any) -> Any:
    mapper = Mapper(session, applier)
    mapping = mapper.load(sub.mapping)
    if event["update_type"] == "Create":
        return mapper.document(mapping, event.get("data") or {})
    if event["update_type"] == "Update":
        return mapper.update(mapping, event.get("data") or {})
    return None
