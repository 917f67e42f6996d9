"""The DocTypes every site has (SPEC §3), their naming, fields and permissions; a new site's users."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from docstream.errors import ValidationError
from docstream.model.documents import Session
from docstream.site import Site
from tests.model.conftest import new_customer, new_item, tag

# doctype: (autoname, {fieldname: (fieldtype, options, reqd, default)}) — None means "any"
SPEC = {
    "Custom Field": ("format:{dt}-{fieldname}", {
        "dt": ("Link", "DocType", 1, None), "fieldname": ("Data", None, 1, None), "label": ("Data", None, None, None),
        "fieldtype": ("Select", None, 1, None), "options": (None, None, None, None), "reqd": ("Check", None, None, None),
        "unique": ("Check", None, None, None), "default": (None, None, None, None),
        "read_only": ("Check", None, None, None), "insert_after": ("Data", None, None, None),
    }),
    "Role": ("field:role_name", {"role_name": ("Data", None, 1, None)}),
    "User": (None, {
        "email": ("Data", None, 1, None), "first_name": ("Data", None, None, None), "last_name": ("Data", None, None, None),
        "enabled": ("Check", None, None, "1"), "roles": ("Table", "Has Role", None, None),
        "api_key": ("Data", None, None, None), "api_secret": ("Password", None, None, None),
    }),
    "Has Role": (None, {"role": ("Link", "Role", None, None)}),
    "ToDo": ("hash", {
        "description": ("Text", None, 1, None), "status": ("Select", "Open\nClosed\nCancelled", None, "Open"),
        "priority": ("Select", "Low\nMedium\nHigh", None, "Medium"), "date": ("Date", None, None, None),
        "allocated_to": ("Link", "User", None, None), "assigned_by": ("Link", "User", None, None),
        "role": ("Link", "Role", None, None), "reference_type": ("Link", "DocType", None, None),
        "reference_name": ("Dynamic Link", "reference_type", None, None),
    }),
    "Note": ("hash", {
        "title": ("Data", None, 1, None), "content": ("Long Text", None, None, None), "public": ("Check", None, None, None),
        "seen_by": ("Table", "Note Seen By", None, None),
    }),
    "Note Seen By": (None, {"user": ("Link", "User", None, None)}),
    "Company": ("field:company_name", {
        "company_name": ("Data", None, 1, None), "abbr": ("Data", None, None, None),
        "default_currency": (None, None, None, None),
    }),
    "Customer": ("field:customer_name", {
        "customer_name": ("Data", None, 1, None), "customer_group": (None, None, None, None),
        "territory": (None, None, None, None), "email_id": (None, None, None, None),
    }),
    "Supplier": ("field:supplier_name", {"supplier_name": ("Data", None, 1, None), "supplier_group": (None, None, None, None)}),
    "Item": ("field:item_code", {
        "item_code": ("Data", None, 1, None), "item_name": (None, None, None, None), "item_group": (None, None, None, None),
        "stock_uom": (None, None, None, "Nos"), "standard_rate": ("Currency", None, None, None),
    }),
    "Sales Invoice": ("naming_series:", {
        "naming_series": (None, None, None, "SINV-.YYYY.-.#####"), "customer": ("Link", "Customer", 1, None),
        "company": ("Link", "Company", None, None), "posting_date": ("Date", None, None, None),
        "items": ("Table", "Sales Invoice Item", None, None), "grand_total": (None, None, None, None),
        "remarks": ("Small Text", None, None, None),
    }),
    "Sales Invoice Item": (None, {
        "item_code": ("Link", "Item", 1, None), "item_name": (None, None, None, None), "qty": ("Float", None, None, "1"),
        "rate": ("Currency", None, None, None), "amount": (None, None, None, None),
    }),
}
CHILD = {"Has Role", "Note Seen By", "Sales Invoice Item", "DocField", "DocPerm"}
STREAMING = ["Event Producer", "Event Producer Document Type", "Event Consumer", "Event Consumer Document Type",
             "Event Update Log", "Event Sync Log", "Document Type Mapping", "Document Type Field Mapping"]


@pytest.mark.parametrize("doctype", sorted(SPEC))
def test_spec_doctypes(site: Site, doctype: str) -> None:
    autoname, fields = SPEC[doctype]
    meta = site.metas.get(doctype)
    assert meta.istable == (doctype in CHILD)
    if autoname:
        assert meta.autoname == autoname
    for fieldname, (fieldtype, options, reqd, default) in fields.items():
        field = meta.get_field(fieldname)
        assert field is not None, f"{doctype}.{fieldname} is missing"
        got = (field.fieldtype, field.options, int(field.reqd), field.default)
        want = (fieldtype, options, reqd, default)
        assert all(w is None or g == w for g, w in zip(got, want)), f"{doctype}.{fieldname}: {got} ≠ {want}"


@pytest.mark.parametrize("doctype", ["DocType", "DocField", "DocPerm", *STREAMING])
def test_other_builtin_doctypes_exist(site: Site, doctype: str) -> None:
    assert site.metas.exists(doctype)


def test_every_parent_doctype_has_permissions(site: Site) -> None:
    missing = [m.name for m in site.metas.all().values() if not m.istable and not m.permissions]
    assert missing == []
    for meta in site.metas.all().values():
        if not meta.istable:
            assert any(p["role"] == "System Manager" and p["read"] for p in meta.permissions), meta.name


def test_read_only_fields(site: Site) -> None:
    assert site.metas.get("User").get_field("api_key").read_only  # type: ignore[union-attr]
    assert site.metas.get("Sales Invoice").get_field("grand_total").read_only  # type: ignore[union-attr]
    assert site.metas.get("Sales Invoice Item").get_field("amount").read_only  # type: ignore[union-attr]


def test_only_sales_invoice_is_submittable(site: Site) -> None:
    submittable = {m.name for m in site.metas.all().values() if m.is_submittable}
    assert "Sales Invoice" in submittable
    assert not {"ToDo", "Note", "Customer", "Item", "User"} & submittable


# -- behaviour of the sample business app ----------------------------------------------------------

def test_sales_invoice_defaults_and_totals(admin: Session) -> None:
    item = new_item(admin)
    inv = admin.insert({"doctype": "Sales Invoice", "customer": new_customer(admin)["name"],
                        "items": [{"item_code": item["name"], "rate": 2.5}, {"item_code": item["name"], "qty": 4, "rate": 1}]})
    assert inv["posting_date"] == dt.date.today().isoformat()
    assert [r["qty"] for r in inv["items"]] == [1.0, 4.0]
    assert [r["amount"] for r in inv["items"]] == [2.5, 4.0]
    assert inv["grand_total"] == 6.5
    changed = admin.update("Sales Invoice", inv["name"], {"items": [{"item_code": item["name"], "qty": 3, "rate": 3}],
                                                         "grand_total": 1000})
    assert changed["grand_total"] == 9.0  # read only: always computed


def test_item_and_company_defaults(admin: Session) -> None:
    assert new_item(admin)["stock_uom"] == "Nos"
    assert admin.insert({"doctype": "Company", "company_name": tag("Co ")})["default_currency"] == "USD"


def test_user_is_named_by_email(admin: Session) -> None:
    user = admin.insert({"doctype": "User", "email": f"{tag('Mixed.Case')}@Example.com",
                         "roles": [{"role": "Sales User"}]})
    assert user["name"] == user["email"].lower()
    assert user["enabled"] == 1
    with pytest.raises(ValidationError, match="not a valid email"):
        admin.insert({"doctype": "User", "email": "not-an-email"})


def test_a_new_site_has_administrator_guest_and_roles(site: Site) -> None:
    admin = site.session()
    assert admin.exists("User", "Administrator") and admin.exists("User", "Guest")
    assert site.secrets.check_password("Administrator", "admin")
    assert not site.secrets.check_password("Administrator", "wrong")
    roles = {r["name"] for r in admin.get_list("Role", limit_page_length=0)}
    assert {"Administrator", "System Manager", "All", "Guest", "Sales User", "Accounts User", "Item Manager"} <= roles
    assert {r["role"] for r in admin.get("User", "Administrator")["roles"]} >= {"Administrator", "System Manager"}
    assert admin.get("User", "Administrator")["new_password"] is None  # never stored in the table


def test_the_standard_users_stay(site: Site) -> None:
    """As in Frappe: Administrator and Guest can't be disabled or deleted, and Administrator keeps
    its roles; anything else about them may change."""
    manager = site.session("Administrator").as_user("Administrator")
    for user in ("Administrator", "Guest"):
        with pytest.raises(ValidationError, match=f"User {user} is a standard user and can't be disabled"):
            manager.update("User", user, {"enabled": 0})
        with pytest.raises(ValidationError, match=f"User {user} is a standard user and can't be deleted"):
            manager.delete("User", user)
        assert manager.get("User", user)["enabled"] == 1
    for kept in ([{"role": "System Manager"}], [{"role": "Administrator"}], []):
        with pytest.raises(ValidationError, match="must keep the role"):
            manager.update("User", "Administrator", {"roles": kept})
    assert {r["role"] for r in manager.get("User", "Administrator")["roles"]} >= {"Administrator", "System Manager"}
    changed = manager.update("User", "Administrator", {"last_name": "Root", "roles": [
        {"role": "Administrator"}, {"role": "System Manager"}, {"role": "Sales User"}]})
    assert changed["last_name"] == "Root" and len(changed["roles"]) == 3
    other = manager.insert({"doctype": "User", "email": f"{tag('plain')}@example.com"})
    manager.update("User", other["name"], {"enabled": 0})
    manager.delete("User", other["name"])


def test_a_client_cant_set_read_only_fields(site: Site) -> None:
    """A client's write (``from_client``) may carry a read-only field only with the value it
    has; the site's own writes (generate-keys, the sync engine, ignore_permissions) set them."""
    from docstream.auth.users import add_user, generate_keys

    admin = site.session()
    user = add_user(admin, f"{tag('ro')}@example.com", roles=["Sales User"])["name"]
    keys = generate_keys(site.session(from_client=True), user)  # the desk's button: a client session
    client = site.session(from_client=True)
    for changes in ({"api_key": "someone-elses"}, {"api_secret": "chosen"}, {"api_key": None}):
        with pytest.raises(ValidationError, match="is read only") as info:
            client.update("User", user, changes)
        assert info.value.field == next(iter(changes)) and "chosen" not in info.value.message
    with pytest.raises(ValidationError, match="is read only"):
        client.insert({"doctype": "User", "email": f"{tag('ro')}@example.com", "api_key": "picked"})
    stored = client.get("User", user)
    assert stored["api_key"] == keys["api_key"]
    client.save({**stored, "last_name": "Sent Back Whole"})  # unchanged read-only values are fine
    # child rows: a row's stored value, a new row's default
    inv = new_invoice_with_amount(client)
    with pytest.raises(ValidationError, match="Amount is read only"):
        client.update("Sales Invoice", inv["name"], {"items": [{**inv["items"][0], "amount": 1}]})
    client.update("Sales Invoice", inv["name"], {"items": [{**inv["items"][0], "qty": 2}]})
    system = site.session(from_client=True, ignore_permissions=True)
    assert system.update("User", user, {"api_key": "set-by-the-site"})["api_key"] == "set-by-the-site"


def new_invoice_with_amount(session: Session) -> dict[str, Any]:
    item = new_item(session)
    return session.insert({"doctype": "Sales Invoice", "customer": new_customer(session)["name"],
                           "items": [{"item_code": item["name"], "qty": 1, "rate": 3}]})


def test_api_keys_are_unique(site: Site) -> None:
    from docstream.auth.credentials import identity_for_api_key
    from docstream.auth.users import add_user, generate_keys
    from docstream.errors import AuthenticationError, DuplicateEntryError

    admin = site.session()
    a, b = (add_user(admin, f"{tag('key')}@example.com")["name"] for _ in range(2))
    ka, kb = generate_keys(admin, a), generate_keys(admin, b)
    with pytest.raises(DuplicateEntryError):
        admin.update("User", a, {"api_key": kb["api_key"]})
    assert identity_for_api_key(site, kb["api_key"], kb["api_secret"]).user == b
    # a site from before the key was unique may hold a key twice: it then authenticates no one
    index = site.db.value("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tabUser' AND sql LIKE '%api_key%'") \
        if site.db.dialect == "sqlite" else \
        site.db.value("SELECT indexname FROM pg_indexes WHERE tablename = 'tabUser' AND indexdef LIKE '%api_key%'")
    assert index
    site.db.sql(f'DROP INDEX "{index}"')
    try:
        site.db.sql('UPDATE "tabUser" SET api_key = ? WHERE name = ?', (kb["api_key"], a))
        for secret in (ka["api_secret"], kb["api_secret"]):
            with pytest.raises(AuthenticationError):
                identity_for_api_key(site, kb["api_key"], secret)
    finally:
        site.db.sql('UPDATE "tabUser" SET api_key = ? WHERE name = ?', (ka["api_key"], a))
        site.db.sql(f'CREATE UNIQUE INDEX "{index}" ON "tabUser" (api_key)')
