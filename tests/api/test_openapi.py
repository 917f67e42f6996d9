"""/api/openapi.json: a valid OpenAPI 3.1 description of the resources and methods the caller can use."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate

from tests.support.servers import Api


def test_the_description_is_valid_openapi_31(admin: Api) -> None:
    spec = admin.http.get("/api/openapi.json").json()
    validate(spec)
    assert spec["openapi"] == "3.1.0"


def test_every_doctype_has_its_resource_paths_and_schema(admin: Api) -> None:
    spec = admin.http.get("/api/openapi.json").json()
    paths: dict[str, Any] = spec["paths"]
    assert set(paths["/api/resource/Sales%20Invoice"]) == {"get", "post"}
    assert set(paths["/api/resource/Sales%20Invoice/{name}"]) == {"parameters", "get", "put", "delete"}
    schemas = spec["components"]["schemas"]
    invoice = schemas["Sales_Invoice"]["properties"]
    assert invoice["items"]["items"] == {"$ref": "#/components/schemas/Sales_Invoice_Item"}
    assert "Sales_Invoice_Item" in schemas and invoice["grand_total"]["readOnly"] is True
    assert schemas["ToDo"]["properties"]["status"]["enum"][:3] == ["Open", "Closed", "Cancelled"]
    assert schemas["User"]["properties"]["api_secret"]["description"].startswith("write only")
    post = paths["/api/resource/Customer"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert post["required"] == ["customer_name"]


def test_methods_are_described(admin: Api, guest: Api) -> None:
    paths = admin.http.get("/api/openapi.json").json()["paths"]
    assert set(paths["/api/method/frappe.client.get_list"]) == {"get", "post"}
    assert set(paths["/api/method/frappe.client.insert"]) == {"post", "put"}
    body = paths["/api/method/frappe.client.set_value"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["doctype", "name", "fieldname"] and "value" in body["properties"]
    guest_paths = guest.http.get("/api/openapi.json").json()["paths"]
    assert "/api/method/ping" in guest_paths and "/api/method/login" in guest_paths
    assert "/api/method/frappe.client.get_list" not in guest_paths and not any("/api/resource/" in p for p in guest_paths)


def test_a_new_doctype_appears_at_once(admin: Api) -> None:
    admin.insert({"doctype": "DocType", "name": "Spec Widget", "module": "Custom", "custom": 1, "autoname": "hash",
                  "fields": [{"fieldname": "size", "fieldtype": "Int"}, {"fieldname": "when", "fieldtype": "Date"}],
                  "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1}]})
    spec = admin.http.get("/api/openapi.json").json()
    validate(spec)
    props = spec["components"]["schemas"]["Spec_Widget"]["properties"]
    assert props["size"]["type"] == "integer" and props["when"]["format"] == "date"
