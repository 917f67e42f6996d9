"""Submit and cancel, lifecycle hooks inside the write's transaction, all-or-nothing writes,
and LinkExistsError on deleting a linked document."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from docstream.errors import (
    DocstatusError,
    LinkExistsError,
    LinkValidationError,
    MandatoryError,
    UnknownFieldError,
    ValidationError,
)
from docstream.model.documents import Session
from docstream.model.hooks import EVENTS
from docstream.site import Site
from tests.model.conftest import new_customer, new_invoice, new_item, table_count, tag


class Recorder:
    """Hooks on Gadget that record what ran (and whether in a transaction) and can be told to fail."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.fail_at: str | None = None
        self.write_in: str | None = None

    def hook(self, event: str) -> Any:
        def run(session: Session, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
            assert session.db.in_transaction, f"{event} ran outside the transaction"
            self.events.append(event)
            if event == self.write_in:  # a hook's own write belongs to the same transaction
                session.insert({"doctype": "ToDo", "description": f"side effect of {doc['name']}"})
            if event == self.fail_at:
                raise ValidationError(f"{event} says no", doctype=doc["doctype"], name=doc.get("name"))
        return run


@pytest.fixture(scope="module")
def recorder(site: Site, gadget: str) -> Recorder:
    rec = Recorder()
    for event in EVENTS:
        site.hooks.on(event, gadget)(rec.hook(event))
    return rec


@pytest.fixture
def hooks(recorder: Recorder) -> Iterator[Recorder]:
    recorder.events.clear()
    recorder.fail_at = recorder.write_in = None
    yield recorder
    recorder.fail_at = recorder.write_in = None


def side_effects(site: Site, name: str) -> int:
    return table_count(site, "ToDo", "description = ?", (f"side effect of {name}",))


# -- docstatus --------------------------------------------------------------------------------

def test_submit_then_cancel(admin: Session) -> None:
    inv = new_invoice(admin)
    submitted = admin.submit("Sales Invoice", inv["name"])
    assert submitted["docstatus"] == 1
    assert all(r["docstatus"] == 1 for r in admin.get("Sales Invoice", inv["name"])["items"])
    cancelled = admin.cancel("Sales Invoice", inv["name"])
    assert cancelled["docstatus"] == 2
    assert all(r["docstatus"] == 2 for r in admin.get("Sales Invoice", inv["name"])["items"])


def test_a_submitted_document_cannot_be_edited_only_cancelled(admin: Session) -> None:
    inv = admin.submit("Sales Invoice", new_invoice(admin)["name"])
    with pytest.raises(DocstatusError) as info:
        admin.update("Sales Invoice", inv["name"], {"remarks": "too late"})
    assert (info.value.http_status, info.value.doctype, info.value.name) == (417, "Sales Invoice", inv["name"])
    with pytest.raises(DocstatusError):
        admin.update("Sales Invoice", inv["name"], {"items": []})
    with pytest.raises(DocstatusError):
        admin.update("Sales Invoice", inv["name"], {"docstatus": 0})
    with pytest.raises(DocstatusError, match="cancel"):
        admin.update("Sales Invoice", inv["name"], {"docstatus": 2, "remarks": "cancel and edit"})
    with pytest.raises(DocstatusError, match="cancel it before deleting"):
        admin.delete("Sales Invoice", inv["name"])
    assert admin.get("Sales Invoice", inv["name"]) == inv
    assert admin.update("Sales Invoice", inv["name"], {})["docstatus"] == 1  # saving unchanged is fine


def test_a_cancelled_document_cannot_change_at_all(admin: Session) -> None:
    inv = new_invoice(admin)
    admin.submit("Sales Invoice", inv["name"])
    cancelled = admin.cancel("Sales Invoice", inv["name"])
    for changes in ({"remarks": "x"}, {"docstatus": 1}, {"docstatus": 0}, {}):
        with pytest.raises(DocstatusError, match="cancelled"):
            admin.update("Sales Invoice", inv["name"], changes)
    with pytest.raises(DocstatusError):
        admin.submit("Sales Invoice", inv["name"])
    assert admin.get("Sales Invoice", inv["name"]) == cancelled
    admin.delete("Sales Invoice", inv["name"])  # but it can be deleted
    assert not admin.exists("Sales Invoice", inv["name"])


def test_cancel_needs_a_submitted_document(admin: Session) -> None:
    inv = new_invoice(admin)
    with pytest.raises(DocstatusError, match="0 to 2"):
        admin.cancel("Sales Invoice", inv["name"])


def test_only_submittable_doctypes_have_docstatus(admin: Session) -> None:
    todo = admin.insert({"doctype": "ToDo", "description": "x"})
    with pytest.raises(DocstatusError, match="not submittable"):
        admin.submit("ToDo", todo["name"])
    with pytest.raises(DocstatusError):
        admin.insert({"doctype": "ToDo", "description": "x", "docstatus": 1})


def test_insert_as_submitted_or_never_as_cancelled(admin: Session) -> None:
    inv = new_invoice(admin, docstatus=1)
    assert admin.get("Sales Invoice", inv["name"])["docstatus"] == 1
    with pytest.raises(DocstatusError):
        new_invoice(admin, docstatus=2)


# -- hooks -----------------------------------------------------------------------------------

def test_hooks_run_in_order_inside_the_transaction(admin: Session, gadget: str, hooks: Recorder) -> None:
    doc = admin.insert({"doctype": gadget, "title": "t"})
    assert hooks.events == ["validate", "before_insert", "after_insert", "on_update"]
    hooks.events.clear()
    admin.update(gadget, doc["name"], {"title": "u"})
    assert hooks.events == ["validate", "on_update"]
    hooks.events.clear()
    admin.delete(gadget, doc["name"])
    assert hooks.events == ["on_trash", "after_delete"]


def test_submit_and_cancel_hooks(admin: Session, hooks: Recorder) -> None:
    seen: list[tuple[str, int, int]] = []
    site = admin.site
    marker = tag("hooked ")

    def watch(event: str) -> Any:
        def run(session: Session, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
            if doc.get("remarks") == marker:
                seen.append((event, (old or {}).get("docstatus", -1), doc["docstatus"]))
        return run

    for event in ("on_update", "on_submit", "on_cancel"):
        site.hooks.on(event, "Sales Invoice")(watch(event))
    inv = new_invoice(admin, remarks=marker)
    admin.submit("Sales Invoice", inv["name"])
    admin.cancel("Sales Invoice", inv["name"])
    assert seen == [("on_update", -1, 0), ("on_update", 0, 1), ("on_submit", 0, 1),
                    ("on_update", 1, 2), ("on_cancel", 1, 2)]


def test_validate_hooks_may_change_the_document(admin: Session) -> None:
    item = new_item(admin)
    inv = new_invoice(admin, {"item_code": item["name"], "qty": 3, "rate": 2.5}, {"item_code": item["name"], "rate": 4})
    assert [r["amount"] for r in inv["items"]] == [7.5, 4.0]
    assert inv["grand_total"] == 11.5
    assert admin.get("Sales Invoice", inv["name"])["grand_total"] == 11.5


@pytest.mark.parametrize("event", ["validate", "before_insert", "after_insert", "on_update"])
def test_a_hook_raising_on_insert_writes_nothing(site: Site, admin: Session, gadget: str, hooks: Recorder, event: str) -> None:
    name = tag("hook-insert-")
    hooks.fail_at, hooks.write_in = event, "before_insert"
    item = new_item(admin)
    with pytest.raises(ValidationError, match="says no"):
        admin.insert({"doctype": gadget, "name": name, "title": "t", "secret": "s3cret",
                      "parts": [{"item": item["name"]}]})
    assert not admin.exists(gadget, name)
    assert table_count(site, "Gadget Part", "parent = ?", (name,)) == 0
    assert side_effects(site, name) == 0
    assert site.db.value('SELECT COUNT(*) FROM "__auth" WHERE name = ?', (name,)) == 0


@pytest.mark.parametrize("event", ["validate", "on_update"])
def test_a_hook_raising_on_update_changes_nothing(site: Site, admin: Session, gadget: str, hooks: Recorder, event: str) -> None:
    item = new_item(admin)
    doc = admin.insert({"doctype": gadget, "title": "before", "parts": [{"item": item["name"]}]})
    hooks.fail_at, hooks.write_in = event, "validate"
    with pytest.raises(ValidationError, match="says no"):
        admin.update(gadget, doc["name"], {"title": "after", "parts": []})
    assert admin.get(gadget, doc["name"]) == doc
    assert side_effects(site, doc["name"]) == 0


@pytest.mark.parametrize("event", ["on_trash", "after_delete"])
def test_a_hook_raising_on_delete_keeps_the_document(site: Site, admin: Session, gadget: str, hooks: Recorder, event: str) -> None:
    item = new_item(admin)
    doc = admin.insert({"doctype": gadget, "title": "keep me", "parts": [{"item": item["name"]}], "secret": "x"})
    hooks.fail_at, hooks.write_in = event, "on_trash"
    with pytest.raises(ValidationError):
        admin.delete(gadget, doc["name"])
    assert admin.get(gadget, doc["name"]) == doc
    assert site.secrets.decrypt(gadget, doc["name"], "secret") == "x"
    assert side_effects(site, doc["name"]) == 0


def test_a_hook_write_commits_with_the_document(site: Site, admin: Session, gadget: str, hooks: Recorder) -> None:
    hooks.write_in = "after_insert"
    doc = admin.insert({"doctype": gadget, "title": "t"})
    assert side_effects(site, doc["name"]) == 1


# -- a failed write changes nothing ------------------------------------------------------------

def series_value(site: Site, key: str) -> int | None:
    return site.db.value('SELECT current FROM "tabSeries" WHERE name = ?', (key,))


@pytest.mark.parametrize(("bad_row", "error"), [
    ({"qty": 1}, MandatoryError),
    ({"item_code": "NO-SUCH-ITEM"}, LinkValidationError),
    ({"item_code": "x", "colour": "red"}, UnknownFieldError),
    ({"item_code": "x", "qty": "lots"}, ValidationError),
])
def test_an_invalid_child_row_leaves_nothing(site: Site, admin: Session, bad_row: dict[str, Any], error: type) -> None:
    item, customer = new_item(admin), new_customer(admin)
    before = new_invoice(admin, customer=customer["name"])
    key = before["name"][: -5]
    counter = series_value(site, key)
    invoices = table_count(site, "Sales Invoice", "customer = ?", (customer["name"],))
    rows = table_count(site, "Sales Invoice Item")
    with pytest.raises(error):
        new_invoice(admin, {"item_code": item["name"]}, bad_row, customer=customer["name"])
    assert table_count(site, "Sales Invoice", "customer = ?", (customer["name"],)) == invoices
    assert table_count(site, "Sales Invoice Item") == rows
    assert series_value(site, key) == counter  # the name drawn was given back
    after = new_invoice(admin, customer=customer["name"])
    assert int(after["name"][-5:]) == int(before["name"][-5:]) + 1


def test_a_failed_update_of_child_rows_keeps_the_old_rows(admin: Session) -> None:
    inv = new_invoice(admin)
    with pytest.raises(LinkValidationError):
        admin.update("Sales Invoice", inv["name"], {"items": [{"item_code": "NO-SUCH-ITEM"}]})
    assert admin.get("Sales Invoice", inv["name"]) == inv


# -- LinkExistsError -----------------------------------------------------------------------------

def test_a_linked_document_cannot_be_deleted(admin: Session) -> None:
    inv = new_invoice(admin)
    with pytest.raises(LinkExistsError) as info:
        admin.delete("Customer", inv["customer"])
    err = info.value
    assert (err.http_status, err.doctype, err.name) == (417, "Customer", inv["customer"])
    assert f"Sales Invoice {inv['name']}" in err.message
    assert admin.exists("Customer", inv["customer"])
    admin.delete("Sales Invoice", inv["name"])  # once the link goes, the delete works
    admin.delete("Customer", inv["customer"])
    assert not admin.exists("Customer", inv["customer"])


def test_a_link_from_a_child_row_blocks_the_delete(admin: Session) -> None:
    item = new_item(admin)
    inv = new_invoice(admin, {"item_code": item["name"]})
    with pytest.raises(LinkExistsError) as info:
        admin.delete("Item", item["name"])
    assert f"Sales Invoice {inv['name']}" in info.value.message  # names the parent, not the row
    admin.update("Sales Invoice", inv["name"], {"items": [{"item_code": new_item(admin)["name"]}]})
    admin.delete("Item", item["name"])


def test_a_dynamic_link_blocks_the_delete(admin: Session) -> None:
    customer = new_customer(admin)
    todo = admin.insert({"doctype": "ToDo", "description": "follow up", "reference_type": "Customer",
                         "reference_name": customer["name"]})
    other = new_customer(admin)
    admin.insert({"doctype": "ToDo", "description": "same name, other type", "reference_type": "Item",
                  "reference_name": new_item(admin, item_code=other["name"])["name"]})
    with pytest.raises(LinkExistsError, match=f"ToDo {todo['name']}"):
        admin.delete("Customer", customer["name"])
    admin.delete("Customer", other["name"])  # an Item of that name does not link the Customer
    admin.delete("ToDo", todo["name"])
    admin.delete("Customer", customer["name"])


def test_links_from_cancelled_documents_do_not_block(admin: Session) -> None:
    inv = new_invoice(admin)
    admin.submit("Sales Invoice", inv["name"])
    admin.cancel("Sales Invoice", inv["name"])
    admin.delete("Customer", inv["customer"])
    assert not admin.exists("Customer", inv["customer"])


def test_a_role_in_use_cannot_be_deleted(admin: Session) -> None:
    role = admin.insert({"doctype": "Role", "role_name": tag("Role ")})["name"]
    user = admin.insert({"doctype": "User", "email": f"{tag('u')}@example.com", "roles": [{"role": role}]})
    with pytest.raises(LinkExistsError, match=f"User {user['name']}"):
        admin.delete("Role", role)
    admin.delete("User", user["name"])
    admin.delete("Role", role)
