"""``Session.insert_many``: the same documents, names, hooks and errors as one ``insert`` after
another in one transaction, written with a statement per table instead of per document."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from docstream.errors import (
    DocstatusError,
    DoesNotExistError,
    DuplicateEntryError,
    LinkValidationError,
    MandatoryError,
    PermissionError,
    UnknownFieldError,
    ValidationError,
)
from docstream.model.doctypes import import_doctype
from docstream.model.documents import MASK, Session
from docstream.site import Site
from tests.model.conftest import new_customer, new_item, table_count, tag

YEAR = dt.date.today().strftime("%Y")
YYMM = dt.date.today().strftime("%y%m")
CLERK = "Batch Clerk"  # may create Vouchers, not submit them
DOCTYPES = [
    {"name": "Batch Note", "module": "Test", "autoname": "BN-.#####",
     "fields": [{"fieldname": "title", "fieldtype": "Data", "reqd": 1},
                {"fieldname": "follows", "fieldtype": "Link", "options": "Batch Note"}]},
    {"name": "Batch Count", "module": "Test", "autoname": "autoincrement",
     "fields": [{"fieldname": "title", "fieldtype": "Data"}]},
    {"name": "Batch Format", "module": "Test", "autoname": "format:BF-{region}-{YYYY}-{####}",
     "fields": [{"fieldname": "region", "fieldtype": "Data"}]},
    {"name": "Batch Serial", "module": "Test", "autoname": "naming_series:",
     "fields": [{"fieldname": "naming_series", "fieldtype": "Select", "options": "BS-.YY.MM.-.###\nBT-.####"}]},
    {"name": "Batch Nested", "module": "Test", "autoname": "BX-.##.-.##",  # a second counter keyed by the first
     "fields": [{"fieldname": "title", "fieldtype": "Data"}]},
    {"name": "Voucher", "module": "Test", "autoname": "hash", "is_submittable": 1,
     "fields": [{"fieldname": "amount", "fieldtype": "Currency"}],
     "permissions": [{"role": CLERK, "read": 1, "write": 1, "create": 1}]},
]


@pytest.fixture(scope="module")
def batch_site(site: Site, gadget: str) -> Site:
    admin = site.session()
    admin.insert({"doctype": "Role", "role_name": CLERK})
    import_doctype(admin, DOCTYPES)
    return site


@pytest.fixture
def events(batch_site: Site) -> Iterator[list[tuple[str, str, bool]]]:
    """(event, document title, whether its row is in the database yet) of every Batch Note hook."""
    seen: list[tuple[str, str, bool]] = []
    hooks = batch_site.hooks
    registered = []
    for event in ("validate", "before_insert", "after_insert", "on_update", "on_submit"):
        def run(session: Session, doc: dict[str, Any], old: Any, event: str = event) -> None:
            assert session.db.in_transaction and old is None
            stored = bool(doc.get("name")) and session.exists("Batch Note", doc["name"])
            seen.append((event, doc["title"], stored))
        hooks.on(event, "Batch Note")(run)
        registered.append((event, run))
    yield seen
    for event, run in registered:
        hooks._hooks[(event, "Batch Note")].remove(run)  # noqa: SLF001 - the test's own hooks


def counter(site: Site, key: str) -> int | None:
    return site.db.value('SELECT current FROM "tabSeries" WHERE name = ?', (key,))


def number(name: str) -> int:
    return int(re.findall(r"\d+", name)[-1])


def comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """A document without what differs between any two inserts (its name, its moment)."""
    skip = {"name", "creation", "modified", "parent"}
    return {k: [comparable(r) for r in v] if isinstance(v, list) else v for k, v in doc.items() if k not in skip}


# -- the same as one insert after another --------------------------------------------------------

def test_names_continue_the_counters_as_sequential_inserts_would(batch_site: Site, admin: Session) -> None:
    first = admin.insert({"doctype": "Batch Note", "title": "before"})["name"]
    batch = admin.insert_many([{"doctype": "Batch Note", "title": f"n{i}"} for i in range(4)])
    after = admin.insert({"doctype": "Batch Note", "title": "after"})["name"]
    assert [number(n) for n in [first, *(d["name"] for d in batch), after]] == list(range(number(first), number(first) + 6))
    assert all(re.fullmatch(r"BN-\d{5}", d["name"]) for d in batch)
    assert counter(batch_site, "BN-") == number(after)


def test_autoincrement_and_format_names(admin: Session) -> None:
    start = int(admin.insert({"doctype": "Batch Count", "title": "x"})["name"])
    assert [d["name"] for d in admin.insert_many([{"doctype": "Batch Count"}] * 3)] == [str(start + i) for i in (1, 2, 3)]
    region = tag("r")
    names = [d["name"] for d in admin.insert_many([{"doctype": "Batch Format", "region": region}] * 2)]
    first = number(names[0])
    assert names == [f"BF-{region}-{YEAR}-{first:04d}", f"BF-{region}-{YEAR}-{first + 1:04d}"]


def test_each_series_of_a_batch_counts_on(batch_site: Site, admin: Session) -> None:
    base_bs, base_bt = counter(batch_site, f"BS-{YYMM}-") or 0, counter(batch_site, "BT-") or 0
    docs = [{"doctype": "Batch Serial", "naming_series": s} for s in ("BT-.####", None, "BT-.####", None, None)]
    names = [d["name"] for d in admin.insert_many(docs)]
    assert names == [f"BT-{base_bt + 1:04d}", f"BS-{YYMM}-{base_bs + 1:03d}", f"BT-{base_bt + 2:04d}",
                     f"BS-{YYMM}-{base_bs + 2:03d}", f"BS-{YYMM}-{base_bs + 3:03d}"]
    assert (counter(batch_site, f"BS-{YYMM}-"), counter(batch_site, "BT-")) == (base_bs + 3, base_bt + 2)


def test_a_counter_keyed_by_another_counter(batch_site: Site, admin: Session) -> None:
    names = [d["name"] for d in admin.insert_many([{"doctype": "Batch Nested", "title": str(i)} for i in range(3)])]
    start = number(names[0].split("-")[1])
    assert names == [f"BX-{start + i:02d}-01" for i in range(3)]
    assert admin.insert({"doctype": "Batch Nested"})["name"] == f"BX-{start + 3:02d}-01"  # no number left unused
    assert counter(batch_site, "BX-") == start + 3


def test_documents_equal_those_of_sequential_inserts(admin: Session, gadget: str) -> None:
    item = new_item(admin)["name"]
    customer = new_customer(admin)["name"]
    invoices = [{"doctype": "Sales Invoice", "customer": customer, "remarks": f"r{i}",
                 "items": [{"item_code": item, "qty": i + 1, "rate": 2.5}, {"item_code": item}]} for i in range(3)]
    gadgets = [{"doctype": gadget, "title": f"g{i}", "qty": "3", "seen_at": "2024-02-29T23:59:58", "data": {"k": [i]},
                "item": item, "ref_type": "Item", "ref_name": item, "parts": [{"item": item, "qty": 2}],
                "tags": [{"tag": "red"}, {"tag": "blue"}]} for i in range(3)]
    for docs in (invoices, gadgets):
        one_by_one = [admin.insert(dict(doc)) for doc in docs]
        batched = admin.insert_many(docs)
        assert [comparable(d) for d in batched] == [comparable(d) for d in one_by_one]
        assert [admin.get(d["doctype"], d["name"]) for d in batched] == batched  # stored as returned
    sequence = [number(d["name"]) for d in admin.get_list("Sales Invoice", filters={"customer": customer},
                                                           order_by="name asc")]
    assert sequence == list(range(sequence[0], sequence[0] + 6))


def test_stamps_owner_and_child_rows(site: Site, admin: Session) -> None:
    customer = new_customer(admin)["name"]
    item = new_item(admin)["name"]
    before = dt.datetime.now().isoformat(" ")
    docs = admin.insert_many([{"doctype": "Sales Invoice", "customer": customer,
                               "items": [{"item_code": item, "qty": 1}, {"item_code": item, "qty": 2}]}] * 2)
    for doc in docs:
        assert doc["owner"] == doc["modified_by"] == "Administrator"
        assert before <= doc["creation"] == doc["modified"]
        assert [(r["idx"], r["parent"], r["parenttype"], r["parentfield"], r["owner"], r["creation"]) for r in doc["items"]] \
            == [(i, doc["name"], "Sales Invoice", "items", "Administrator", doc["creation"]) for i in (1, 2)]
        assert all(re.fullmatch(r"[0-9a-f]{10}", r["name"]) for r in doc["items"])
    assert table_count(site, "Sales Invoice Item", "parent IN (?, ?)", tuple(d["name"] for d in docs)) == 4


def test_hooks_run_for_each_document_before_and_after_the_write(admin: Session, events: list[tuple[str, str, bool]]) -> None:
    admin.insert_many([{"doctype": "Batch Note", "title": t} for t in ("a", "b")])
    assert events == [
        ("validate", "a", False), ("validate", "b", False),
        ("before_insert", "a", False), ("before_insert", "b", False),
        ("after_insert", "a", True), ("on_update", "a", True),
        ("after_insert", "b", True), ("on_update", "b", True),
    ]


def test_a_document_may_link_to_one_before_it(admin: Session) -> None:
    stored = admin.insert({"doctype": "Batch Note", "title": "stored"})["name"]
    name = tag("BNL-")
    docs = admin.insert_many([{"doctype": "Batch Note", "title": "x", "name": name},
                              {"doctype": "Batch Note", "title": "y", "follows": name},
                              {"doctype": "Batch Note", "title": "z", "follows": stored}])
    assert [d["follows"] for d in docs] == [None, name, stored]


def test_documents_of_several_doctypes(admin: Session) -> None:
    code = tag("BI-")
    docs = admin.insert_many([{"doctype": "Item", "item_code": code}, {"doctype": "ToDo", "description": "d",
                              "reference_type": "Item", "reference_name": code}, {"doctype": "Item", "item_code": code + "b"}])
    assert [d["doctype"] for d in docs] == ["Item", "ToDo", "Item"]
    assert admin.get("ToDo", docs[1]["name"])["reference_name"] == code


def test_submitted_documents(site: Site, admin: Session) -> None:
    submitted: list[str] = []
    site.hooks.on("on_submit", "Voucher")(lambda s, doc, old: submitted.append(doc["name"]))
    docs = admin.insert_many([{"doctype": "Voucher", "amount": 1, "docstatus": 1}, {"doctype": "Voucher", "amount": 2}])
    assert [d["docstatus"] for d in docs] == [1, 0]
    assert submitted == [docs[0]["name"]]
    assert admin.get("Voucher", docs[0]["name"])["docstatus"] == 1


def test_passwords_are_kept_as_secrets(site: Site, admin: Session, gadget: str) -> None:
    docs = admin.insert_many([{"doctype": gadget, "title": "p", "secret": f"s3cret-{i}"} for i in range(2)])
    assert [d["secret"] for d in docs] == [MASK, MASK]
    assert [site.secrets.decrypt(gadget, d["name"], "secret") for d in docs] == ["s3cret-0", "s3cret-1"]
    assert "s3cret" not in str(site.db.sql(f'SELECT secret FROM "tab{gadget}" WHERE name = ?', (docs[0]["name"],)))


def test_an_empty_batch(admin: Session) -> None:
    assert admin.insert_many([]) == []


def test_writes_take_a_statement_per_table_not_per_document(
    site: Site, admin: Session, gadget: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Names checked, links checked and rows written once per table for the batch: the
    statements that touch the tables count the same for 10 documents as for 60."""
    items = [new_item(admin)["name"] for _ in range(3)]
    touched: list[str] = []
    db = site.db
    run, run_many, run_batch = db._run, db._run_many, db._run_batch  # noqa: SLF001 - counting what reaches the driver
    monkeypatch.setattr(db, "_run", lambda conn, query, params: touched.append(query) or run(conn, query, params))
    monkeypatch.setattr(db, "_run_many", lambda conn, query, seq: touched.append(query) or run_many(conn, query, seq))
    monkeypatch.setattr(db, "_run_batch", lambda conn, statements: touched.extend(q for q, _, _ in statements) or run_batch(conn, statements))

    def statements(n: int) -> dict[str, int]:
        touched.clear()
        admin.insert_many([{"doctype": gadget, "title": str(i), "item": items[i % 3], "ref_type": "Item",
                            "ref_name": items[(i + 1) % 3], "parts": [{"item": items[0]}]} for i in range(n)])
        tables = ("tabItem", f"tab{gadget}", "tabGadget Part", "tabSeries")
        return {t: sum(f'"{t}"' in q for q in touched) for t in tables}

    assert statements(10) == statements(60) == {"tabItem": 1, f"tab{gadget}": 2, "tabGadget Part": 1, "tabSeries": 0}



def test_batches_and_single_inserts_from_several_threads_never_share_a_number(batch_site: Site) -> None:
    """Each batch holds its range of the counter until it commits, as a single insert holds its
    number: every name is drawn once, and together they are contiguous."""
    start = counter(batch_site, "BN-") or 0
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            session = batch_site.session()
            for round_ in range(4):
                session.insert_many([{"doctype": "Batch Note", "title": f"race {n} {round_} {i}"} for i in range(7)])
                session.insert({"doctype": "Batch Note", "title": f"race {n} {round_} single"})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = batch_site.db.sql('SELECT name, title FROM "tabBatch Note" WHERE title LIKE ?', ("race %",))
    assert sorted(number(r["name"]) for r in rows) == list(range(start + 1, start + 1 + 4 * 4 * 8))
    batches: dict[str, list[int]] = {}
    for r in rows:
        if not r["title"].endswith("single"):
            batches.setdefault(r["title"].rsplit(" ", 1)[0], []).append(number(r["name"]))
    assert all(sorted(b) == list(range(min(b), min(b) + 7)) for b in batches.values())  # a batch's range is its own

# -- a failure anywhere writes nothing -----------------------------------------------------------

def unchanged(site: Site, action: Any, error: type[Exception]) -> Exception:
    """``action`` raises ``error`` and leaves every table and counter as it was."""
    tables = ("Batch Note", "Item", "ToDo", "Sales Invoice", "Sales Invoice Item", "Voucher", "Series")
    before = {t: table_count(site, t) for t in tables}
    series = site.db.sql('SELECT name, current FROM "tabSeries" ORDER BY name')
    with pytest.raises(error) as info:
        action()
    assert {t: table_count(site, t) for t in tables} == before
    assert site.db.sql('SELECT name, current FROM "tabSeries" ORDER BY name') == series
    return info.value


def test_a_name_given_twice_in_the_batch(batch_site: Site, admin: Session) -> None:
    name = tag("BND-")
    docs = [{"doctype": "Batch Note", "title": "a"}, {"doctype": "Batch Note", "title": "b", "name": name},
            {"doctype": "Batch Note", "title": "c", "name": name}]
    err = unchanged(batch_site, lambda: admin.insert_many(docs), DuplicateEntryError)
    assert err.message == f"document 3 of 3: Batch Note {name} already exists"
    assert (err.doctype, err.name, err.index, err.http_status) == ("Batch Note", name, 2, 409)


def test_a_name_already_taken(batch_site: Site, admin: Session) -> None:
    code = new_item(admin)["name"]
    docs = [{"doctype": "Item", "item_code": tag("BNT-")}, {"doctype": "Item", "item_code": code}]
    err = unchanged(batch_site, lambda: admin.insert_many(docs), DuplicateEntryError)
    assert err.message == f"document 2 of 2: Item {code} already exists"


def test_a_missing_link_target(batch_site: Site, admin: Session) -> None:
    docs = [{"doctype": "ToDo", "description": "ok", "allocated_to": "Administrator"},
            {"doctype": "ToDo", "description": "bad", "allocated_to": "nobody@example.com"}]
    err = unchanged(batch_site, lambda: admin.insert_many(docs), LinkValidationError)
    assert err.message == "document 2 of 2: ToDo: could not find User 'nobody@example.com' (Allocated To)"
    assert err.field == "allocated_to"


def test_a_link_to_a_later_document_of_the_batch_fails_as_it_would_one_by_one(batch_site: Site, admin: Session) -> None:
    later = tag("BNF-")
    docs = [{"doctype": "Batch Note", "title": "a", "follows": later}, {"doctype": "Batch Note", "title": "b", "name": later}]
    err = unchanged(batch_site, lambda: admin.insert_many(docs), LinkValidationError)
    assert err.message.startswith("document 1 of 2: Batch Note: could not find Batch Note")


def test_a_bad_link_in_a_child_row(batch_site: Site, admin: Session) -> None:
    customer = new_customer(admin)["name"]
    docs = [{"doctype": "Sales Invoice", "customer": customer, "items": [{"item_code": new_item(admin)["name"]}]},
            {"doctype": "Sales Invoice", "customer": customer, "items": [{"item_code": "NO-SUCH-ITEM"}]}]
    err = unchanged(batch_site, lambda: admin.insert_many(docs), LinkValidationError)
    assert "document 2 of 2" in err.message and "NO-SUCH-ITEM" in err.message


def test_a_mandatory_field_missing_in_the_third_of_five(batch_site: Site, admin: Session) -> None:
    docs = [{"doctype": "Batch Note", "title": f"t{i}"} for i in range(5)]
    docs[2] = {"doctype": "Batch Note", "title": ""}
    err = unchanged(batch_site, lambda: admin.insert_many(docs), MandatoryError)
    assert err.message == "document 3 of 5: Batch Note: Title is required"
    assert (err.field, err.index) == ("title", 2)


@pytest.mark.parametrize(("bad", "error", "says"), [
    ({"doctype": "ToDo", "description": "x", "colour": "red"}, UnknownFieldError, "ToDo has no field 'colour'"),
    ({"doctype": "ToDo", "description": "x", "priority": "Urgent"}, ValidationError, "Priority must be one of"),
    ({"doctype": "ToDo", "description": "x", "date": "soon"}, ValidationError, "'soon' is not a valid Date"),
    ({"description": "no doctype"}, ValidationError, "the document has no doctype"),
    ({"doctype": "No Such Type"}, DoesNotExistError, "DocType No Such Type not found"),
    ({"doctype": "Batch Note", "title": "x", "docstatus": 1}, DocstatusError, "can't have docstatus 1"),
])
def test_bad_input_names_the_document(batch_site: Site, admin: Session, bad: dict[str, Any], error: type, says: str) -> None:
    docs = [{"doctype": "ToDo", "description": "fine"}, bad, {"doctype": "ToDo", "description": "fine too"}]
    err = unchanged(batch_site, lambda: admin.insert_many(docs), error)
    assert err.message.startswith("document 2 of 3: ") and says in err.message


def test_not_a_list_of_documents(admin: Session) -> None:
    with pytest.raises(ValidationError, match="a list of documents"):
        admin.insert_many({"doctype": "ToDo", "description": "x"})  # type: ignore[arg-type]
    for docs in ([{"description": "x"}], ["ToDo"]):
        with pytest.raises(ValidationError, match="^document 1 of 1: the document has no doctype$"):
            admin.insert_many(docs)


def test_a_failing_hook_undoes_the_whole_batch(batch_site: Site, admin: Session) -> None:
    def refuse(session: Session, doc: dict[str, Any], old: Any) -> None:
        if doc["title"] == "last":
            raise ValidationError("after_insert says no", doctype="Batch Note")
    batch_site.hooks.on("after_insert", "Batch Note")(refuse)
    try:
        docs = [{"doctype": "Batch Note", "title": "one"}, {"doctype": "Batch Note", "title": "last"}]
        err = unchanged(batch_site, lambda: admin.insert_many(docs), ValidationError)
        assert err.message == "document 2 of 2: after_insert says no"
    finally:
        batch_site.hooks._hooks[("after_insert", "Batch Note")].remove(refuse)  # noqa: SLF001


# -- permissions ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clerk(batch_site: Site) -> Session:
    email = f"clerk.{tag()}@example.com"
    batch_site.session().insert({"doctype": "User", "email": email, "roles": [{"role": CLERK}]})
    return batch_site.session(email)


def test_create_permission_is_checked(batch_site: Site, clerk: Session) -> None:
    assert len(clerk.insert_many([{"doctype": "Voucher", "amount": 1}] * 2)) == 2
    err = unchanged(batch_site, lambda: clerk.insert_many([{"doctype": "Item", "item_code": tag("BP-")}]), PermissionError)
    assert err.message.startswith(f"document 1 of 1: {clerk.user} has no create permission on Item")
    assert err.http_status == 403


def test_submit_permission_is_checked(batch_site: Site, clerk: Session) -> None:
    docs = [{"doctype": "Voucher", "amount": 1}, {"doctype": "Voucher", "amount": 2, "docstatus": 1}]
    err = unchanged(batch_site, lambda: clerk.insert_many(docs), PermissionError)
    assert err.message.startswith(f"document 2 of 2: {clerk.user} has no submit permission on Voucher")
