"""The Document layer on both backends: insert, get, save, update, delete; child rows; coercion,
validation and the standard fields."""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any

import pytest

from docstream.errors import (
    DoesNotExistError,
    DuplicateEntryError,
    LinkValidationError,
    MandatoryError,
    UnknownFieldError,
    ValidationError,
)
from docstream.model.documents import MASK, Session
from docstream.site import Site
from tests.model.conftest import new_customer, new_invoice, new_item, table_count, tag

STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")


# -- insert and get -----------------------------------------------------------------------

def test_insert_fills_the_standard_fields(admin: Session) -> None:
    doc = admin.insert({"doctype": "ToDo", "description": "call the bank"})
    assert doc["doctype"] == "ToDo"
    assert re.fullmatch(r"[0-9a-f]{10}", doc["name"])
    assert doc["owner"] == doc["modified_by"] == "Administrator"
    assert STAMP.fullmatch(doc["creation"]) and doc["modified"] == doc["creation"]
    assert doc["docstatus"] == 0
    assert (doc["status"], doc["priority"]) == ("Open", "Medium")  # defaults


def test_get_returns_what_insert_returned(admin: Session, gadget: str) -> None:
    item = new_item(admin)
    doc = admin.insert({
        "doctype": gadget, "title": "Every type", "code": tag("G"), "qty": "3", "weight": "1.5", "price": 9.99,
        "pct": 12, "active": 0, "made_on": "2024-02-29", "seen_at": "2024-02-29 23:59:58.123456",
        "opens": "08:30", "size": "Large", "summary": "s", "body": "b", "story": "long " * 50, "snippet": "x = 1",
        "item": item["name"], "ref_type": "Item", "ref_name": item["name"], "data": {"k": [1, 2]},
        "shown": "read only text",
        "parts": [{"item": item["name"], "qty": 2, "note": "first"}, {"item": item["name"]}],
        "tags": [{"tag": "red"}],
    })
    assert (doc["qty"], doc["weight"], doc["price"], doc["pct"], doc["active"]) == (3, 1.5, 9.99, 12.0, 0)
    assert (doc["made_on"], doc["seen_at"], doc["opens"]) == ("2024-02-29", "2024-02-29 23:59:58.123456", "08:30:00")
    assert doc["data"] == {"k": [1, 2]}
    assert admin.get(gadget, doc["name"]) == doc


def test_datetime_values_survive_a_round_trip(admin: Session, gadget: str) -> None:
    doc = admin.insert({"doctype": gadget, "title": "t", "seen_at": dt.datetime(2030, 1, 2, 3, 4, 5, 6),
                        "made_on": dt.date(2030, 1, 2), "opens": "23:59:59.999999"})
    stored = admin.get(gadget, doc["name"])
    assert (stored["seen_at"], stored["made_on"], stored["opens"]) == \
        ("2030-01-02 03:04:05.000006", "2030-01-02", "23:59:59.999999")


def test_get_reads_a_document_and_its_rows_at_one_moment(site: Site, admin: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """A change committed between reading the parent row and its child rows is not half seen."""
    from docstream.model import rows as model_rows

    note = admin.insert({"doctype": "Note", "title": "one reader", "seen_by": [{"user": "Administrator"}]})
    read_parent, updated = threading.Event(), threading.Event()
    to_doc = model_rows.to_doc

    def slow_to_doc(meta: Any, row: dict[str, Any]) -> dict[str, Any]:
        if meta.name == "Note" and threading.current_thread().name == "reader" and not read_parent.is_set():
            read_parent.set()
            assert updated.wait(10)
        return to_doc(meta, row)

    def writer() -> None:
        assert read_parent.wait(10)
        site.session().update("Note", note["name"], {"title": "two readers", "seen_by": [
            {"user": "Administrator"}, {"user": "Guest"}]})
        updated.set()

    monkeypatch.setattr(model_rows, "to_doc", slow_to_doc)
    seen: list[dict[str, Any]] = []
    threads = [threading.Thread(target=writer),
               threading.Thread(target=lambda: seen.append(site.session().get("Note", note["name"])), name="reader")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert updated.is_set()
    assert (seen[0]["title"], len(seen[0]["seen_by"])) == ("one reader", 1)
    assert len(admin.get("Note", note["name"])["seen_by"]) == 2


def test_missing_document(admin: Session) -> None:
    with pytest.raises(DoesNotExistError) as info:
        admin.get("ToDo", "no-such-todo")
    assert (info.value.http_status, info.value.doctype, info.value.name) == (404, "ToDo", "no-such-todo")
    assert not admin.exists("ToDo", "no-such-todo")


def test_unknown_doctype(admin: Session) -> None:
    with pytest.raises(DoesNotExistError):
        admin.insert({"doctype": "Spaceship", "name": "x"})
    with pytest.raises(ValidationError, match="no doctype"):
        admin.insert({"name": "x"})


def test_names_may_hold_any_character(admin: Session) -> None:
    name = "http://store1:8000/a b?c=%d'\"é"
    admin.insert({"doctype": "Customer", "customer_name": name})
    assert admin.get("Customer", name)["customer_name"] == name
    admin.delete("Customer", name)
    assert not admin.exists("Customer", name)


def test_a_given_name_is_kept_where_the_rule_allows(admin: Session) -> None:
    name = tag("my-todo-")
    assert admin.insert({"doctype": "ToDo", "name": name, "description": "x"})["name"] == name


def test_returned_documents_are_copies(site: Site, admin: Session, gadget: str) -> None:
    kept: list[dict] = []
    site.hooks.on("after_insert", gadget)(lambda s, d, o: kept.append(d) if d["title"] == "copied" else None)
    item = new_item(admin)
    doc = admin.insert({"doctype": gadget, "title": "copied", "data": {"a": [1]}, "parts": [{"item": item["name"]}]})
    doc["data"]["a"].append(2)
    doc["parts"][0]["qty"] = 99
    assert kept[0]["data"] == {"a": [1]} and kept[0]["parts"][0]["qty"] == 1
    assert admin.get(gadget, doc["name"])["data"] == {"a": [1]}


# -- validation -----------------------------------------------------------------------------

def test_unknown_field_is_refused(admin: Session) -> None:
    with pytest.raises(UnknownFieldError) as info:
        admin.insert({"doctype": "ToDo", "description": "x", "colour": "red"})
    assert (info.value.http_status, info.value.doctype, info.value.field) == (417, "ToDo", "colour")


def test_unknown_field_in_a_child_row_is_refused(admin: Session) -> None:
    item = new_item(admin)
    with pytest.raises(UnknownFieldError) as info:
        new_invoice(admin, {"item_code": item["name"], "colour": "red"})
    assert info.value.doctype == "Sales Invoice Item"


def test_frappe_bookkeeping_keys_are_accepted_and_dropped(admin: Session) -> None:
    doc = admin.insert({"doctype": "ToDo", "description": "x", "__islocal": 1, "_user_tags": "a", "_comments": "[]"})
    assert "__islocal" not in doc and "_user_tags" not in admin.get("ToDo", doc["name"])


def test_mandatory(admin: Session) -> None:
    with pytest.raises(MandatoryError) as info:
        admin.insert({"doctype": "ToDo", "description": ""})
    assert (info.value.doctype, info.value.field) == ("ToDo", "description")
    with pytest.raises(MandatoryError) as info:
        admin.insert({"doctype": "Sales Invoice", "customer": new_customer(admin)["name"],
                      "items": [{"qty": 1}]})
    assert (info.value.doctype, info.value.field) == ("Sales Invoice Item", "item_code")


def test_select_options_are_enforced(admin: Session) -> None:
    with pytest.raises(ValidationError) as info:
        admin.insert({"doctype": "ToDo", "description": "x", "status": "Maybe"})
    assert info.value.field == "status" and "Open, Closed, Cancelled" in info.value.message
    assert admin.insert({"doctype": "ToDo", "description": "x", "status": "Closed"})["status"] == "Closed"
    assert admin.insert({"doctype": "ToDo", "description": "x", "status": ""})["status"] == ""


def test_values_are_coerced_by_type(admin: Session, gadget: str) -> None:
    doc = admin.insert({"doctype": gadget, "title": 123, "qty": "7", "active": True, "weight": "2"})
    assert (doc["title"], doc["qty"], doc["active"], doc["weight"]) == ("123", 7, 1, 2.0)
    with pytest.raises(ValidationError) as info:
        admin.insert({"doctype": gadget, "title": "t", "qty": "seven"})
    assert info.value.field == "qty"


@pytest.mark.parametrize("key", ["docstatus", "idx"])
def test_bad_standard_numbers_are_validation_errors(admin: Session, key: str) -> None:
    with pytest.raises(ValidationError) as info:
        admin.insert({"doctype": "ToDo", "description": "x", key: "one"})
    assert info.value.field == key


def test_unique_field(admin: Session, gadget: str) -> None:
    code = tag("U")
    admin.insert({"doctype": gadget, "title": "first", "code": code})
    with pytest.raises(DuplicateEntryError) as info:
        admin.insert({"doctype": gadget, "title": "second", "code": code})
    assert (info.value.http_status, info.value.doctype, info.value.field) == (409, gadget, "code")
    assert admin.count(gadget, {"code": code}) == 1
    blanks = [admin.insert({"doctype": gadget, "title": "no code", "code": value}) for value in ("", " ", None, "")]
    assert [b["code"] for b in blanks] == [None] * 4  # empty is no value, and many may have none


def test_duplicate_name(admin: Session) -> None:
    customer = new_customer(admin)
    with pytest.raises(DuplicateEntryError) as info:
        admin.insert({"doctype": "Customer", "customer_name": customer["name"], "territory": "changed?"})
    assert (info.value.doctype, info.value.name, info.value.http_status) == ("Customer", customer["name"], 409)
    assert admin.get("Customer", customer["name"]) == customer


def test_a_duplicate_name_leaves_the_transaction_usable(admin: Session) -> None:
    """No failed statement: on PostgreSQL that would abort the whole surrounding transaction."""
    inv = new_invoice(admin)
    with admin.db.transaction():
        with pytest.raises(DuplicateEntryError):
            admin.insert({"doctype": "Sales Invoice", "name": inv["name"], "customer": inv["customer"],
                          "items": [{"item_code": inv["items"][0]["item_code"]}]})
        after = admin.insert({"doctype": "ToDo", "description": "after the duplicate"})
    assert admin.exists("ToDo", after["name"])
    assert admin.get("Sales Invoice", inv["name"]) == inv  # its rows untouched, none added


def test_link_targets_must_exist(admin: Session) -> None:
    with pytest.raises(LinkValidationError) as info:
        admin.insert({"doctype": "ToDo", "description": "x", "allocated_to": "nobody@example.com"})
    assert (info.value.doctype, info.value.field, info.value.http_status) == ("ToDo", "allocated_to", 417)
    doc = admin.insert({"doctype": "ToDo", "description": "x", "allocated_to": "Administrator", "role": "System Manager"})
    assert doc["allocated_to"] == "Administrator"


def test_dynamic_link_targets_must_exist(admin: Session) -> None:
    customer = new_customer(admin)
    ok = admin.insert({"doctype": "ToDo", "description": "x", "reference_type": "Customer", "reference_name": customer["name"]})
    assert ok["reference_name"] == customer["name"]
    with pytest.raises(LinkValidationError) as info:
        admin.insert({"doctype": "ToDo", "description": "x", "reference_type": "Customer", "reference_name": "Ghost Ltd"})
    assert info.value.field == "reference_name"
    with pytest.raises(LinkValidationError, match="reference_type"):
        admin.insert({"doctype": "ToDo", "description": "x", "reference_name": customer["name"]})
    with pytest.raises(LinkValidationError) as info:
        admin.insert({"doctype": "ToDo", "description": "x", "reference_type": "Spaceship", "reference_name": "x"})
    assert info.value.field == "reference_type"


def test_links_inside_child_rows_must_exist(admin: Session) -> None:
    with pytest.raises(LinkValidationError) as info:
        new_invoice(admin, {"item_code": "NO-SUCH-ITEM", "qty": 1})
    assert (info.value.doctype, info.value.field) == ("Sales Invoice Item", "item_code")


def test_ignore_links_flag(site: Site) -> None:
    session = site.session(ignore_links=True)
    doc = session.insert({"doctype": "ToDo", "description": "x", "allocated_to": "later@example.com"})
    assert doc["allocated_to"] == "later@example.com"


# -- child rows -----------------------------------------------------------------------------

def test_child_rows_carry_their_parent(admin: Session) -> None:
    a, b = new_item(admin), new_item(admin)
    inv = new_invoice(admin, {"item_code": a["name"], "qty": 1, "rate": 3}, {"item_code": b["name"], "qty": 2, "rate": 4})
    rows = admin.get("Sales Invoice", inv["name"])["items"]
    assert [(r["idx"], r["item_code"]) for r in rows] == [(1, a["name"]), (2, b["name"])]
    for row in rows:
        assert (row["doctype"], row["parent"], row["parentfield"], row["parenttype"]) == \
            ("Sales Invoice Item", inv["name"], "items", "Sales Invoice")
        assert row["name"] and row["owner"] == "Administrator" and row["docstatus"] == 0
    assert len({r["name"] for r in rows}) == 2


def test_child_row_names_are_stable_across_saves(admin: Session) -> None:
    a, b, c = new_item(admin), new_item(admin), new_item(admin)
    inv = new_invoice(admin, {"item_code": a["name"]}, {"item_code": b["name"]})
    first, second = inv["items"]
    updated = admin.update("Sales Invoice", inv["name"], {
        "items": [{**second, "qty": 5}, {"item_code": c["name"]}],  # reorder, change, drop one, add one
    })
    assert [r["name"] for r in updated["items"]][0] == second["name"]
    assert updated["items"][0]["idx"] == 1 and updated["items"][0]["qty"] == 5
    assert updated["items"][1]["name"] not in (first["name"], second["name"])
    assert admin.get("Sales Invoice", inv["name"]) == updated
    site = admin.site
    assert table_count(site, "Sales Invoice Item", "name = ?", (first["name"],)) == 0

    saved = admin.save(admin.get("Sales Invoice", inv["name"]))  # saving as read keeps every name
    assert [r["name"] for r in saved["items"]] == [r["name"] for r in updated["items"]]


def test_child_tables_are_replaced_as_sent(admin: Session) -> None:
    note = admin.insert({"doctype": "Note", "title": "n", "seen_by": [{"user": "Administrator"}, {"user": "Guest"}]})
    assert len(note["seen_by"]) == 2
    assert admin.update("Note", note["name"], {"seen_by": []})["seen_by"] == []
    assert table_count(admin.site, "Note Seen By", "parent = ?", (note["name"],)) == 0
    kept = admin.update("Note", note["name"], {"title": "only the title"})  # not sent: not touched
    assert kept["seen_by"] == []


def test_table_multiselect_rows(admin: Session, gadget: str) -> None:
    doc = admin.insert({"doctype": gadget, "title": "t", "tags": [{"tag": "a"}, {"tag": "b"}]})
    assert [t["tag"] for t in admin.get(gadget, doc["name"])["tags"]] == ["a", "b"]
    with pytest.raises(ValidationError, match="list of rows"):
        admin.insert({"doctype": gadget, "title": "t", "tags": "a,b"})


# -- save / update ---------------------------------------------------------------------------

def test_update_stamps_modified_and_keeps_creation(site: Site) -> None:
    admin = site.session()
    doc = admin.insert({"doctype": "ToDo", "description": "first"})
    updated = site.session("Administrator").update("ToDo", doc["name"], {"description": "second", "owner": "someone"})
    assert updated["description"] == "second"
    assert updated["owner"] == "Administrator" and updated["creation"] == doc["creation"]
    assert updated["modified"] > doc["modified"]
    assert admin.get("ToDo", doc["name"]) == updated


def test_update_refuses_unknown_fields_and_bad_values(admin: Session) -> None:
    doc = admin.insert({"doctype": "ToDo", "description": "x"})
    with pytest.raises(UnknownFieldError):
        admin.update("ToDo", doc["name"], {"colour": "red"})
    with pytest.raises(ValidationError):
        admin.update("ToDo", doc["name"], {"priority": "Urgent"})
    assert admin.get("ToDo", doc["name"]) == doc


def test_save_detects_a_stale_copy(admin: Session) -> None:
    doc = admin.insert({"doctype": "ToDo", "description": "x"})
    admin.update("ToDo", doc["name"], {"description": "changed elsewhere"})
    with pytest.raises(ValidationError, match="modified after you opened it") as info:
        admin.save({**doc, "description": "mine"})
    assert info.value.field == "modified"
    assert admin.get("ToDo", doc["name"])["description"] == "changed elsewhere"


def test_save_without_a_name_inserts(admin: Session) -> None:
    doc = admin.save({"doctype": "ToDo", "description": "new via save"})
    assert admin.exists("ToDo", doc["name"])


def test_update_of_a_missing_document(admin: Session) -> None:
    with pytest.raises(DoesNotExistError):
        admin.update("ToDo", "nope", {"description": "x"})


# -- delete ---------------------------------------------------------------------------------

def test_delete_removes_the_document_and_its_rows(admin: Session) -> None:
    inv = new_invoice(admin)
    row = inv["items"][0]["name"]
    admin.delete("Sales Invoice", inv["name"])
    assert not admin.exists("Sales Invoice", inv["name"])
    assert table_count(admin.site, "Sales Invoice Item", "name = ?", (row,)) == 0
    with pytest.raises(DoesNotExistError):
        admin.delete("Sales Invoice", inv["name"])


# -- passwords ------------------------------------------------------------------------------

def test_password_fields_are_masked_and_kept_out_of_the_table(site: Site, admin: Session, gadget: str) -> None:
    doc = admin.insert({"doctype": gadget, "title": "t", "secret": "hunter2"})
    assert doc["secret"] == MASK
    assert admin.get(gadget, doc["name"])["secret"] == MASK
    raw = site.db.value(f'SELECT secret FROM "tab{gadget}" WHERE name = ?', (doc["name"],))
    assert raw != "hunter2"
    assert site.secrets.decrypt(gadget, doc["name"], "secret") == "hunter2"
    admin.update(gadget, doc["name"], {"secret": MASK, "title": "renamed"})  # the mask sent back keeps it
    assert site.secrets.decrypt(gadget, doc["name"], "secret") == "hunter2"
    admin.delete(gadget, doc["name"])
    assert site.db.value('SELECT COUNT(*) FROM "__auth" WHERE doctype = ? AND name = ?', (gadget, doc["name"])) == 0


LOCKER = [
    {"name": "Locker Key", "module": "Test", "istable": 1, "fields": [
        {"fieldname": "label", "fieldtype": "Data"}, {"fieldname": "pin", "fieldtype": "Password"}]},
    {"name": "Locker", "module": "Test", "autoname": "hash", "fields": [
        {"fieldname": "title", "fieldtype": "Data"},
        {"fieldname": "keys", "fieldtype": "Table", "options": "Locker Key"}]},
]


def test_password_fields_of_child_rows_are_kept_as_secrets_too(site: Site, admin: Session) -> None:
    from docstream.model.doctypes import import_doctype

    if not admin.exists("DocType", "Locker"):
        import_doctype(admin, LOCKER)
    doc = admin.insert({"doctype": "Locker", "title": "l", "keys": [{"label": "a", "pin": "pin-a"}, {"label": "b", "pin": "pin-b"}]})
    a, b = (row["name"] for row in doc["keys"])
    assert [row["pin"] for row in doc["keys"]] == [MASK, MASK]
    assert [row["pin"] for row in admin.get("Locker", doc["name"])["keys"]] == [MASK, MASK]
    assert "pin-" not in str(site.db.sql('SELECT pin FROM "tabLocker Key" WHERE parent = ?', (doc["name"],)))

    def pins() -> dict[str, str]:
        return {r["fieldname"]: site.secrets.decrypt("Locker", doc["name"], r["fieldname"]) for r in site.db.sql(
            'SELECT fieldname FROM "__auth" WHERE doctype = ? AND name = ?', ("Locker", doc["name"]))}

    assert pins() == {f"keys.{a}.pin": "pin-a", f"keys.{b}.pin": "pin-b"}
    # the mask sent back keeps a row's secret; a new value replaces it; a row removed takes its secret along
    changed = admin.update("Locker", doc["name"], {"keys": [{"name": a, "label": "a", "pin": MASK}, {"label": "c", "pin": "pin-c"}]})
    c = changed["keys"][1]["name"]
    assert [row["pin"] for row in changed["keys"]] == [MASK, MASK]
    assert pins() == {f"keys.{a}.pin": "pin-a", f"keys.{c}.pin": "pin-c"}
    admin.update("Locker", doc["name"], {"keys": [{"name": a, "label": "a", "pin": "pin-a2"}]})
    assert pins() == {f"keys.{a}.pin": "pin-a2"}
    admin.delete("Locker", doc["name"])
    assert pins() == {}
