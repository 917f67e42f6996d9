"""The form view: what a form shows, and what its buttons do — all through the Session.

``load``/``blank`` build the state of a form to show; ``post`` runs a button (save, submit,
cancel, delete, generate keys, resync, add or remove a grid row) and answers either a URL to
go to next or the state to show again (with the error next to its field).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from docstream.errors import DocstreamError, PermissionError, ValidationError
from docstream.model.meta import PERM_TYPES, Meta
from docstream.model.validation import default_value
from docstream.ui import formdata
from docstream.ui.layout import is_editable
from docstream.ui.urls import doc_url, list_url

DONE = {
    "saved": "Saved", "submitted": "Submitted", "cancelled": "Cancelled", "deleted": "Deleted",
    "resync-synced": "Resynced: the event is now Synced",
    "resync-failed": "Resync failed again: the error below says why",
}


@dataclass
class FormState:
    meta: Meta
    doc: dict[str, Any]
    is_new: bool
    perms: dict[str, bool]
    errors: dict[str, str] = field(default_factory=dict)
    message: str = ""
    flash: str = ""
    secret: dict[str, str] | None = None
    retype: set[str] = field(default_factory=set)  # secrets typed in a form shown again: never sent back

    @property
    def editable(self) -> bool:
        if self.is_new:
            return self.perms["create"]
        return int(self.doc.get("docstatus") or 0) == 0 and self.perms["write"]

    def actions(self) -> list[str]:
        """The buttons this user gets on this document, in the order they show."""
        doc, perms, meta = self.doc, self.perms, self.meta
        docstatus = int(doc.get("docstatus") or 0)
        out = ["save"] if self.editable and any(is_editable(f) for f in meta.fields) else []
        if self.is_new:
            return out
        if meta.is_submittable and docstatus == 0 and perms["submit"]:
            out.append("submit")
        if docstatus == 1 and perms["cancel"]:
            out.append("cancel")
        if meta.name == "Event Sync Log" and doc.get("status") == "Failed" and perms["write"]:
            out.append("resync")
        if docstatus != 1 and perms["delete"]:
            out.append("delete")
        return out

    @property
    def can_generate_keys(self) -> bool:
        return self.meta.name == "User" and not self.is_new and self.perms["write"]


def permissions(session: Any, meta: Meta) -> dict[str, bool]:
    """Which buttons to offer; the Session checks again on every call."""
    out = {}
    for ptype in PERM_TYPES:
        try:
            session.check(meta, ptype)
            out[ptype] = True
        except PermissionError:
            out[ptype] = False
    return out


def load(session: Any, meta: Meta, name: str, flash: str = "") -> FormState:
    doc = session.get(meta.name, name)
    return FormState(meta, doc, False, permissions(session, meta), flash=DONE.get(flash, ""))


def blank(session: Any, meta: Meta, prefill: dict[str, str]) -> FormState:
    """A new document: defaults, and values given in the URL (``/app/todo/new?priority=High``)."""
    session.check(meta, "create")
    doc: dict[str, Any] = {"doctype": meta.name, "docstatus": 0}
    for f in meta.value_fields:
        doc[f.fieldname] = default_value(f)
        if f.fieldname in prefill and is_editable(f):
            doc[f.fieldname] = prefill[f.fieldname]
    for f in meta.table_fields:
        doc[f.fieldname] = []
    return FormState(meta, doc, True, permissions(session, meta))


def post(session: Any, meta: Meta, name: str | None, form: Any) -> str | FormState:
    """Run the button that was pressed; a URL to redirect to, or the form to show again."""
    action = str(form.get("_action") or "save")
    old = session.get(meta.name, name) if name is not None else None
    verb, _, arg = action.partition(":")
    if verb in ("add_row", "remove_row"):
        return _regrid(session, meta, old, form, verb, arg)
    handler = _ACTIONS.get(verb)
    if handler is None:
        raise ValidationError(f"unknown form action {action!r}")
    try:
        return handler(session, meta, old, form)
    except PermissionError:
        raise
    except DocstreamError as exc:
        return _with_error(session, meta, old, form, exc)


def _save(session: Any, meta: Meta, old: dict[str, Any] | None, form: Any) -> str:
    changes = formdata.parse(meta, form, session.meta, old)
    if old is None:
        saved = session.insert({**changes, "doctype": meta.name})
    else:
        saved = session.update(meta.name, old["name"], changes)
    return doc_url(meta.name, saved["name"]) + "?done=saved"


def _submit(session: Any, meta: Meta, old: dict[str, Any] | None, form: Any) -> str:
    changes = formdata.parse(meta, form, session.meta, old)
    saved = session.update(meta.name, _name(old), {**changes, "docstatus": 1})
    return doc_url(meta.name, saved["name"]) + "?done=submitted"


def _cancel(session: Any, meta: Meta, old: dict[str, Any] | None, form: Any) -> str:
    session.cancel(meta.name, _name(old))
    return doc_url(meta.name, _name(old)) + "?done=cancelled"


def _delete(session: Any, meta: Meta, old: dict[str, Any] | None, form: Any) -> str:
    session.delete(meta.name, _name(old))
    return list_url(meta.name, done="deleted")


def _generate_keys(session: Any, meta: Meta, old: dict[str, Any] | None, form: Any) -> FormState:
    from docstream.auth.users import generate_keys

    if meta.name != "User":
        raise ValidationError("only a User has API keys")
    keys = generate_keys(session, _name(old))
    state = load(session, meta, _name(old))
    state.secret = keys
    return state


def _resync(session: Any, meta: Meta, old: dict[str, Any] | None, form: Any) -> str:
    if meta.name != "Event Sync Log":
        raise ValidationError("only an Event Sync Log can be resynced")
    result = streaming_call("resync", session, _name(old))
    return doc_url(meta.name, _name(old)) + f"?done=resync-{str(result).lower()}"


def streaming_call(function: str, *args: Any) -> Any:
    """Call ``docstream.streaming.{function}``, imported only when a button needs it."""
    try:
        import docstream.streaming as streaming

        fn = getattr(streaming, function)
    except (ImportError, AttributeError) as exc:
        raise ValidationError(f"{function} is not available: event streaming is not installed on this site") from exc
    return fn(*args)


_ACTIONS: dict[str, Callable[..., Any]] = {
    "save": _save, "submit": _submit, "cancel": _cancel, "delete": _delete,
    "generate_keys": _generate_keys, "resync": _resync,
}


def _name(old: dict[str, Any] | None) -> str:
    if old is None:
        raise ValidationError("save the document first")
    return old["name"]


def _posted_state(session: Any, meta: Meta, old: dict[str, Any] | None, form: Any) -> FormState:
    """The form as the user filled it in, to show again."""
    changes = formdata.parse(meta, form, session.meta, old)
    doc = copy.deepcopy(old) if old else blank(session, meta, {}).doc
    doc.update({k: v for k, v in changes.items() if k != "modified"})
    if old is None and changes.get("name"):
        doc["__newname"] = changes["name"]
    for f in meta.table_fields:
        if formdata.TABLE_MARKER + f.fieldname in form:
            doc[f.fieldname] = formdata.rows_with(form, meta, session.meta, f.fieldname, old)
    retype = {f.fieldname for f in meta.value_fields if f.fieldtype == "Password" and f.fieldname in changes}
    for fieldname in retype:
        doc[fieldname] = (old or {}).get(fieldname)
    return FormState(meta, doc, old is None, permissions(session, meta), retype=retype)


def _regrid(session: Any, meta: Meta, old: dict[str, Any] | None, form: Any, verb: str, arg: str) -> FormState:
    """Add or remove a grid row without saving (the no-JavaScript path; htmx does it in place)."""
    state = _posted_state(session, meta, old, form)
    table, _, key = arg.partition(":")
    field_ = meta.get_field(table)
    if field_ is None or not field_.is_table:
        raise ValidationError(f"{meta.name} has no table {table!r}")
    rows = state.doc.get(table) or []
    if verb == "add_row":
        rows.append({"__key": formdata.new_row_key()})
    else:
        rows = [r for r in rows if r.get("__key") != key]
    state.doc[table] = rows
    return state


def _with_error(session: Any, meta: Meta, old: dict[str, Any] | None, form: Any, exc: DocstreamError) -> FormState:
    state = _posted_state(session, meta, old, form)
    state.message = exc.message
    target = _error_field(session, meta, exc)
    if target:
        state.errors[target] = exc.message
    return state


def _error_field(session: Any, meta: Meta, exc: DocstreamError) -> str | None:
    """The field of the form an error belongs to: its own, or the grid holding it."""
    if not exc.field:
        return None
    own = exc.doctype in (None, meta.name)
    if own and exc.field == "name":
        return formdata.NEW_NAME
    if own and meta.has_field(exc.field):
        return exc.field
    for f in meta.table_fields:
        if exc.doctype in (None, f.options) and session.meta(f.options).has_field(exc.field):
            return f.fieldname
    return None


__all__ = ["DONE", "FormState", "blank", "load", "permissions", "post", "streaming_call"]
