"""A site per test module and backend: the model contract tests run on SQLite and PostgreSQL.

Creating a site on PostgreSQL takes about a second, so the site is shared by the tests of a
module; each test makes its own documents (``tag()`` gives unique names) and never assumes an
empty table. Tests that change the schema use ``make_site`` for a site of their own.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from docstream.model.documents import Session
from docstream.site import Site
from tests.conftest import new_pg_url

_tags = itertools.count(1)


def tag(prefix: str = "t") -> str:
    """A name no other test of the run uses."""
    return f"{prefix}{next(_tags):05d}"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if request.param == "postgres":
        request.getfixturevalue("postgres")
    base = tmp_path_factory.mktemp("sites")
    opened = Site.create("model.local", "admin", base, db_url=new_pg_url() if request.param == "postgres" else None)
    yield opened
    opened.close()


@pytest.fixture
def admin(site: Site) -> Session:
    return site.session()


def table_count(site: Site, doctype: str, where: str = "1=1", params: tuple[Any, ...] = ()) -> int:
    return int(site.db.value(f'SELECT COUNT(*) FROM "tab{doctype}" WHERE {where}', params))


GADGET = [
    {"name": "Gadget Part", "module": "Test", "istable": 1, "fields": [
        {"fieldname": "item", "fieldtype": "Link", "options": "Item", "reqd": 1},
        {"fieldname": "qty", "fieldtype": "Int", "default": "1"},
        {"fieldname": "note", "fieldtype": "Data"},
    ]},
    {"name": "Gadget Tag", "module": "Test", "istable": 1, "fields": [
        {"fieldname": "tag", "fieldtype": "Data", "reqd": 1},
    ]},
    {"name": "Gadget", "module": "Test", "autoname": "hash", "fields": [
        {"fieldname": "title", "fieldtype": "Data", "reqd": 1},
        {"fieldname": "code", "fieldtype": "Data", "unique": 1},
        {"fieldname": "qty", "fieldtype": "Int"},
        {"fieldname": "weight", "fieldtype": "Float"},
        {"fieldname": "price", "fieldtype": "Currency"},
        {"fieldname": "pct", "fieldtype": "Percent"},
        {"fieldname": "active", "fieldtype": "Check", "default": "1"},
        {"fieldname": "made_on", "fieldtype": "Date"},
        {"fieldname": "seen_at", "fieldtype": "Datetime"},
        {"fieldname": "opens", "fieldtype": "Time"},
        {"fieldname": "size", "fieldtype": "Select", "options": "Small\nMedium\nLarge", "default": "Medium"},
        {"fieldname": "summary", "fieldtype": "Small Text"},
        {"fieldname": "body", "fieldtype": "Text"},
        {"fieldname": "story", "fieldtype": "Long Text"},
        {"fieldname": "snippet", "fieldtype": "Code"},
        {"fieldname": "item", "fieldtype": "Link", "options": "Item"},
        {"fieldname": "ref_type", "fieldtype": "Link", "options": "DocType"},
        {"fieldname": "ref_name", "fieldtype": "Dynamic Link", "options": "ref_type"},
        {"fieldname": "data", "fieldtype": "JSON"},
        {"fieldname": "secret", "fieldtype": "Password"},
        {"fieldname": "shown", "fieldtype": "Read Only"},
        {"fieldname": "parts", "fieldtype": "Table", "options": "Gadget Part"},
        {"fieldname": "tags", "fieldtype": "Table MultiSelect", "options": "Gadget Tag"},
    ], "permissions": [
        {"role": "Gadget Maker", "read": 1, "write": 1, "create": 1, "delete": 1},
        {"role": "Gadget Viewer", "read": 1},
    ]},
]


@pytest.fixture(scope="module")
def gadget(site: Site) -> str:
    """A test DocType with a field of every type, two child tables and two roles."""
    from docstream.model.doctypes import import_doctype

    session = site.session()
    for role in ("Gadget Maker", "Gadget Viewer"):
        if not session.exists("Role", role):
            session.insert({"doctype": "Role", "role_name": role})
    import_doctype(session, GADGET)
    return "Gadget"


def new_item(session: Session, **fields: Any) -> dict[str, Any]:
    return session.insert({"doctype": "Item", "item_code": tag("ITEM-"), "standard_rate": 10, **fields})


def new_customer(session: Session, **fields: Any) -> dict[str, Any]:
    return session.insert({"doctype": "Customer", "customer_name": tag("Customer "), **fields})


def new_invoice(session: Session, *items: dict[str, Any], **fields: Any) -> dict[str, Any]:
    rows = list(items) or [{"item_code": new_item(session)["name"], "qty": 2, "rate": 5}]
    customer = fields.pop("customer", None) or new_customer(session)["name"]
    return session.insert({"doctype": "Sales Invoice", "customer": customer, "items": rows, **fields})
