"""One real table per DocType with typed columns and indexes; Custom Fields and changed DocTypes
add columns at run time, and other Site objects on the same database (other processes) see them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from docstream.errors import DoesNotExistError, DuplicateEntryError, UnknownFieldError, ValidationError
from docstream.model import rows
from docstream.model.doctypes import import_doctype
from docstream.model.documents import Session
from docstream.model.meta import DocField, Meta
from docstream.site import Site
from tests.model.conftest import tag
from tests.support.servers import run_cli

PG_TYPES = {
    "title": "text", "qty": "bigint", "weight": "double precision", "price": "double precision",
    "pct": "double precision", "active": "smallint", "made_on": "date", "seen_at": "timestamp without time zone",
    "opens": "time without time zone", "size": "text", "summary": "text", "body": "text", "story": "text",
    "snippet": "text", "item": "text", "ref_type": "text", "ref_name": "text", "data": "jsonb", "secret": "text",
    "shown": "text", "name": "text", "creation": "timestamp without time zone",
    "modified": "timestamp without time zone", "docstatus": "integer", "idx": "integer",
}
SQLITE_TYPES = {
    "title": "TEXT", "qty": "INTEGER", "weight": "REAL", "price": "REAL", "pct": "REAL", "active": "INTEGER",
    "made_on": "TEXT", "item": "TEXT", "data": "TEXT", "name": "TEXT", "docstatus": "INTEGER", "idx": "INTEGER",
}


def column_types(site: Site, table: str) -> dict[str, str]:
    if site.db.dialect == "postgres":
        rows = site.db.sql(
            "SELECT column_name AS name, data_type AS type FROM information_schema.columns WHERE table_name = ?",
            (table,),
        )
    else:
        rows = site.db.sql(f'PRAGMA table_info("{table}")')
    return {r["name"]: r["type"] for r in rows}


def indexed_columns(site: Site, table: str) -> dict[str, bool]:
    """{column: unique} for every single-column index (the primary key included)."""
    out: dict[str, bool] = {}
    if site.db.dialect == "postgres":
        rows = site.db.sql(
            "SELECT a.attname AS col, i.indisunique AS uniq FROM pg_index i "
            "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(i.indkey) "
            "WHERE t.relname = ? AND i.indnatts = 1", (table,),
        )
        return {r["col"]: bool(r["uniq"]) for r in rows}
    for index in site.db.sql(f'PRAGMA index_list("{table}")'):
        cols = site.db.sql(f'PRAGMA index_info("{index["name"]}")')
        if len(cols) == 1:
            out[cols[0]["name"]] = bool(index["unique"])
    return out


@pytest.fixture
def other(site: Site) -> Iterator[Site]:
    """A second Site object on the same database: what another process would hold."""
    opened = Site.open(site.name, site.path.parent)
    yield opened
    opened.close()


def test_every_doctype_has_its_own_table(site: Site) -> None:
    for doctype in ("DocType", "DocField", "User", "Has Role", "ToDo", "Sales Invoice", "Sales Invoice Item"):
        assert site.db.table_columns(f"tab{doctype}"), doctype


def test_columns_are_really_typed(site: Site, gadget: str) -> None:
    types = column_types(site, f"tab{gadget}")
    expected = PG_TYPES if site.db.dialect == "postgres" else SQLITE_TYPES
    assert {k: types.get(k) for k in expected} == expected
    assert "parts" not in types and "tags" not in types  # tables are their own tables


def test_child_tables_have_parent_columns(site: Site, gadget: str) -> None:
    types = column_types(site, "tabGadget Part")
    assert {"name", "parent", "parentfield", "parenttype", "idx", "item", "qty", "note"} <= set(types)
    assert "parent" in indexed_columns(site, "tabGadget Part")


def test_indexes_on_name_modified_links_and_unique_fields(site: Site, gadget: str) -> None:
    indexes = indexed_columns(site, f"tab{gadget}")
    assert indexes.get("name") is True
    assert indexes.get("code") is True
    for column in ("modified", "item", "ref_type", "ref_name"):
        assert column in indexes, column
    todo = indexed_columns(site, "tabToDo")
    assert {"name", "modified", "allocated_to", "assigned_by", "role", "reference_type", "reference_name"} <= set(todo)


# -- Custom Field ---------------------------------------------------------------------------------

def test_custom_field_adds_a_column_at_once(site: Site, other: Site) -> None:
    admin = site.session()
    fieldname = tag("cf_")
    other.session()  # the other process has loaded its metas before the change
    admin.insert({"doctype": "Custom Field", "dt": "Customer", "fieldname": fieldname, "fieldtype": "Int",
                  "label": "Loyalty Points", "insert_after": "customer_name"})
    assert fieldname in site.db.table_columns("tabCustomer")
    meta = site.metas.get("Customer")
    assert [f.fieldname for f in meta.fields][:2] == ["customer_name", fieldname]
    doc = admin.insert({"doctype": "Customer", "customer_name": tag("C "), fieldname: "12"})
    assert doc[fieldname] == 12

    session = other.session()  # the version counter tells it to reload
    assert session.get("Customer", doc["name"])[fieldname] == 12
    again = session.insert({"doctype": "Customer", "customer_name": tag("C "), fieldname: 3})
    assert admin.get("Customer", again["name"])[fieldname] == 3
    assert session.get_list("Customer", filters={fieldname: 3}) == [{"name": again["name"]}]


def test_custom_field_on_a_child_table(site: Site) -> None:
    admin = site.session()
    fieldname = tag("line_note_")
    admin.insert({"doctype": "Custom Field", "dt": "Sales Invoice Item", "fieldname": fieldname, "fieldtype": "Data"})
    assert fieldname in site.db.table_columns("tabSales Invoice Item")


def test_custom_field_removed_from_meta_on_delete(site: Site, other: Site) -> None:
    admin = site.session()
    fieldname = tag("tmp_")
    cf = admin.insert({"doctype": "Custom Field", "dt": "Supplier", "fieldname": fieldname, "fieldtype": "Data"})
    assert other.session().meta("Supplier").has_field(fieldname)
    admin.delete("Custom Field", cf["name"])
    assert not site.metas.get("Supplier").has_field(fieldname)
    assert not other.session().meta("Supplier").has_field(fieldname)
    with pytest.raises(UnknownFieldError):
        admin.insert({"doctype": "Supplier", "supplier_name": tag("S "), fieldname: "x"})


def test_documents_lose_a_deleted_custom_field_and_its_data_comes_back_with_it(site: Site) -> None:
    """The column of a deleted Custom Field stays, with its data, but is no part of the documents:
    not read, not merged into an update (which would be refused as an unknown field), not saved."""
    admin = site.session()
    field, line_field = tag("gone_"), tag("gone_line_")
    field_cf = admin.insert({"doctype": "Custom Field", "dt": "Note", "fieldname": field, "fieldtype": "Data"})
    line_cf = admin.insert({"doctype": "Custom Field", "dt": "Note Seen By", "fieldname": line_field, "fieldtype": "Int"})
    note = admin.insert({"doctype": "Note", "title": "before", field: "kept",
                         "seen_by": [{"user": "Administrator", line_field: 7}]})
    admin.delete("Custom Field", field_cf["name"])
    admin.delete("Custom Field", line_cf["name"])
    assert field in site.db.table_columns("tabNote")

    got = admin.get("Note", note["name"])
    assert field not in got and line_field not in got["seen_by"][0]
    updated = admin.update("Note", note["name"], {"title": "after"})
    assert updated["title"] == "after" and field not in updated
    saved = admin.save({**admin.get("Note", note["name"]), "title": "saved"})
    assert saved["title"] == "saved" and field not in saved

    again = admin.insert({"doctype": "Custom Field", "dt": "Note", "fieldname": field, "fieldtype": "Data"})
    assert admin.get("Note", note["name"])[field] == "kept"
    admin.delete("Custom Field", again["name"])  # the module's site is shared: Note as it was

@pytest.mark.parametrize(("changes", "message"), [
    ({"fieldname": "customer_name"}, "already has a field"),
    ({"fieldname": "modified"}, "not a valid field name"),
    ({"fieldname": "Bad Name"}, "not a valid field name"),
    ({"fieldtype": "Hologram"}, "Hologram"),
    ({"fieldtype": "Link"}, "needs the target DocType"),
])
def test_bad_custom_fields_are_refused(site: Site, changes: dict[str, Any], message: str) -> None:
    doc = {"doctype": "Custom Field", "dt": "Customer", "fieldname": tag("ok_"), "fieldtype": "Data", **changes}
    columns = site.db.table_columns("tabCustomer")
    with pytest.raises(ValidationError, match=message):
        site.session().insert(doc)
    assert site.db.table_columns("tabCustomer") == columns
    assert not site.session().exists("Custom Field", f"Customer-{doc['fieldname']}")


def test_custom_field_on_an_unknown_doctype(site: Site) -> None:
    with pytest.raises((DoesNotExistError, ValidationError)):
        site.session().insert({"doctype": "Custom Field", "dt": "Spaceship", "fieldname": "x", "fieldtype": "Data"})


# -- DocTypes changed at run time -------------------------------------------------------------------

def test_new_doctype_gets_a_table_and_a_changed_one_a_column(site: Site, other: Site) -> None:
    name = tag("Widget ")
    definition = {"name": name, "module": "Test", "fields": [{"fieldname": "label", "fieldtype": "Data"}]}
    assert import_doctype(site.session(), definition) == [name]
    assert {"name", "label"} <= site.db.table_columns(f"tab{name}")
    first = site.session().insert({"doctype": name, "label": "a"})
    other.session()

    definition["fields"].append({"fieldname": "size_cm", "fieldtype": "Float"})
    import_doctype(site.session(), definition)
    assert column_types(site, f"tab{name}")["size_cm"] in ("REAL", "double precision")
    assert site.session().get(name, first["name"])["size_cm"] is None  # old rows keep working
    doc = other.session().insert({"doctype": name, "label": "b", "size_cm": "2.5"})
    assert site.session().get(name, doc["name"])["size_cm"] == 2.5


def test_a_doctype_changed_by_another_process(site: Site, tmp_path: Path) -> None:
    name = tag("Remote ")
    definition = {"name": name, "fields": [{"fieldname": "a", "fieldtype": "Data"}]}
    import_doctype(site.session(), definition)
    site.session().insert({"doctype": name, "a": "before"})
    definition["fields"].append({"fieldname": "added_elsewhere", "fieldtype": "Int"})
    path = tmp_path / "changed.json"
    path.write_text(json.dumps(definition))
    run_cli(site.path.parent, "doctype", "import", str(path), site=site.name)  # another process
    doc = site.session().insert({"doctype": name, "a": "after", "added_elsewhere": "7"})
    assert doc["added_elsewhere"] == 7


def test_a_failed_doctype_change_changes_nothing(site: Site) -> None:
    name = tag("Gizmo ")
    import_doctype(site.session(), {"name": name, "fields": [{"fieldname": "a", "fieldtype": "Data"}]})
    session = site.session()
    bad = [
        {"name": name, "fields": [{"fieldname": "a", "fieldtype": "Data"}, {"fieldname": "b", "fieldtype": "Int"}]},
        {"name": tag("Broken "), "fields": [{"fieldname": "x", "fieldtype": "Hologram"}]},
    ]
    with pytest.raises(ValidationError, match="Hologram"):
        import_doctype(session, bad)
    assert "b" not in site.db.table_columns(f"tab{name}")
    assert not site.db.table_columns(f"tab{bad[1]['name']}")
    with pytest.raises(UnknownFieldError):  # this process's metas were rolled back too
        session.insert({"doctype": name, "a": "x", "b": 1})
    assert session.insert({"doctype": name, "a": "still works"})["a"] == "still works"


def test_a_doctype_can_be_deleted_only_when_custom_and_empty(site: Site) -> None:
    admin = site.session()
    name = tag("Scratch ")
    import_doctype(admin, {"name": name, "fields": [{"fieldname": "a", "fieldtype": "Data"}]})
    doc = admin.insert({"doctype": name, "a": "x"})
    with pytest.raises(ValidationError, match="still has documents"):
        admin.delete("DocType", name)
    admin.delete(name, doc["name"])
    admin.delete("DocType", name)
    assert not site.session().site.metas.exists(name)
    with pytest.raises(ValidationError, match="built in"):
        admin.delete("DocType", "Note")


@pytest.mark.parametrize(("definition", "message"), [
    ({"name": "bad/name"}, "invalid DocType name"),
    ({"name": "Twice", "fields": [{"fieldname": "a"}, {"fieldname": "a"}]}, "appears twice"),
    ({"name": "Tabled", "fields": [{"fieldname": "rows", "fieldtype": "Table", "options": "Customer"}]},
     "not a child table"),
    ({"fields": []}, "with a name"),
    ({"name": "Keyless", "keyed_by": "seq", "fields": [{"fieldname": "seq", "fieldtype": "Data"}]}, "keyed_by must name an Int"),
    ({"name": "Keyless", "keyed_by": "nowhere", "fields": []}, "keyed_by must name an Int"),
])
def test_bad_doctype_definitions(site: Site, definition: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        import_doctype(site.session(), definition)


LOG_DOCTYPE = {"name": "Audit Entry", "autoname": "field:seq", "keyed_by": "seq", "sort_field": "seq", "sort_order": "ASC",
               "fields": [{"fieldname": "seq", "fieldtype": "Int", "reqd": 1},
                          {"fieldname": "note", "fieldtype": "Data"},
                          {"fieldname": "customer", "fieldtype": "Link", "options": "Customer"}]}


def test_a_table_keyed_by_an_int_field_has_no_other_index(site: Site) -> None:
    """keyed_by: the Int field keys the table (SQLite: the rowid) and nothing else is indexed —
    not name (the key written out), not modified, not the Link — so an append writes one B-tree."""
    session = site.session()
    import_doctype(session, LOG_DOCTYPE)
    if site.db.dialect == "sqlite":  # the key is the rowid: the table's own B-tree, no index of its own
        assert indexed_columns(site, "tabAudit Entry") == {}
        assert [r["name"] for r in site.db.sql('PRAGMA table_info("tabAudit Entry")') if r["pk"]] == ["seq"]
    else:
        assert indexed_columns(site, "tabAudit Entry") == {"seq": True}
    for seq in (3, 1, 2):
        session.insert({"doctype": "Audit Entry", "seq": seq, "note": f"n{seq}"})
    assert session.get("Audit Entry", "2")["note"] == "n2"
    assert [r["name"] for r in session.get_list("Audit Entry")] == ["1", "2", "3"]  # sort_field seq, ASC
    with pytest.raises(DuplicateEntryError):
        session.insert({"doctype": "Audit Entry", "seq": 2})
    session.delete("Audit Entry", "2")
    assert [r["name"] for r in session.get_list("Audit Entry", order_by="seq desc")] == ["3", "1"]


def test_a_keyed_table_finds_a_document_by_its_name_through_the_key(site: Site) -> None:
    """Every look-up by name (get, exists, update, delete, list filters, links) goes to the key;
    a name that is not a key written out exactly names no document."""
    session = site.session()
    import_doctype(session, {**LOG_DOCTYPE, "name": "Audit Line"})
    import_doctype(session, {"name": "Audit Note", "autoname": "hash",
                             "fields": [{"fieldname": "entry", "fieldtype": "Link", "options": "Audit Line"}]})
    for seq in (-4, 0, 7, 12):
        session.insert({"doctype": "Audit Line", "seq": seq, "note": f"n{seq}"})
    assert session.insert({"doctype": "Audit Line", "seq": "9", "note": "typed"})["name"] == "9"
    assert session.get("Audit Line", "9")["seq"] == 9
    assert session.get("Audit Line", "-4")["note"] == "n-4" and session.get("Audit Line", "0")["note"] == "n0"
    for missing in ("07", "+7", "7.0", " 7", "x", "", "99999999999999999999999"):
        assert not session.exists("Audit Line", missing), missing
        with pytest.raises(DoesNotExistError):
            session.get("Audit Line", missing)
    assert [r["name"] for r in session.get_list("Audit Line", filters={"name": "12"})] == ["12"]
    assert [r["name"] for r in session.get_list("Audit Line", filters={"name": "012"})] == []
    assert [r["name"] for r in session.get_list("Audit Line", filters=[["name", "in", ["7", "x", "12", "07"]]])] == ["7", "12"]
    assert [r["name"] for r in session.get_list("Audit Line", filters=[["name", "in", "0,9"]])] == ["0", "9"]
    assert [r["name"] for r in session.get_list("Audit Line", filters=[["name", "!=", "7"]])] == ["-4", "0", "9", "12"]
    assert [r["name"] for r in session.get_list("Audit Line", filters=[["name", "like", "%2"]])] == ["12"]
    updated = session.update("Audit Line", "7", {"note": "changed", "seq": 8})  # the key is the name: it stays
    assert (updated["seq"], updated["note"]) == (7, "changed")
    assert session.get("Audit Line", "7")["note"] == "changed" and not session.exists("Audit Line", "8")
    session.insert({"doctype": "Audit Note", "entry": "12"})
    with pytest.raises(ValidationError, match="Audit Line"):
        session.insert({"doctype": "Audit Note", "entry": "012"})
    session.delete("Audit Line", "0")
    assert [r["name"] for r in session.get_list("Audit Line")] == ["-4", "7", "9", "12"]


@pytest.mark.parametrize(("doctype", "given", "message"), [
    ("Audit Word", {"seq": "seven"}, "must be a whole number|Seq"),
    ("Audit Huge", {"seq": 2 ** 63}, "must be a whole number|out of range"),
])
def test_a_keyed_document_needs_a_whole_number_key(site: Site, doctype: str, given: dict[str, Any], message: str) -> None:
    session = site.session()
    import_doctype(session, {**LOG_DOCTYPE, "name": doctype})
    with pytest.raises(ValidationError, match=message):
        session.insert({"doctype": doctype, **given})
    assert session.get_list(doctype) == []


def test_a_keyed_doctype_is_named_by_its_key(site: Site) -> None:
    with pytest.raises(ValidationError, match="autoname must be field:seq"):
        import_doctype(site.session(), {**LOG_DOCTYPE, "name": "Audit Hash", "autoname": "hash"})
    assert not site.metas.exists("Audit Hash")


def test_a_keyed_doctype_named_otherwise_before_is_still_found_by_name() -> None:
    """A keyed DocType made before names had to be keys kept its name index: it is looked up by name."""
    fields = [DocField("seq", "Int")]
    legacy = Meta(name="Old Audit", autoname="hash", keyed_by="seq", fields=fields)
    current = Meta(name="New Audit", autoname="field:seq", keyed_by="seq", fields=fields)
    assert (legacy.named_by_key, current.named_by_key) == (False, True)
    assert rows.by_name(legacy, "a1b2") == ("name = ?", ("a1b2",))
    assert rows.by_name(current, "12") == ('"seq" = ?', (12,))
    assert rows.by_name(current, "a1b2") == ("1 = 0", ())


def test_keyed_by_cannot_change_after_creation(site: Site) -> None:
    session = site.session()
    import_doctype(session, LOG_DOCTYPE)
    with pytest.raises(ValidationError, match="can't change"):
        import_doctype(session, {**LOG_DOCTYPE, "keyed_by": ""})


def test_the_default_order_follows_sort_field_and_sort_order(site: Site) -> None:
    session = site.session()
    import_doctype(session, {"name": "Ranked", "autoname": "field:title", "sort_field": "rank", "sort_order": "ASC",
                             "fields": [{"fieldname": "title", "fieldtype": "Data"}, {"fieldname": "rank", "fieldtype": "Int"}]})
    for title, rank in (("b", 2), ("c", 3), ("a", 1)):
        session.insert({"doctype": "Ranked", "title": title, "rank": rank})
    assert [r["name"] for r in session.get_list("Ranked")] == ["a", "b", "c"]
    assert session.meta("Ranked").default_order == "rank asc"
    assert session.meta("Note").default_order == "modified desc"


# -- a field that changes type ----------------------------------------------------------------------

def _widget(session: Session, name: str, fields: dict[str, str], **extra: Any) -> None:
    import_doctype(session, {"name": name, "autoname": "field:title", **extra, "fields": [
        {"fieldname": "title", "fieldtype": "Data"}, {"fieldname": "code", "fieldtype": "Data", "unique": 1},
        {"fieldname": "owner_item", "fieldtype": "Link", "options": "Item"},
        *({"fieldname": f, "fieldtype": t} for f, t in fields.items())]})


def test_a_field_changed_to_another_type_converts_its_column_and_values(site: Site) -> None:
    """Data → Int / Date, Int → Data, Float → Int: the column takes the new type (so sorting and
    filtering follow it), every value is converted as a save would, nothing else of the table moves."""
    session, name = site.session(), tag("Widget ")
    _widget(session, name, {"qty": "Data", "day": "Data", "count": "Int", "weight": "Float"})
    for title, qty, day, count, weight in (("w1", "10", "2026-01-05", 7, 2.0), ("w2", "9", None, 12, None),
                                           ("w3", "100", "2025-12-31", None, 4.0), ("w4", None, None, 3, 1.0)):
        session.insert({"doctype": name, "title": title, "code": f"c-{title}", "qty": qty, "day": day,
                        "count": count, "weight": weight})
    indexes_before = indexed_columns(site, f"tab{name}")
    _widget(session, name, {"qty": "Int", "day": "Date", "count": "Data", "weight": "Int"})
    assert indexed_columns(site, f"tab{name}") == indexes_before  # the key, the unique code, modified, the Link
    rows = {r["name"]: r for r in session.get_list(name, fields=["name", "qty", "day", "count", "weight"])}
    assert {k: (r["qty"], r["count"], r["weight"]) for k, r in rows.items()} == {
        "w1": (10, "7", 2), "w2": (9, "12", 0), "w3": (100, "0", 4), "w4": (None, "3", 1)}  # (numbers saved as 0)
    assert str(rows["w3"]["day"]) == "2025-12-31"
    assert [r["name"] for r in session.get_list(name, filters=[["qty", ">", 9]], order_by="qty asc")] == ["w1", "w3"]
    assert session.get(name, "w1")["qty"] == 10
    session.insert({"doctype": name, "title": "w5", "code": "c-w5", "qty": "55"})
    assert session.get(name, "w5")["qty"] == 55
    with pytest.raises(DuplicateEntryError):
        session.insert({"doctype": name, "title": "w6", "code": "c-w1"})  # the unique constraint is still there
    with pytest.raises(DuplicateEntryError):
        session.insert({"doctype": name, "title": "w1", "code": "c-other"})  # and the primary key


def test_a_value_that_does_not_convert_stops_the_change_and_changes_nothing(site: Site) -> None:
    session, name = site.session(), tag("Widget ")
    _widget(session, name, {"qty": "Data"})
    session.insert({"doctype": name, "title": "good", "code": "g", "qty": "10"})
    session.insert({"doctype": name, "title": "bad", "code": "b", "qty": "a dozen"})
    with pytest.raises(ValidationError, match=r"qty can't become Int: .* bad holds 'a dozen'") as refused:
        _widget(session, name, {"qty": "Int"})
    assert (refused.value.name, refused.value.field) == ("bad", "qty")
    assert site.metas.get(name).get_field("qty").fieldtype == "Data"
    assert site.db.column_types(f"tab{name}")["qty"] == site.db.column_type("Data").lower()
    assert {r["name"]: r["qty"] for r in session.get_list(name, fields=["name", "qty"])} == {"good": "10", "bad": "a dozen"}
    session.update(name, "bad", {"qty": "12"})
    _widget(session, name, {"qty": "Int"})  # once the value is mended, the change goes through
    assert [r["qty"] for r in session.get_list(name, fields=["qty"], order_by="qty asc")] == [10, 12]


def test_a_keyed_table_keeps_its_key_when_a_field_changes_type(site: Site) -> None:
    session, name = site.session(), tag("Audit Kind ")
    import_doctype(session, {**LOG_DOCTYPE, "name": name})
    for seq in (5, 6):
        session.insert({"doctype": name, "seq": seq, "note": str(seq * 10)})
    import_doctype(session, {**LOG_DOCTYPE, "name": name, "fields": [
        {**f, "fieldtype": "Int"} if f["fieldname"] == "note" else f for f in LOG_DOCTYPE["fields"]]})
    assert {r["name"]: r["note"] for r in session.get_list(name, fields=["name", "note"])} == {"5": 50, "6": 60}
    if site.db.dialect == "sqlite":  # still the rowid
        assert [r["name"] for r in site.db.sql(f'PRAGMA table_info("tab{name}")') if r["pk"]] == ["seq"]
    assert indexed_columns(site, f"tab{name}") == ({} if site.db.dialect == "sqlite" else {"seq": True})


def test_a_custom_field_changed_to_another_type_converts_too(site: Site) -> None:
    session, field = site.session(), tag("score_")
    custom = session.insert({"doctype": "Custom Field", "dt": "Customer", "fieldname": field, "fieldtype": "Data"})
    customer = session.insert({"doctype": "Customer", "customer_name": tag("Scored "), field: "0042"})["name"]
    session.update("Custom Field", custom["name"], {"fieldtype": "Int"})
    assert session.get("Customer", customer)[field] == 42
    assert site.db.column_types("tabCustomer")[field] == site.db.column_type("Int").lower()
