"""frappe.client.insert_many over HTTP: the batched Document-layer path behind Frappe's method."""

from __future__ import annotations

import re
import uuid

from tests.support.http import assert_error
from tests.support.servers import Api


def test_names_in_order_and_documents_as_sent(admin: Api) -> None:
    run = uuid.uuid4().hex[:6]
    admin.insert({"doctype": "Customer", "customer_name": f"C-{run}"})
    docs = [{"doctype": "Item", "item_code": f"IMB-{run}-{i}"} for i in range(2)]
    docs += [{"doctype": "Sales Invoice", "customer": f"C-{run}", "items": [{"item_code": f"IMB-{run}-{i}", "qty": 2, "rate": 3}]}
             for i in range(2)]
    names = admin.call("frappe.client.insert_many", docs=docs)
    assert names[:2] == [f"IMB-{run}-0", f"IMB-{run}-1"]
    assert all(re.fullmatch(r"SINV-\d{4}-\d{5}", n) for n in names[2:])
    assert int(names[3][-5:]) == int(names[2][-5:]) + 1
    invoice = admin.get("Sales Invoice", names[3])
    assert (invoice["grand_total"], invoice["items"][0]["item_code"]) == (6.0, f"IMB-{run}-1")


def test_a_child_row_among_documents(admin: Api) -> None:
    note = admin.insert({"doctype": "Note", "title": "seen"})
    names = admin.call("frappe.client.insert_many", docs=[
        {"doctype": "ToDo", "description": "before"},
        {"doctype": "Note Seen By", "parenttype": "Note", "parent": note["name"], "parentfield": "seen_by", "user": "Guest"},
        {"doctype": "ToDo", "description": "after"},
    ])
    assert names[1] == note["name"]  # the row is added to its parent, whose name is returned
    assert [r["user"] for r in admin.get("Note", note["name"])["seen_by"]] == ["Guest"]
    assert [admin.get("ToDo", n)["description"] for n in (names[0], names[2])] == ["before", "after"]


def test_the_error_names_the_document_and_nothing_is_written(admin: Api) -> None:
    run = uuid.uuid4().hex[:6]
    docs = [{"doctype": "ToDo", "description": f"{run} {i}"} for i in range(5)]
    docs[2] = {"doctype": "ToDo", "description": ""}
    body = assert_error(admin.http.post("/api/method/frappe.client.insert_many", json={"docs": docs}), 417, "MandatoryError")
    assert body["message"] == "document 3 of 5: ToDo: Description is required"
    assert admin.get_list("ToDo", filters=[["description", "like", f"{run}%"]]) == []
    taken = [{"doctype": "Item", "item_code": f"IMD-{run}"}] * 2
    body = assert_error(admin.http.post("/api/method/frappe.client.insert_many", json={"docs": taken}), 409, "DuplicateEntryError")
    assert body["message"] == f"document 2 of 2: Item IMD-{run} already exists"
    assert admin.get_list("Item", filters={"name": f"IMD-{run}"}) == []
