"""Mapping configuration between two real sites: renamed fields, defaults, child tables, Document mappings."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.streaming.conftest import SUBSCRIBER, Pair, add_subscriber

CANARY = "/tmp/docstream-mapping-canary"


@pytest.fixture(scope="module")
def mapped(serve_module) -> Pair:
    producer, consumer = serve_module("hq-map.local"), serve_module("store-map.local")
    pair = Pair.__new__(Pair)
    pair.producer, pair.consumer = producer, consumer
    pair.producer_keys = add_subscriber(producer, roles="Sales User,Item Manager")
    pair.consumer_keys = add_subscriber(consumer, roles="System Manager")  # creates Roles, Invoices, ToDos
    pair.p, pair.c = producer.admin(), consumer.admin()
    _remote_bill_doctypes(pair.p)
    _mappings(pair.c)
    pair.subscribe([
        {"ref_doctype": "ToDo", "use_same_name": 1, "has_mapping": 1, "mapping": "Note to ToDo"},
        {"ref_doctype": "Sales Invoice", "use_same_name": 0, "has_mapping": 1, "mapping": "Remote Bill to Sales Invoice"},
    ], approve=False)
    pair.approve("Note", "Remote Bill")
    return pair


def _remote_bill_doctypes(p) -> None:
    """A custom two-level DocType on the producer, shaped unlike the consumer's Sales Invoice."""
    p.insert({"doctype": "DocType", "name": "Remote Bill Line", "module": "Custom", "istable": 1, "fields": [
        {"fieldname": "product", "fieldtype": "Link", "options": "Item", "reqd": 1},
        {"fieldname": "quantity", "fieldtype": "Float"}, {"fieldname": "price", "fieldtype": "Currency"}]})
    p.insert({"doctype": "DocType", "name": "Remote Bill", "module": "Custom", "autoname": "BILL-.#####", "fields": [
        {"fieldname": "buyer", "fieldtype": "Link", "options": "Customer", "reqd": 1},
        {"fieldname": "memo", "fieldtype": "Small Text"},
        {"fieldname": "lines", "fieldtype": "Table", "options": "Remote Bill Line"}],
        "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1},
                        {"role": "Sales User", "read": 1}]})


def _mappings(c) -> None:
    c.insert({"doctype": "Document Type Mapping", "mapping_name": "Note to Role", "local_doctype": "Role",
              "remote_doctype": "Note", "field_mapping": [{"local_fieldname": "role_name", "remote_fieldname": "title"}]})
    c.insert({"doctype": "Document Type Mapping", "mapping_name": "Note to ToDo", "local_doctype": "ToDo",
              "remote_doctype": "Note", "field_mapping": [
                  {"local_fieldname": "description", "remote_fieldname": "content"},
                  {"local_fieldname": "priority", "default_value": "High"},
                  {"local_fieldname": "status", "remote_fieldname": "note_status", "default_value": "Open"},
                  {"local_fieldname": "role", "mapping_type": "Document", "mapping": "Note to Role",
                   "remote_value_filters": json.dumps({"title": "title"})}]})
    c.insert({"doctype": "Document Type Mapping", "mapping_name": "Bill Line to Invoice Item",
              "local_doctype": "Sales Invoice Item", "remote_doctype": "Remote Bill Line", "field_mapping": [
                  {"local_fieldname": "item_code", "remote_fieldname": "product"},
                  {"local_fieldname": "qty", "remote_fieldname": "quantity"},
                  {"local_fieldname": "rate", "remote_fieldname": "price"},
                  {"local_fieldname": "item_name", "default_value": "from a bill"}]})
    c.insert({"doctype": "Document Type Mapping", "mapping_name": "Remote Bill to Sales Invoice",
              "local_doctype": "Sales Invoice", "remote_doctype": "Remote Bill", "field_mapping": [
                  {"local_fieldname": "customer", "remote_fieldname": "buyer"},
                  {"local_fieldname": "remarks", "remote_fieldname": "memo", "default_value": "no memo"},
                  {"local_fieldname": "items", "remote_fieldname": "lines", "mapping_type": "Child Table",
                   "mapping": "Bill Line to Invoice Item"}]})


def test_renamed_fields_defaults_and_document_mapping(mapped) -> None:
    p, c = mapped.p, mapped.c
    note = p.insert({"doctype": "Note", "title": "Inner Mapping Tester", "content": "Test Inner Mapping"})
    mapped.pull()
    todo = c.get("ToDo", note["name"])
    assert todo["description"] == "Test Inner Mapping"
    assert todo["priority"] == "High" and todo["status"] == "Open", "defaults fill what the remote lacks"
    assert todo["role"] == "Inner Mapping Tester"
    assert c.get("Role", "Inner Mapping Tester")["role_name"] == "Inner Mapping Tester"
    p.update("Note", note["name"], {"content": "Changed content"})
    mapped.pull()
    assert c.get("ToDo", note["name"])["description"] == "Changed content"
    p.delete("Note", note["name"])
    mapped.pull()
    assert c.get_list("ToDo", filters={"name": note["name"]}) == []


@contextmanager
def _mapping_of(mapped, local_doctype: str, mapping: str) -> Iterator[None]:
    """The subscription row of ``local_doctype`` maps with ``mapping`` for a while."""
    c = mapped.c
    producer = c.get("Event Producer", mapped.producer.url)
    before = {row["ref_doctype"]: row["mapping"] for row in producer["producer_doctypes"]}
    for row in producer["producer_doctypes"]:
        if row["ref_doctype"] == local_doctype:
            row["mapping"] = mapping
    c.update("Event Producer", mapped.producer.url, {"producer_doctypes": producer["producer_doctypes"]})
    try:
        yield
    finally:
        for row in producer["producer_doctypes"]:
            row["mapping"] = before[row["ref_doctype"]]
        c.update("Event Producer", mapped.producer.url, {"producer_doctypes": producer["producer_doctypes"]})


def test_eval_filter_finds_the_dependency(mapped) -> None:
    p, c = mapped.p, mapped.c
    c.insert({"doctype": "Document Type Mapping", "mapping_name": "Note to ToDo (eval)", "local_doctype": "ToDo",
              "remote_doctype": "Note", "field_mapping": [
                  {"local_fieldname": "description", "remote_fieldname": "content"},
                  {"local_fieldname": "role", "mapping_type": "Document", "mapping": "Note to Role",
                   "remote_value_filters": json.dumps({"title": "eval:doc.title + ''"})}]})
    with _mapping_of(mapped, "ToDo", "Note to ToDo (eval)"):
        note = p.insert({"doctype": "Note", "title": "Eval Role", "content": "found by eval"})
        mapped.pull()
        assert c.get("ToDo", note["name"])["role"] == "Eval Role"


def test_an_update_works_out_a_document_mapping_again(mapped) -> None:
    p, c = mapped.p, mapped.c
    note = p.insert({"doctype": "Note", "title": "Role Before", "content": "moves"})
    mapped.pull()
    assert c.get("ToDo", note["name"])["role"] == "Role Before"
    p.update("Note", note["name"], {"title": "Role After"})  # the field the filters read
    mapped.pull()
    assert c.get("ToDo", note["name"])["role"] == "Role After", "the filters now find another Note"
    assert c.get("Role", "Role After")["role_name"] == "Role After"
    p.update("Note", note["name"], {"content": "moved"})  # nothing the filters read
    mapped.pull()
    todo = c.get("ToDo", note["name"])
    assert (todo["role"], todo["description"]) == ("Role After", "moved")
    assert {log["status"] for log in mapped.sync_logs(producer_doc=note["name"])} == {"Synced"}


def test_a_document_mapping_reads_the_producers_document_when_the_update_lacks_fields(mapped) -> None:
    p, c = mapped.p, mapped.c
    c.insert({"doctype": "Document Type Mapping", "mapping_name": "Note to ToDo (public)", "local_doctype": "ToDo",
              "remote_doctype": "Note", "field_mapping": [
                  {"local_fieldname": "description", "remote_fieldname": "content"},
                  {"local_fieldname": "role", "mapping_type": "Document", "mapping": "Note to Role",
                   "remote_value_filters": json.dumps(
                       {"title": "eval:doc.title + ' (public)' if doc.public else doc.title"})}]})
    with _mapping_of(mapped, "ToDo", "Note to ToDo (public)"):
        p.insert({"doctype": "Note", "title": "Shown (public)", "content": "the public one"})
        note = p.insert({"doctype": "Note", "title": "Shown", "content": "private for now"})
        mapped.pull()
        assert c.get("ToDo", note["name"])["role"] == "Shown"
        p.update("Note", note["name"], {"public": 1})  # the Update carries public, not title
        mapped.pull()
        assert c.get("ToDo", note["name"])["role"] == "Shown (public)"


def test_two_level_custom_doctype_into_sales_invoice(mapped) -> None:
    p, c = mapped.p, mapped.c
    p.insert({"doctype": "Customer", "customer_name": "Map Buyer"})
    for code in ("MAP-1", "MAP-2", "MAP-3"):
        p.insert({"doctype": "Item", "item_code": code, "standard_rate": 1})
    bill = p.insert({"doctype": "Remote Bill", "buyer": "Map Buyer", "lines": [
        {"product": "MAP-1", "quantity": 2, "price": 10}, {"product": "MAP-2", "quantity": 1, "price": 5}]})
    mapped.pull()
    (local,) = c.get_list("Sales Invoice", fields=["name"], filters={"remote_docname": bill["name"]})
    invoice = c.get("Sales Invoice", local["name"])
    assert invoice["customer"] == "Map Buyer" and invoice["remarks"] == "no memo"
    assert [(r["item_code"], r["qty"], r["rate"]) for r in invoice["items"]] == [("MAP-1", 2.0, 10.0), ("MAP-2", 1.0, 5.0)]
    assert invoice["grand_total"] == 25
    lines = p.get("Remote Bill", bill["name"])["lines"]
    p.update("Remote Bill", bill["name"], {"memo": "revised", "lines": [
        {**lines[0], "quantity": 3}, {"product": "MAP-3", "quantity": 4, "price": 1}]})
    mapped.pull()
    invoice = c.get("Sales Invoice", local["name"])
    assert invoice["remarks"] == "revised"
    assert [(r["item_code"], r["qty"]) for r in invoice["items"]] == [("MAP-1", 3.0), ("MAP-3", 4.0)]
    assert invoice["items"][0]["name"] == lines[0]["name"], "the changed remote row changed the right local row"


def test_updates_map_as_the_create_does(mapped) -> None:
    """Defaults fill the fields an Update empties and the rows it adds, as they do on a Create."""
    p, c = mapped.p, mapped.c
    p.insert({"doctype": "Customer", "customer_name": "Default Buyer"})
    for code in ("DEF-1", "DEF-2"):
        p.insert({"doctype": "Item", "item_code": code, "standard_rate": 1})
    bill = p.insert({"doctype": "Remote Bill", "buyer": "Default Buyer", "memo": "first",
                     "lines": [{"product": "DEF-1", "quantity": 1, "price": 2}]})
    mapped.pull()
    lines = p.get("Remote Bill", bill["name"])["lines"]
    added = {"product": "DEF-2", "quantity": 3, "price": 4}
    p.update("Remote Bill", bill["name"], {"memo": "", "lines": lines + [added]})
    twin = p.insert({"doctype": "Remote Bill", "buyer": "Default Buyer", "memo": "", "lines": [
        {"product": "DEF-1", "quantity": 1, "price": 2}, {"product": "DEF-2", "quantity": 3, "price": 4}]})
    mapped.pull()

    def mapped_invoice(remote_name: str) -> tuple:
        (local,) = c.get_list("Sales Invoice", fields=["name"], filters={"remote_docname": remote_name})
        invoice = c.get("Sales Invoice", local["name"])
        return invoice["remarks"], [(r["item_code"], r["item_name"], r["qty"]) for r in invoice["items"]]

    streamed = mapped_invoice(bill["name"])
    assert streamed == ("no memo", [("DEF-1", "from a bill", 1.0), ("DEF-2", "from a bill", 3.0)])
    assert streamed == mapped_invoice(twin["name"]), "through Updates, as through a Create"


def test_a_mapping_error_fails_only_its_event(mapped) -> None:
    p, c = mapped.p, mapped.c
    broken = p.insert({"doctype": "Note", "title": "No Content"})  # ToDo.description is required
    fine = p.insert({"doctype": "Note", "title": "Has Content", "content": "fine"})
    mapped.pull()
    (failed,) = mapped.sync_logs(producer_doc=broken["name"])
    assert failed["status"] == "Failed" and "Description" in failed["error"]
    assert c.get("ToDo", fine["name"])["description"] == "fine"


@pytest.mark.parametrize("filters", [
    "{not json",
    json.dumps(["title"]),
    json.dumps({"title": f"eval:__import__('os').system('touch {CANARY}')"}),
    json.dumps({"title": "eval:doc.__class__"}),
    json.dumps({"title": "eval:open('/etc/passwd').read()"}),
])
def test_hostile_filters_are_refused_and_never_run(mapped, filters: str) -> None:
    r = mapped.c.http.post("/api/resource/Document Type Mapping", json={
        "doctype": "Document Type Mapping", "mapping_name": "Hostile", "local_doctype": "ToDo", "remote_doctype": "Note",
        "field_mapping": [{"local_fieldname": "role", "mapping_type": "Document", "mapping": "Note to Role",
                           "remote_value_filters": filters}]})
    assert r.status_code == 417, r.text
    assert not os.path.exists(CANARY)
    assert mapped.c.get_list("Document Type Mapping", filters={"name": "Hostile"}) == []


def test_link_field_without_mapping_is_refused(mapped) -> None:
    r = mapped.c.http.post("/api/resource/Document Type Mapping", json={
        "doctype": "Document Type Mapping", "mapping_name": "Bare Link", "local_doctype": "ToDo",
        "remote_doctype": "Note", "field_mapping": [{"local_fieldname": "role"}]})
    assert r.status_code == 417 and "role" in r.json()["message"]
    assert SUBSCRIBER
