"""/api/method and /?cmd=: the frappe.client methods with Frappe's argument names, argument sources."""

from __future__ import annotations

import json

import pytest

from tests.support.http import assert_error
from tests.support.servers import Api, SiteServer


def call(api: Api, method: str, verb: str = "POST", **args: object) -> object:
    """Call with Frappe's habit: JSON-typed arguments as JSON strings in a form (or the query)."""
    form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in args.items()}
    r = api.http.request(verb, f"/api/method/{method}", **({"params": form} if verb == "GET" else {"data": form}))
    assert r.status_code == 200, r.text
    return r.json()["message"]


def test_ping(guest: Api) -> None:
    for r in (guest.http.get("/api/method/ping"), guest.http.post("/api/method/ping"),
              guest.http.get("/api/method/ping/"), guest.http.get("/", params={"cmd": "ping"})):
        assert r.status_code == 200 and r.json() == {"message": "pong"}, r.text


def test_argument_sources_query_form_json(admin: Api) -> None:
    admin.insert({"doctype": "Company", "company_name": "Args Ltd", "abbr": "AL"})
    by_query = admin.http.get("/api/method/frappe.client.get_value",
                              params={"doctype": "Company", "fieldname": "abbr", "filters": "Args Ltd"})
    by_form = admin.http.post("/api/method/frappe.client.get_value",
                              data={"doctype": "Company", "fieldname": "abbr", "filters": '{"company_name": "Args Ltd"}'})
    by_json = admin.http.post("/api/method/frappe.client.get_value",
                              json={"doctype": "Company", "fieldname": "abbr", "filters": {"company_name": "Args Ltd"}})
    by_both = admin.http.post("/api/method/frappe.client.get_value?doctype=Company",
                              json={"fieldname": "abbr", "filters": [["company_name", "=", "Args Ltd"]]})
    for r in (by_query, by_form, by_json, by_both):
        assert r.status_code == 200 and r.json() == {"message": {"abbr": "AL"}}, r.text


def test_legacy_cmd_rpc(admin: Api) -> None:
    admin.insert({"doctype": "Customer", "customer_name": "Cmd Co"})
    r = admin.http.get("/", params={"cmd": "frappe.client.get_count", "doctype": "Customer",
                                    "filters": '{"customer_name": "Cmd Co"}'})
    assert r.status_code == 200 and r.json()["message"] == 1, r.text
    r = admin.http.post("/", data={"cmd": "frappe.client.set_value", "doctype": "Customer", "name": "Cmd Co",
                                   "fieldname": "territory", "value": "West"})
    assert r.status_code == 200 and r.json()["message"]["territory"] == "West", r.text
    r = admin.http.post("/?cmd=frappe.client.get_value", data={"doctype": "Customer", "fieldname": "territory",
                                                                "filters": "Cmd Co"})
    assert r.json() == {"message": {"territory": "West"}}
    assert_error(admin.http.post("/", data={"doctype": "Customer"}), 400, "MalformedRequestError")


def test_plain_get_of_root_goes_to_the_desk(guest: Api) -> None:
    r = guest.http.get("/")
    assert r.status_code == 302 and r.headers["location"] == "/app"


def test_get_list_with_frappe_arguments(admin: Api) -> None:
    for i in range(4):
        admin.insert({"doctype": "Item", "item_code": f"GL-{i}", "standard_rate": i})
    rows = call(admin, "frappe.client.get_list", "GET", doctype="Item", fields=["name", "standard_rate"],
                filters=[["name", "like", "GL-%"]], order_by="standard_rate desc", limit_start=1, limit_page_length=2)
    assert rows == [{"name": "GL-2", "standard_rate": 2.0}, {"name": "GL-1", "standard_rate": 1.0}]
    rows = call(admin, "frappe.client.get_list", doctype="Item", fields=["name"], filters={"name": ["like", "GL-%"]},
                order_by="name", as_dict=0, debug=0, parent=None)
    assert rows == [["GL-0"], ["GL-1"], ["GL-2"], ["GL-3"]]
    r = admin.http.post("/api/method/frappe.client.get_list", json={"doctype": "Item", "group_by": "item_group"})
    assert "group_by" in assert_error(r, 417)["message"]


def test_get_list_of_a_child_table_through_its_parent(admin: Api) -> None:
    admin.insert({"doctype": "Customer", "customer_name": "Child Co"})
    admin.insert({"doctype": "Item", "item_code": "CH-1"})
    inv = admin.insert({"doctype": "Sales Invoice", "customer": "Child Co", "items": [{"item_code": "CH-1", "qty": 4}]})
    rows = call(admin, "frappe.client.get_list", doctype="Sales Invoice Item", parent="Sales Invoice",
                fields=["parent", "qty"], filters={"parent": inv["name"]})
    assert rows == [{"parent": inv["name"], "qty": 4.0}]
    r = admin.http.post("/api/method/frappe.client.get_list", json={"doctype": "Sales Invoice Item"})
    assert "parent" in assert_error(r, 417)["message"]


def test_get_count_get_and_get_value(admin: Api) -> None:
    admin.insert({"doctype": "Supplier", "supplier_name": "GV One", "supplier_group": "Raw"})
    admin.insert({"doctype": "Supplier", "supplier_name": "GV Two", "supplier_group": "Raw"})
    assert call(admin, "frappe.client.get_count", "GET", doctype="Supplier", filters={"supplier_group": "Raw"}) == 2
    assert call(admin, "frappe.client.get", "GET", doctype="Supplier", name="GV One")["supplier_group"] == "Raw"
    got = call(admin, "frappe.client.get", doctype="Supplier", filters={"supplier_name": "GV Two"})
    assert got["name"] == "GV Two" and got["doctype"] == "Supplier"
    assert call(admin, "frappe.client.get_value", "GET", doctype="Supplier", fieldname="supplier_group",
                filters="GV One", as_dict=0) == "Raw"
    assert call(admin, "frappe.client.get_value", doctype="Supplier", fieldname=["name", "supplier_group"],
                filters={"supplier_name": "GV Two"}, as_dict=0) == ["GV Two", "Raw"]
    assert call(admin, "frappe.client.get_value", doctype="Supplier", fieldname="name", filters={"supplier_name": "none"}) == {}
    assert_error(admin.http.get("/api/method/frappe.client.get", params={"doctype": "Supplier", "name": "nope"}), 404)


def test_set_value_insert_save_delete(admin: Api) -> None:
    doc = call(admin, "frappe.client.insert", doc={"doctype": "Note", "title": "N1", "content": "a"})
    assert doc["title"] == "N1" and doc["name"]
    assert call(admin, "frappe.client.set_value", doctype="Note", name=doc["name"], fieldname="content", value="b")["content"] == "b"
    changed = call(admin, "frappe.client.set_value", doctype="Note", name=doc["name"],
                   fieldname={"content": "c", "public": 1})
    assert changed["content"] == "c" and changed["public"] == 1
    r = admin.http.post("/api/method/frappe.client.set_value",
                        data={"doctype": "Note", "name": doc["name"], "fieldname": "owner", "value": "x"})
    assert "standard" in assert_error(r, 417)["message"]
    saved = call(admin, "frappe.client.save", doc={**changed, "title": "N1 saved"})
    assert saved["title"] == "N1 saved" and saved["content"] == "c"
    assert call(admin, "frappe.client.delete", doctype="Note", name=doc["name"]) is None
    r = admin.http.delete("/api/method/frappe.client.delete", params={"doctype": "Note", "name": doc["name"]})
    assert_error(r, 404)


def test_child_rows_through_frappe_client(admin: Api) -> None:
    note = admin.insert({"doctype": "Note", "title": "Seen", "seen_by": [{"user": "Administrator"}]})
    row = note["seen_by"][0]
    parent = call(admin, "frappe.client.insert", doc={"doctype": "Note Seen By", "parenttype": "Note",
                                                     "parent": note["name"], "parentfield": "seen_by", "user": "Guest"})
    assert [r["user"] for r in parent["seen_by"]] == ["Administrator", "Guest"]
    updated = call(admin, "frappe.client.set_value", doctype="Note Seen By", name=row["name"], fieldname="user", value="Guest")
    assert [r["user"] for r in updated["seen_by"]] == ["Guest", "Guest"]
    call(admin, "frappe.client.delete", doctype="Note Seen By", name=row["name"])
    assert len(admin.get("Note", note["name"])["seen_by"]) == 1


def test_insert_many_is_all_or_nothing(admin: Api) -> None:
    names = call(admin, "frappe.client.insert_many", docs=[{"doctype": "Item", "item_code": f"IM-{i}"} for i in range(3)])
    assert names == ["IM-0", "IM-1", "IM-2"]
    bad = [{"doctype": "Item", "item_code": "IM-OK"}, {"doctype": "Item", "item_code": "IM-BAD", "nope": 1}]
    assert_error(admin.http.post("/api/method/frappe.client.insert_many", data={"docs": json.dumps(bad)}), 417)
    assert call(admin, "frappe.client.get_count", doctype="Item", filters={"name": "IM-OK"}) == 0
    too_many = [{"doctype": "Item", "item_code": f"X{i}"} for i in range(201)]
    assert "200" in assert_error(admin.http.post("/api/method/frappe.client.insert_many", json={"docs": too_many}), 417)["message"]


def test_bulk_update_reports_failures(admin: Api) -> None:
    admin.insert({"doctype": "Item", "item_code": "BU-1"})
    out = call(admin, "frappe.client.bulk_update", docs=[
        {"doctype": "Item", "docname": "BU-1", "item_name": "Bulk One"},
        {"doctype": "Item", "docname": "BU-missing", "item_name": "x"},
    ])
    assert [f["doc"]["docname"] for f in out["failed_docs"]] == ["BU-missing"]
    assert "DoesNotExistError" in out["failed_docs"][0]["exc"] and "Traceback" not in out["failed_docs"][0]["exc"]
    assert admin.get("Item", "BU-1")["item_name"] == "Bulk One"


def test_bulk_update_never_echoes_a_password(site: SiteServer, admin: Api) -> None:
    """A failed document is answered as sent, but with its Password values masked."""
    site.cli("user", "add", "bulk@example.com", "--password", "Old-Passw0rd-1")
    clear = "New-Passw0rd-9c1f"
    r = admin.http.post("/api/method/frappe.client.bulk_update", json={"docs": [
        {"doctype": "User", "docname": "bulk@example.com", "new_password": clear, "api_secret": clear, "enabled": "x"},
        {"doctype": "No Such Type", "docname": "n", "new_password": clear},
    ]})
    assert r.status_code == 200 and clear not in r.text, r.text
    failed = r.json()["message"]["failed_docs"]
    assert [(f["doc"]["docname"], f["doc"]["new_password"]) for f in failed] == [("bulk@example.com", "********"), ("n", "********")]
    assert failed[0]["doc"]["api_secret"] == "********" and failed[0]["doc"]["enabled"] == "x"


@pytest.mark.parametrize("style", ["frappe.client", "docstream", "doclist"])
def test_submit_and_cancel(admin: Api, style: str) -> None:
    admin.insert({"doctype": "Customer", "customer_name": f"Sub {style}"})
    inv = admin.insert({"doctype": "Sales Invoice", "customer": f"Sub {style}"})
    if style == "frappe.client":
        submitted = call(admin, "frappe.client.submit", doc={"doctype": "Sales Invoice", "name": inv["name"]})
        cancelled = call(admin, "frappe.client.cancel", doctype="Sales Invoice", name=inv["name"])
    elif style == "docstream":
        submitted = call(admin, "docstream.submit", doctype="Sales Invoice", name=inv["name"])
        cancelled = call(admin, "docstream.cancel", doctype="Sales Invoice", name=inv["name"])
    else:  # FrappeClient.submit posts the document as ``doclist`` through cmd
        r = admin.http.post("/", data={"cmd": "frappe.client.submit", "doclist": json.dumps(inv)})
        submitted = r.json()["message"]
        cancelled = call(admin, "frappe.client.cancel", doctype="Sales Invoice", name=inv["name"])
    assert submitted["docstatus"] == 1 and cancelled["docstatus"] == 2


def test_argument_errors(admin: Api, guest: Api) -> None:
    body = assert_error(admin.http.post("/api/method/frappe.client.get_count", data={"doctype": "ToDo", "bogus": "1"}), 417)
    assert "bogus" in body["message"] and "filters" in body["message"]
    assert "doctype" in assert_error(admin.http.post("/api/method/frappe.client.get_count"), 417)["message"]
    assert_error(admin.http.get("/api/method/no.such.method"), 404, "DoesNotExistError")
    assert_error(admin.http.get("/api/method/frappe.client.insert", params={"doc": "{}"}), 403, "PermissionError")
    assert_error(guest.http.post("/api/method/frappe.client.get_count", data={"doctype": "ToDo"}), 403, "PermissionError")
    assert_error(admin.http.post("/api/method/frappe.client.get_count", json=["ToDo"]), 417)
    assert_error(admin.http.post("/api/method/frappe.client.get_list", data={"doctype": "ToDo", "limit_page_length": "ten"}), 417)
    assert_error(admin.http.post("/api/method/frappe.client.get_list", data={"doctype": "ToDo", "as_dict": "maybe"}), 417)


def test_get_logged_user(admin: Api, guest: Api) -> None:
    assert call(admin, "frappe.auth.get_logged_user", "GET") == "Administrator"
    assert_error(guest.http.get("/api/method/frappe.auth.get_logged_user"), 403)
