"""/api/resource: CRUD over a real server, names with any character, Frappe's list arguments."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from tests.support.http import assert_error
from tests.support.servers import Api, SiteServer


def q(part: str) -> str:
    return quote(part, safe="")


def test_create_read_update_delete(admin: Api) -> None:
    doc = admin.insert({"doctype": "ToDo", "description": "write the API"})
    assert doc["status"] == "Open" and doc["owner"] == "Administrator" and doc["docstatus"] == 0
    assert admin.get("ToDo", doc["name"])["description"] == "write the API"
    updated = admin.update("ToDo", doc["name"], {"status": "Closed"})
    assert updated["status"] == "Closed" and updated["description"] == "write the API"
    r = admin.http.delete(f"/api/resource/ToDo/{doc['name']}")
    assert r.status_code == 202 and r.json() == {"message": "ok"}
    assert_error(admin.http.get(f"/api/resource/ToDo/{doc['name']}"), 404, "DoesNotExistError")


@pytest.mark.parametrize("name", [
    "http://store1:8000", "a/b", "trailing/", "100% sure", "x:y?z#w", "Ünïcødé name", "a+b c", "%2F",
])
def test_names_with_any_character(admin: Api, name: str) -> None:
    admin.insert({"doctype": "Customer", "customer_name": name})
    r = admin.http.get(f"/api/resource/Customer/{q(name)}")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["name"] == name
    assert admin.update("Customer", name, {"territory": "North"})["territory"] == "North"
    admin.delete("Customer", name)
    assert_error(admin.http.get(f"/api/resource/Customer/{q(name)}"), 404)


def test_unencoded_slashes_and_colons_in_a_name(admin: Api) -> None:
    admin.insert({"doctype": "Customer", "customer_name": "http://store2:8000/x"})
    r = admin.http.get("/api/resource/Customer/http:%2F%2Fstore2:8000/x")
    assert r.status_code == 200 and r.json()["data"]["name"] == "http://store2:8000/x", r.text
    r = admin.http.get("/api/resource/Customer/http://store2:8000/x/")  # trailing slash ignored
    assert r.status_code == 200 and r.json()["data"]["name"] == "http://store2:8000/x", r.text


def test_trailing_slashes(admin: Api) -> None:
    doc = admin.insert({"doctype": "ToDo", "description": "slashes"})
    r = admin.http.get("/api/resource/ToDo/", params={"limit_page_length": 0})
    assert r.status_code == 200 and doc["name"] in {d["name"] for d in r.json()["data"]}
    r = admin.http.get(f"/api/resource/ToDo/{doc['name']}/")
    assert r.status_code == 200 and r.json()["data"]["name"] == doc["name"]


def test_form_encoded_data_field(admin: Api) -> None:
    """FrappeClient.insert/update send the document as JSON in the form field ``data``."""
    r = admin.http.post("/api/resource/Item", data={"data": json.dumps({"doctype": "Item", "item_code": "FORM-1"})})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["name"] == "FORM-1"
    r = admin.http.put("/api/resource/Item/FORM-1", data={"data": json.dumps({"item_name": "Form One"})})
    assert r.status_code == 200 and r.json()["data"]["item_name"] == "Form One", r.text


def test_plain_form_fields_and_json_without_content_type(admin: Api) -> None:
    r = admin.http.post("/api/resource/Item", data={"item_code": "FORM-2", "standard_rate": "12.5"})
    assert r.status_code == 200 and r.json()["data"]["standard_rate"] == 12.5, r.text
    r = admin.http.post("/api/resource/Item", content=json.dumps({"item_code": "RAW-1"}),
                        headers={"content-type": "application/x-www-form-urlencoded"})  # curl -d '{…}'
    assert r.status_code == 200 and r.json()["data"]["name"] == "RAW-1", r.text


def test_list_arguments(admin: Api) -> None:
    for i in range(5):
        admin.insert({"doctype": "Item", "item_code": f"LIST-{i}", "item_group": "Even" if i % 2 == 0 else "Odd",
                      "standard_rate": i * 10})
    rows = admin.get_list("Item", fields=["name", "standard_rate"], filters={"item_group": "Even"}, order_by="standard_rate desc")
    assert [r["name"] for r in rows] == ["LIST-4", "LIST-2", "LIST-0"]
    assert set(rows[0]) == {"name", "standard_rate"}
    rows = admin.get_list("Item", filters=[["standard_rate", ">=", 20], ["name", "like", "LIST-%"]], order_by="name asc")
    assert [r["name"] for r in rows] == ["LIST-2", "LIST-3", "LIST-4"]
    rows = admin.get_list("Item", filters=[["Item", "item_group", "in", ["Odd"]]], fields="*")
    assert {r["name"] for r in rows} == {"LIST-1", "LIST-3"} and "stock_uom" in rows[0]
    rows = admin.get_list("Item", filters={"standard_rate": ["between", [10, 30]], "name": ["like", "LIST-%"]},
                          order_by="name")
    assert [r["name"] for r in rows] == ["LIST-1", "LIST-2", "LIST-3"]


def test_paging_and_frappe_aliases(admin: Api) -> None:
    for i in range(25):
        admin.insert({"doctype": "Supplier", "supplier_name": f"S{i:02d}"})
    page = lambda **p: [r["name"] for r in admin.http.get("/api/resource/Supplier", params={"order_by": "name", **p}).json()["data"]]  # noqa: E731
    assert len(page()) == 20  # Frappe's default page
    assert len(page(limit_page_length=0)) == 25
    assert page(limit_start=5, limit_page_length=3) == ["S05", "S06", "S07"]
    assert page(start=5, limit=3) == ["S05", "S06", "S07"]
    assert page(limit_start=24, limit_page_length=0) == ["S24"]


def test_child_tables_and_submit_cancel_by_put(admin: Api) -> None:
    admin.insert({"doctype": "Customer", "customer_name": "Put Co"})
    admin.insert({"doctype": "Item", "item_code": "PUT-I"})
    inv = admin.insert({"doctype": "Sales Invoice", "customer": "Put Co",
                        "items": [{"item_code": "PUT-I", "qty": 2, "rate": 5}]})
    assert inv["grand_total"] == 10 and inv["items"][0]["amount"] == 10
    inv = admin.update("Sales Invoice", inv["name"], {"items": [{"item_code": "PUT-I", "qty": 3, "rate": 5}]})
    assert len(inv["items"]) == 1 and inv["grand_total"] == 15
    assert admin.update("Sales Invoice", inv["name"], {"docstatus": 1})["docstatus"] == 1
    assert_error(admin.http.put(f"/api/resource/Sales Invoice/{q(inv['name'])}", json={"remarks": "late"}), 417, "DocstatusError")
    assert admin.update("Sales Invoice", inv["name"], {"docstatus": 2})["docstatus"] == 2


def test_head_of_a_document(admin: Api) -> None:
    doc = admin.insert({"doctype": "ToDo", "description": "head"})
    assert admin.http.head(f"/api/resource/ToDo/{doc['name']}").status_code == 200


def test_errors_frappe_statuses(admin: Api) -> None:
    assert_error(admin.http.get("/api/resource/No Such Type"), 404, "DoesNotExistError")
    assert_error(admin.http.post("/api/resource/No Such Type", json={}), 404, "DoesNotExistError")
    assert_error(admin.http.get("/api/resource/ToDo/nope"), 404, "DoesNotExistError")
    assert_error(admin.http.post("/api/resource/ToDo", json={"description": "x", "bogus": 1}), 417, "UnknownFieldError")
    assert_error(admin.http.post("/api/resource/ToDo", json={}), 417, "MandatoryError")
    assert_error(admin.http.post("/api/resource/ToDo", json={"description": "x", "allocated_to": "nobody@x.org"}),
                 417, "LinkValidationError")
    admin.insert({"doctype": "Customer", "customer_name": "Dup"})
    assert_error(admin.http.post("/api/resource/Customer", json={"customer_name": "Dup"}), 409, "DuplicateEntryError")
    admin.insert({"doctype": "Item", "item_code": "LINKED"})
    admin.insert({"doctype": "Sales Invoice", "customer": "Dup", "items": [{"item_code": "LINKED"}]})
    assert_error(admin.http.delete("/api/resource/Item/LINKED"), 417, "LinkExistsError")
    body = assert_error(admin.http.patch("/api/resource/ToDo"), 405)
    assert "GET, POST" in body["message"]
    assert_error(admin.http.get("/api/nothing/here"), 404)
    assert_error(admin.http.get("/api/resource/"), 404)


def test_errors_carry_what_frappe_clients_look_for(admin: Api) -> None:
    body = assert_error(admin.http.get("/api/resource/ToDo/nope"), 404)
    assert json.loads(body["exc"]) and json.loads(json.loads(body["_server_messages"])[0])["message"] == body["message"]
    assert body["doctype"] == "ToDo" and body["name"] == "nope" and body["request_id"]


def test_doctype_created_through_the_api_is_served_at_once(admin: Api, site: SiteServer) -> None:
    admin.insert({"doctype": "DocType", "name": "Api Gadget", "module": "Custom", "autoname": "field:code",
                  "custom": 1, "fields": [{"fieldname": "code", "fieldtype": "Data", "reqd": 1}],
                  "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1}]})
    assert admin.insert({"doctype": "Api Gadget", "code": "G1"})["name"] == "G1"
    assert admin.get_list("Api Gadget") == [{"name": "G1"}]


def test_concurrent_writes_and_reads(site: SiteServer, admin: Api) -> None:
    """Many clients at once: every write lands, nobody gets a 5xx."""
    from concurrent.futures import ThreadPoolExecutor

    keys = site.keys("Administrator")

    def work(i: int) -> tuple[int, int]:
        with site.client(keys["api_key"], keys["api_secret"]) as api:
            wrote = api.http.post("/api/resource/ToDo", json={"description": f"concurrent {i}"}).status_code
            read = api.http.get("/api/resource/ToDo", params={"filters": '{"description": ["like", "concurrent %"]}'}).status_code
            return wrote, read

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(work, range(48)))
    assert results == [(200, 200)] * 48
    assert admin.call("frappe.client.get_count", doctype="ToDo", filters={"description": ["like", "concurrent %"]}) == 48
