"""The API on PostgreSQL: a smoke run of each part (auth, resources, methods, permissions, bad input)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import new_pg_url
from tests.support.http import assert_error
from tests.support.servers import Api, SiteServer

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_site(serve_module, postgres: str) -> SiteServer:  # type: ignore[no-untyped-def]
    return serve_module("pg.local", db_url=new_pg_url())


@pytest.fixture(scope="module")
def pg_admin(pg_site: SiteServer) -> Iterator[Api]:
    with pg_site.admin() as api:
        yield api


def test_login_keys_and_revocation(pg_site: SiteServer) -> None:
    pg_site.cli("user", "add", "pg@example.com", "--password", "Pg-Passw0rd!", "--roles", "Sales User")
    old = pg_site.keys("pg@example.com")
    new = pg_site.keys("pg@example.com")
    assert_error(httpx.get(pg_site.url + "/api/resource/Customer",
                           headers={"Authorization": f"token {old['api_key']}:{old['api_secret']}"}), 401)
    with Api(pg_site.url, new["api_key"], new["api_secret"], basic=True) as api:
        assert api.http.get("/api/resource/Customer").status_code == 200
        assert_error(api.http.get("/api/resource/User"), 403, "PermissionError")
    with httpx.Client(base_url=pg_site.url) as http:
        assert http.post("/", data={"cmd": "login", "usr": "pg@example.com", "pwd": "Pg-Passw0rd!"}).json()["message"] == "Logged In"
        assert http.get("/api/method/frappe.auth.get_logged_user").json()["message"] == "pg@example.com"
        http.get("/", params={"cmd": "logout"})
        assert_error(http.get("/api/method/frappe.auth.get_logged_user"), 403)


def test_resources_and_methods(pg_admin: Api) -> None:
    pg_admin.insert({"doctype": "Customer", "customer_name": "http://pg:8000/x"})
    r = pg_admin.http.get(f"/api/resource/Customer/{quote('http://pg:8000/x', safe='')}")
    assert r.json()["data"]["name"] == "http://pg:8000/x"
    pg_admin.http.post("/api/resource/Item", data={"data": json.dumps({"item_code": "PG-1", "standard_rate": 3})})
    inv = pg_admin.insert({"doctype": "Sales Invoice", "customer": "http://pg:8000/x", "items": [{"item_code": "PG-1", "qty": 2}]})
    assert pg_admin.update("Sales Invoice", inv["name"], {"docstatus": 1})["docstatus"] == 1
    assert pg_admin.call("docstream.cancel", doctype="Sales Invoice", name=inv["name"])["docstatus"] == 2
    rows = pg_admin.get_list("Sales Invoice", fields=["name", "grand_total"], filters=[["posting_date", "is", "set"]])
    assert rows == [{"name": inv["name"], "grand_total": 0.0}]
    assert pg_admin.call("frappe.client.get_value", doctype="Item", fieldname="standard_rate", filters="PG-1") == {"standard_rate": 3.0}


def test_bad_input_is_never_500(pg_admin: Api) -> None:
    before = pg_admin.call("frappe.client.get_count", doctype="Item")
    bad = [{"doctype": "Item", "item_code": "PG-OK"}, {"doctype": "Item", "item_code": "PG-BAD", "standard_rate": "x"}]
    assert_error(pg_admin.http.post("/api/method/frappe.client.insert_many", json={"docs": bad}), 417)
    assert pg_admin.call("frappe.client.get_count", doctype="Item") == before
    assert_error(pg_admin.http.get("/api/resource/Sales Invoice", params={"filters": '{"posting_date": "not a date"}'}), 417)
    assert pg_admin.http.get("/api/resource/Item", params={"filters": '{"idx": ' + "9" * 30 + "}"}).json() == {"data": []}
    assert_error(pg_admin.http.post("/api/resource/ToDo", json={"description": "x", "idx": 10**30}), 417)
    assert_error(pg_admin.http.post("/api/resource/ToDo", json={"description": "nul \u0000 byte"}), 417)
    assert_error(pg_admin.http.post("/api/resource/ToDo", content=b"{bad", headers={"content-type": "application/json"}), 400)
    assert_error(pg_admin.http.post("/api/resource/Item", json={"item_code": "PG-1"}), 409, "DuplicateEntryError")


def test_passwords_masked(pg_admin: Api, pg_site: SiteServer) -> None:
    keys = pg_site.keys("Administrator")
    r = pg_admin.http.get("/api/resource/User", params={"fields": '["name", "api_secret"]', "filters": '{"name": "Administrator"}'})
    assert r.json()["data"] == [{"name": "Administrator", "api_secret": "********"}] and keys["api_secret"] not in r.text
