"""Frappe's ``frappe.client`` methods, with Frappe's argument names, plus ``docstream.submit`` /
``docstream.cancel``, ``ping`` and ``frappe.auth.get_logged_user``.

Each is a thin client of the Document layer (``Session``): permissions, validation and
transactions happen there. Rows of a child table are reached through their parent, as in
Frappe (``parent`` names the parent DocType for reads).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from docstream.api.methods import as_bool, as_int, whitelist
from docstream.auth.masking import MASK, mask_document, mask_documents
from docstream.errors import DocstreamError, DoesNotExistError, ValidationError
from docstream.model.documents import Session
from docstream.model.meta import CHILD_STD_FIELDS, STD_FIELDS
from docstream.model.query import normalise_filters, parse_json_arg

MAX_INSERT_MANY = 200
_WRITE = ("POST", "PUT")


@whitelist("ping", allow_guest=True)
def ping(session: Session) -> str:
    return "pong"


@whitelist("frappe.auth.get_logged_user")
def get_logged_user(session: Session) -> str:
    return session.user


@whitelist("frappe.client.get_list")
def get_list(
    session: Session, doctype: str, fields: Any = None, filters: Any = None, group_by: Any = None,
    order_by: str | None = None, limit_start: Any = None, limit_page_length: Any = 20, parent: str | None = None,
    debug: Any = False, as_dict: Any = True, or_filters: Any = None,
) -> list[Any]:
    """Documents of ``doctype`` matching ``filters`` (Frappe's shapes), ``fields`` of each."""
    _refuse_unsupported(group_by=group_by, or_filters=parse_json_arg(or_filters, "or_filters"))
    reader, filters = _reader(session, doctype, parent, filters)
    rows = reader.get_list(
        doctype, fields=_fields_arg(fields), filters=filters, order_by=order_by,
        limit_start=as_int(limit_start, "limit_start"), limit_page_length=as_int(limit_page_length, "limit_page_length"),
    )
    rows = mask_documents(session.meta, doctype, rows)
    return rows if as_bool(as_dict, "as_dict") else [list(r.values()) for r in rows]


@whitelist("frappe.client.get_count")
def get_count(session: Session, doctype: str, filters: Any = None, debug: Any = False, cache: Any = False) -> int:
    return session.count(doctype, filters)


@whitelist("frappe.client.get")
def get(session: Session, doctype: str, name: str | None = None, filters: Any = None, parent: str | None = None) -> dict[str, Any]:
    """One document, by ``name`` or as the first match of ``filters``."""
    if not name:
        if filters in (None, ""):
            raise ValidationError("frappe.client.get needs a name or filters", doctype=doctype)
        found = get_list(session, doctype, filters=filters, limit_page_length=1, parent=parent)
        if not found:
            raise DoesNotExistError(f"no {doctype} matches {filters}", doctype=doctype)
        name = found[0]["name"]
    return mask_document(session.meta, doctype, session.get(doctype, str(name)))


@whitelist("frappe.client.get_value")
def get_value(
    session: Session, doctype: str, fieldname: Any, filters: Any = None, as_dict: Any = True,
    debug: Any = False, parent: str | None = None,
) -> Any:
    """``fieldname`` (one name or a JSON list) of the first document matching ``filters`` (or a name)."""
    fields = _field_list(fieldname)
    rows = get_list(session, doctype, fields=fields, filters=_name_or_filters(filters), limit_page_length=1, parent=parent)
    if as_bool(as_dict, "as_dict"):
        return rows[0] if rows else {}
    if not rows:
        return None
    values = [rows[0].get(f) for f in fields]
    return values if len(fields) > 1 else values[0]


@whitelist("frappe.client.set_value", methods=_WRITE)
def set_value(session: Session, doctype: str, name: str, fieldname: Any, value: Any = None) -> dict[str, Any]:
    """Set one field (``fieldname``, ``value``) or several (``fieldname`` a JSON object)."""
    values = _values(fieldname, value)
    standard = sorted(set(values) & (set(STD_FIELDS) | set(CHILD_STD_FIELDS) | {"doctype"}))
    if standard:
        raise ValidationError(f"cannot edit standard fields: {', '.join(standard)}", doctype=doctype, name=name)
    if session.meta(doctype).istable:
        return _update_child(session, doctype, name, values)
    return mask_document(session.meta, doctype, session.update(doctype, name, values))


@whitelist("frappe.client.insert", methods=_WRITE)
def insert(session: Session, doc: Any = None) -> dict[str, Any]:
    """Insert ``doc``; a child row (with ``parenttype``, ``parent``, ``parentfield``) is added to its parent."""
    with session.db.transaction():
        saved = _insert(session, _doc_arg(doc, "doc"))
    return mask_document(session.meta, saved["doctype"], saved)


@whitelist("frappe.client.insert_many", methods=_WRITE)
def insert_many(session: Session, docs: Any = None) -> list[str]:
    """Insert up to 200 documents, all or none; returns their names."""
    docs = parse_json_arg(docs, "docs")
    if not isinstance(docs, list) or not all(isinstance(d, dict) for d in docs):
        raise ValidationError("docs must be a JSON list of documents")
    if len(docs) > MAX_INSERT_MANY:
        raise ValidationError(f"only {MAX_INSERT_MANY} inserts are allowed in one request, got {len(docs)}")
    for doc in docs:
        _check_doc(doc)
    names: list[str] = []
    with session.db.transaction():
        for is_child, run in itertools.groupby(docs, key=lambda d: _is_child_row(session, d)):
            if is_child:  # a row added to its parent, one by one as frappe.client.insert does
                names += [_insert(session, doc)["name"] for doc in run]
            else:
                names += [saved["name"] for saved in session.insert_many(list(run))]
    return names


@whitelist("frappe.client.save", methods=_WRITE)
def save(session: Session, doc: Any) -> dict[str, Any]:
    """Write a whole document over the stored one (child tables as sent)."""
    doc = _doc_arg(doc, "doc")
    return mask_document(session.meta, doc["doctype"], session.save(doc))


@whitelist("frappe.client.submit", methods=_WRITE)
def submit(session: Session, doc: Any = None, doclist: Any = None) -> dict[str, Any]:
    """Submit ``doc``: the stored document with the fields sent, or a new one (``doclist``: older clients' name)."""
    doc = _doc_arg(doc if doc is not None else doclist, "doc")
    doctype, name = doc["doctype"], doc.get("name")
    changes = {k: v for k, v in doc.items() if k not in ("doctype", "name")}
    if name and session.exists(doctype, str(name)):
        saved = session.update(doctype, str(name), {**changes, "docstatus": 1})
    else:
        saved = session.insert({**doc, "docstatus": 1})
    return mask_document(session.meta, doctype, saved)


@whitelist("frappe.client.cancel", methods=_WRITE)
def cancel(session: Session, doctype: str, name: str) -> dict[str, Any]:
    return mask_document(session.meta, doctype, session.cancel(doctype, name))


@whitelist("frappe.client.delete", methods=("DELETE", "POST"))
def delete(session: Session, doctype: str, name: str) -> None:
    """Delete a document (a child row is removed from its parent)."""
    if session.meta(doctype).istable:
        _delete_child(session, doctype, name)
    else:
        session.delete(doctype, name)


@whitelist("frappe.client.bulk_update", methods=_WRITE)
def bulk_update(session: Session, docs: Any) -> dict[str, Any]:
    """Update each document (``doctype``, ``docname`` and the fields to change); failures are listed."""
    docs = parse_json_arg(docs, "docs")
    if not isinstance(docs, list) or not all(isinstance(d, dict) for d in docs):
        raise ValidationError("docs must be a JSON list of objects with doctype and docname")
    failed = []
    for doc in docs:
        changes = {k: v for k, v in doc.items() if k not in ("doctype", "docname", "name", "flags")}
        try:
            session.update(str(doc.get("doctype") or ""), str(doc.get("docname") or ""), changes)
        except DocstreamError as exc:
            failed.append({"doc": _masked_input(session, doc), "exc": f"{exc.exc_type}: {exc.message}"})
    return {"failed_docs": failed}


def _masked_input(session: Session, doc: dict[str, Any]) -> dict[str, Any]:
    """A document as it was sent, to be answered: its Password values masked (and a
    ``new_password`` whatever the DocType, which may be unknown)."""
    out = json.loads(json.dumps(doc))
    doctype = out.get("doctype")
    if isinstance(doctype, str) and session.site.metas.exists(doctype):
        mask_document(session.meta, doctype, out)
    if out.get("new_password") not in (None, ""):
        out["new_password"] = MASK
    return out


@whitelist("docstream.submit", methods=_WRITE)
def docstream_submit(session: Session, doctype: str, name: str) -> dict[str, Any]:
    return mask_document(session.meta, doctype, session.submit(doctype, name))


@whitelist("docstream.cancel", methods=_WRITE)
def docstream_cancel(session: Session, doctype: str, name: str) -> dict[str, Any]:
    return mask_document(session.meta, doctype, session.cancel(doctype, name))


# -- helpers ------------------------------------------------------------------
def _refuse_unsupported(**args: Any) -> None:
    for key, value in args.items():
        if value not in (None, "", [], {}):
            raise ValidationError(f"{key} is not supported by this site: filter on the client instead", field=key)


def _reader(session: Session, doctype: str, parent: str | None, filters: Any) -> tuple[Session, Any]:
    """The session to read ``doctype`` with: a child table is read with its parent's permission."""
    meta = session.meta(doctype)
    if not meta.istable:
        return session, filters
    if not parent:
        raise ValidationError(f"{doctype} is a child table: say which parent DocType with parent", doctype=doctype)
    if doctype not in {f.options for f in session.meta(parent).table_fields}:
        raise ValidationError(f"{doctype} is not a child table of {parent}", doctype=doctype)
    session.check(parent, "read")
    scoped = [(doctype, "parenttype", "=", parent), *normalise_filters(filters, doctype)]
    return session.as_user(session.user, ignore_permissions=True), scoped


def _fields_arg(fields: Any) -> Any:
    """A JSON list, or (leniently) ``*`` / ``name,title`` as typed in a URL."""
    if isinstance(fields, str) and fields.strip() and fields.strip()[0] not in '["':
        return [f.strip() for f in fields.split(",") if f.strip()]
    return fields


def _loads(text: str) -> Any:
    """A JSON argument; one nested too deeply for the parser is refused (417), not a 500."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValidationError("an argument is not valid JSON: it is nested too deeply") from None


def _field_list(fieldname: Any) -> list[str]:
    if isinstance(fieldname, str):
        try:
            parsed = _loads(fieldname)
        except json.JSONDecodeError:
            return [fieldname]
        fieldname = parsed
    if isinstance(fieldname, str):
        return [fieldname]
    if not isinstance(fieldname, list) or not fieldname:
        raise ValidationError("fieldname must be a field name or a JSON list of field names")
    return [str(f) for f in fieldname]


def _name_or_filters(filters: Any) -> Any:
    if isinstance(filters, str):
        try:
            parsed = _loads(filters)
        except json.JSONDecodeError:
            return {"name": filters}
        return parsed if isinstance(parsed, (dict, list)) else {"name": filters}
    return filters


def _values(fieldname: Any, value: Any) -> dict[str, Any]:
    if value is None:
        parsed = fieldname
        if isinstance(fieldname, str):
            try:
                parsed = _loads(fieldname)
            except json.JSONDecodeError:
                parsed = fieldname
        if isinstance(parsed, dict):
            return parsed
    if not isinstance(fieldname, str) or not fieldname:
        raise ValidationError("fieldname must be a field name (with value) or a JSON object of values")
    return {fieldname: value}


def _doc_arg(doc: Any, what: str) -> dict[str, Any]:
    doc = parse_json_arg(doc, what)
    if not isinstance(doc, dict) or not isinstance(doc.get("doctype"), str):
        raise ValidationError(f"{what} must be a JSON object with a doctype")
    return doc


def _check_doc(doc: Any) -> None:
    if not isinstance(doc, dict) or not isinstance(doc.get("doctype"), str):
        raise ValidationError("each document must be a JSON object with a doctype")


def _is_child_row(session: Session, doc: dict[str, Any]) -> bool:
    """Whether ``doc`` is a row of a child table. A DocType created earlier in the same batch is
    not known yet: ``insert_many`` looks it up when its turn comes."""
    metas = session.site.metas
    return metas.exists(doc["doctype"]) and metas.get(doc["doctype"]).istable


def _insert(session: Session, doc: Any) -> dict[str, Any]:
    _check_doc(doc)
    if not session.meta(doc["doctype"]).istable:
        return session.insert(doc)
    parenttype, parent, parentfield = (doc.get(k) for k in ("parenttype", "parent", "parentfield"))
    if not (parenttype and parent and parentfield):
        raise ValidationError("parenttype, parent and parentfield are required to insert a child row", doctype=doc["doctype"])
    if not (isinstance(parenttype, str) and isinstance(parentfield, str) and isinstance(parent, (str, int))):
        raise ValidationError(f"parenttype, parent and parentfield of a child row are names, not {[parenttype, parent, parentfield]!r}",
                              doctype=doc["doctype"])
    stored = session.get(parenttype, parent)
    if not isinstance(stored.get(parentfield), list):
        raise ValidationError(f"{parenttype} has no table {parentfield!r}", doctype=parenttype, field=str(parentfield))
    row = {k: v for k, v in doc.items() if k not in ("doctype", *CHILD_STD_FIELDS)}
    return session.update(parenttype, parent, {parentfield: [*stored[parentfield], row]})


def _child_location(session: Session, doctype: str, name: str) -> tuple[str, str, str]:
    meta = session.meta(doctype)
    rows = session.db.sql(
        f'SELECT parenttype, parent, parentfield FROM "{meta.table_name}" WHERE name = ?', (name,),
    )
    if not rows:
        raise DoesNotExistError(f"{doctype} {name} not found", doctype=doctype, name=name)
    return rows[0]["parenttype"], rows[0]["parent"], rows[0]["parentfield"]


def _update_child(session: Session, doctype: str, name: str, values: dict[str, Any]) -> dict[str, Any]:
    with session.db.transaction():
        parenttype, parent, parentfield = _child_location(session, doctype, name)
        rows = session.get(parenttype, parent)[parentfield]
        rows = [{**r, **values} if r["name"] == name else r for r in rows]
        saved = session.update(parenttype, parent, {parentfield: rows})
    return mask_document(session.meta, parenttype, saved)


def _delete_child(session: Session, doctype: str, name: str) -> None:
    with session.db.transaction():
        parenttype, parent, parentfield = _child_location(session, doctype, name)
        rows = session.get(parenttype, parent)[parentfield]
        session.update(parenttype, parent, {parentfield: [r for r in rows if r["name"] != name]})
