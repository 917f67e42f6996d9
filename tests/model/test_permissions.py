"""Every verb of the Document layer is checked against the user's roles (DocPerm rows)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from docstream.errors import PermissionError, ValidationError
from docstream.model.documents import Session
from docstream.site import Site
from tests.model.conftest import new_customer, new_invoice, new_item, tag

CLERK = "Invoice Clerk"  # may create and edit invoices but not submit or cancel them


@pytest.fixture(scope="module")
def users(site: Site) -> dict[str, str]:
    admin = site.session()
    admin.insert({"doctype": "Role", "role_name": CLERK})
    doctype = admin.get("DocType", "Sales Invoice")
    admin.update("DocType", "Sales Invoice", {"permissions": [
        *doctype["permissions"], {"role": CLERK, "read": 1, "write": 1, "create": 1},
    ]})
    people = {
        "sales": ["Sales User"], "accounts": ["Accounts User"], "clerk": [CLERK],
        "nobody": [], "manager": ["System Manager"],
    }
    out = {}
    for key, roles in people.items():
        email = f"{key}.{tag()}@example.com"
        admin.insert({"doctype": "User", "email": email, "roles": [{"role": r} for r in roles]})
        out[key] = email
    return out


def as_user(site: Site, users: dict[str, str], key: str) -> Session:
    return Session(site, users.get(key, key))


def denied(action: Callable[[], Any], ptype: str, doctype: str) -> PermissionError:
    with pytest.raises(PermissionError) as info:
        action()
    err = info.value
    assert err.http_status == 403 and err.doctype == doctype
    assert f"no {ptype} permission on {doctype}" in err.message
    return err


def test_roles_come_from_has_role_rows(site: Site, users: dict[str, str]) -> None:
    assert as_user(site, users, "sales").roles == {"Sales User", "All"}
    assert as_user(site, users, "nobody").roles == {"All"}
    assert {"Administrator", "System Manager"} <= Session(site, "Administrator").roles


def test_read(site: Site, users: dict[str, str]) -> None:
    admin = site.session()
    customer, item = new_customer(admin), new_item(admin)
    sales, accounts = as_user(site, users, "sales"), as_user(site, users, "accounts")
    assert sales.get("Customer", customer["name"])["name"] == customer["name"]
    assert sales.get("Item", item["name"])["name"] == item["name"]  # read-only role
    assert sales.count("Customer") >= 1 and sales.get_list("Item", filters={"name": item["name"]})
    err = denied(lambda: accounts.get("Customer", customer["name"]), "read", "Customer")
    assert err.name == customer["name"] and users["accounts"] in err.message
    denied(lambda: accounts.get_list("Customer"), "read", "Customer")
    denied(lambda: accounts.count("Customer"), "read", "Customer")


def test_create(site: Site, users: dict[str, str]) -> None:
    sales, nobody = as_user(site, users, "sales"), as_user(site, users, "nobody")
    doc = sales.insert({"doctype": "Customer", "customer_name": tag("By Sales ")})
    assert doc["owner"] == doc["modified_by"] == users["sales"]
    denied(lambda: sales.insert({"doctype": "Item", "item_code": tag("I")}), "create", "Item")
    denied(lambda: nobody.insert({"doctype": "Customer", "customer_name": tag("C")}), "create", "Customer")
    assert nobody.insert({"doctype": "ToDo", "description": "All may"})["owner"] == users["nobody"]


def test_write(site: Site, users: dict[str, str]) -> None:
    admin, sales = site.session(), as_user(site, users, "sales")
    customer, item = new_customer(admin), new_item(admin)
    updated = sales.update("Customer", customer["name"], {"territory": "North"})
    assert (updated["territory"], updated["modified_by"], updated["owner"]) == ("North", users["sales"], "Administrator")
    denied(lambda: sales.update("Item", item["name"], {"item_name": "x"}), "write", "Item")
    denied(lambda: sales.save({**sales.get("Item", item["name"]), "item_name": "x"}), "write", "Item")
    assert admin.get("Item", item["name"]) == item


def test_delete(site: Site, users: dict[str, str]) -> None:
    admin, sales, accounts = site.session(), as_user(site, users, "sales"), as_user(site, users, "accounts")
    customer, item = new_customer(admin), new_item(admin)
    denied(lambda: accounts.delete("Customer", customer["name"]), "delete", "Customer")
    denied(lambda: sales.delete("Item", item["name"]), "delete", "Item")
    assert admin.exists("Customer", customer["name"]) and admin.exists("Item", item["name"])
    sales.delete("Customer", customer["name"])
    assert not admin.exists("Customer", customer["name"])


def test_submit_and_cancel(site: Site, users: dict[str, str]) -> None:
    admin = site.session()
    clerk, accounts, sales = (as_user(site, users, k) for k in ("clerk", "accounts", "sales"))
    inv = new_invoice(admin)
    assert clerk.update("Sales Invoice", inv["name"], {"remarks": "clerk may edit"})["remarks"] == "clerk may edit"
    denied(lambda: clerk.submit("Sales Invoice", inv["name"]), "submit", "Sales Invoice")
    denied(lambda: sales.submit("Sales Invoice", inv["name"]), "read", "Sales Invoice")  # not even read
    accounts.submit("Sales Invoice", inv["name"])
    denied(lambda: clerk.cancel("Sales Invoice", inv["name"]), "cancel", "Sales Invoice")
    assert accounts.cancel("Sales Invoice", inv["name"])["docstatus"] == 2

    customer, item = new_customer(admin), new_item(admin)
    draft = {"doctype": "Sales Invoice", "customer": customer["name"], "items": [{"item_code": item["name"]}]}
    denied(lambda: clerk.insert({**draft, "docstatus": 1}), "submit", "Sales Invoice")
    assert clerk.insert(draft)["docstatus"] == 0
    assert accounts.insert({**draft, "docstatus": 1})["docstatus"] == 1


def test_submit_is_refused_on_doctypes_that_are_not_submittable(site: Site, users: dict[str, str]) -> None:
    from docstream.auth.permissions import has_permission

    sales = as_user(site, users, "sales")
    assert not has_permission(site.metas.get("Customer"), sales.user, sales.roles, "submit")
    assert has_permission(site.metas.get("Customer"), sales.user, sales.roles, "write")


def test_system_manager_and_administrator_may_do_anything(site: Site, users: dict[str, str]) -> None:
    manager = as_user(site, users, "manager")
    item = manager.insert({"doctype": "Item", "item_code": tag("MGR-")})
    manager.update("Item", item["name"], {"item_name": "renamed"})
    manager.delete("Item", item["name"])
    inv = new_invoice(Session(site, "Administrator"))
    assert manager.submit("Sales Invoice", inv["name"])["docstatus"] == 1


def test_guest_may_do_nothing(site: Site) -> None:
    guest = Session(site, "Guest")
    denied(lambda: guest.get_list("ToDo"), "read", "ToDo")
    denied(lambda: guest.insert({"doctype": "ToDo", "description": "x"}), "create", "ToDo")


def test_all_role_reads_doctypes_but_cannot_change_them(site: Site, users: dict[str, str]) -> None:
    nobody = as_user(site, users, "nobody")
    assert nobody.get("DocType", "ToDo")["name"] == "ToDo"
    denied(lambda: nobody.insert({"doctype": "DocType", "name": tag("Sneaky ")}), "create", "DocType")
    denied(lambda: nobody.insert({"doctype": "Custom Field", "dt": "ToDo", "fieldname": "x"}), "create", "Custom Field")
    denied(lambda: nobody.insert({"doctype": "User", "email": "new@example.com"}), "create", "User")


def test_child_tables_are_reached_through_their_parent(site: Site, users: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="child table"):
        as_user(site, users, "manager").get_list("Has Role")


def test_ignore_permissions_flag(site: Site, users: dict[str, str]) -> None:
    trusted = Session(site, users["nobody"], ignore_permissions=True)
    item = trusted.insert({"doctype": "Item", "item_code": tag("SYS-")})
    assert item["owner"] == users["nobody"]
