"""DocPerm-based access over HTTP: each verb denied without its permission and allowed with it,
for resources and for the frappe.client methods; Administrator and System Manager may do all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import unquote

import pytest

from tests.support.http import assert_error
from tests.support.servers import Api, SiteServer

ROLES = {
    "PT Reader": ["read"],
    "PT Writer": ["read", "write"],
    "PT Creator": ["read", "create"],
    "PT Deleter": ["read", "delete"],
    "PT Submitter": ["read", "write", "submit"],
    "PT Canceller": ["read", "cancel"],
}
DOCTYPE = {
    "name": "Perm Test", "module": "Custom", "autoname": "field:title", "is_submittable": 1,
    "fields": [{"fieldname": "title", "fieldtype": "Data", "reqd": 1}, {"fieldname": "body", "fieldtype": "Data"}],
    "permissions": [{"role": role, **{p: 1 for p in perms}} for role, perms in ROLES.items()],
}


@pytest.fixture(scope="module")
def users(site: SiteServer, admin: Api, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Api]]:
    for role in ROLES:
        admin.insert({"doctype": "Role", "role_name": role})
    definition = tmp_path_factory.mktemp("dt") / "perm_test.json"
    definition.write_text(json.dumps(DOCTYPE))
    site.cli("doctype", "import", str(definition))
    apis = {role: site.add_user(f"{role.split()[1].lower()}@example.com", [role]) for role in ROLES}
    apis["nobody"] = site.add_user("nobody@example.com")
    apis["System Manager"] = site.add_user("manager@example.com", ["System Manager"])
    yield apis
    for api in apis.values():
        api.close()


def new(admin: Api, title: str, docstatus: int = 0) -> str:
    doc = admin.insert({"doctype": "Perm Test", "title": title})
    if docstatus:
        admin.update("Perm Test", title, {"docstatus": 1})
    if docstatus == 2:
        admin.update("Perm Test", title, {"docstatus": 2})
    return doc["name"]


def test_read(users: dict[str, Api], admin: Api, guest: Api) -> None:
    new(admin, "r1")
    for api in (users["nobody"], guest):
        assert_error(api.http.get("/api/resource/Perm Test"), 403, "PermissionError")
        assert_error(api.http.get("/api/resource/Perm Test/r1"), 403, "PermissionError")
    assert_error(users["nobody"].http.get("/api/method/frappe.client.get_list", params={"doctype": "Perm Test"}), 403)
    assert_error(users["nobody"].http.get("/api/method/frappe.client.get_count", params={"doctype": "Perm Test"}), 403)
    assert_error(users["nobody"].http.get("/api/method/frappe.client.get_value",
                                          params={"doctype": "Perm Test", "fieldname": "title", "filters": "r1"}), 403)
    reader = users["PT Reader"]
    assert reader.get("Perm Test", "r1")["title"] == "r1"
    assert "r1" in {d["name"] for d in reader.get_list("Perm Test")}


def test_write(users: dict[str, Api], admin: Api) -> None:
    new(admin, "w1")
    body = assert_error(users["PT Reader"].http.put("/api/resource/Perm Test/w1", json={"body": "x"}), 403)
    assert "write" in body["message"] and body["doctype"] == "Perm Test"
    assert_error(users["PT Reader"].http.post("/api/method/frappe.client.set_value",
                                              data={"doctype": "Perm Test", "name": "w1", "fieldname": "body", "value": "x"}), 403)
    assert users["PT Writer"].update("Perm Test", "w1", {"body": "x"})["body"] == "x"


def test_create(users: dict[str, Api]) -> None:
    assert_error(users["PT Writer"].http.post("/api/resource/Perm Test", json={"title": "c1"}), 403, "PermissionError")
    assert_error(users["PT Writer"].http.post("/api/method/frappe.client.insert",
                                              json={"doc": {"doctype": "Perm Test", "title": "c1"}}), 403)
    assert users["PT Creator"].insert({"doctype": "Perm Test", "title": "c1"})["owner"] == "creator@example.com"


def test_delete(users: dict[str, Api], admin: Api) -> None:
    new(admin, "d1")
    assert_error(users["PT Writer"].http.delete("/api/resource/Perm Test/d1"), 403, "PermissionError")
    assert_error(users["PT Writer"].http.post("/api/method/frappe.client.delete", data={"doctype": "Perm Test", "name": "d1"}), 403)
    assert users["PT Deleter"].http.delete("/api/resource/Perm Test/d1").status_code == 202


def test_submit(users: dict[str, Api], admin: Api) -> None:
    new(admin, "s1")
    assert_error(users["PT Writer"].http.put("/api/resource/Perm Test/s1", json={"docstatus": 1}), 403, "PermissionError")
    assert_error(users["PT Writer"].http.post("/api/method/docstream.submit", data={"doctype": "Perm Test", "name": "s1"}), 403)
    assert users["PT Submitter"].update("Perm Test", "s1", {"docstatus": 1})["docstatus"] == 1


def test_cancel(users: dict[str, Api], admin: Api) -> None:
    new(admin, "x1", docstatus=1)
    assert_error(users["PT Submitter"].http.put("/api/resource/Perm Test/x1", json={"docstatus": 2}), 403, "PermissionError")
    assert_error(users["PT Submitter"].http.post("/api/method/frappe.client.cancel",
                                                 data={"doctype": "Perm Test", "name": "x1"}), 403)
    assert users["PT Canceller"].update("Perm Test", "x1", {"docstatus": 2})["docstatus"] == 2


def test_a_denied_write_changes_nothing(users: dict[str, Api], admin: Api) -> None:
    new(admin, "n1")
    before = admin.get("Perm Test", "n1")
    assert_error(users["PT Reader"].http.put("/api/resource/Perm Test/n1", json={"body": "sneaky", "docstatus": 1}), 403)
    assert admin.get("Perm Test", "n1") == before


@pytest.mark.parametrize("who", ["System Manager", "Administrator"])
def test_super_roles_may_do_everything(users: dict[str, Api], admin: Api, who: str) -> None:
    api = admin if who == "Administrator" else users["System Manager"]
    title = f"all-{who.split()[0].lower()}"
    api.insert({"doctype": "Perm Test", "title": title})
    api.update("Perm Test", title, {"body": "b"})
    api.update("Perm Test", title, {"docstatus": 1})
    api.update("Perm Test", title, {"docstatus": 2})
    api.delete("Perm Test", title)
    assert api.get_list("User", fields=["name"]) and api.get_list("Event Sync Log") == []


def test_users_only_manage_what_their_roles_allow(users: dict[str, Api]) -> None:
    """Only System Manager may touch users, DocTypes or roles (a user can't grant itself a role)."""
    api = users["PT Writer"]
    assert_error(api.http.get("/api/resource/User"), 403)
    assert_error(api.http.put("/api/resource/User/writer@example.com", json={"roles": [{"role": "System Manager"}]}), 403)
    assert_error(api.http.post("/api/resource/DocType", json={"name": "Sneaky", "fields": []}), 403)
    assert_error(api.http.post("/api/resource/Role", json={"role_name": "Sneaky"}), 403)


def test_openapi_lists_only_readable_doctypes(users: dict[str, Api]) -> None:
    def doctypes(api: Api) -> set[str]:
        paths = api.http.get("/api/openapi.json").json()["paths"]
        return {unquote(p.split("/")[3]) for p in paths if p.startswith("/api/resource/") and "{name}" not in p}

    assert doctypes(users["PT Reader"]) == {"Perm Test", "ToDo", "Note", "DocType", "Role"}  # "All" reads the last four
    assert doctypes(users["nobody"]) == {"ToDo", "Note", "DocType", "Role"}
