"""Posted desk forms → document changes: editable fields only, grids in order, checks, passwords."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData

from docstream.model.meta import Meta
from docstream.ui import formdata

CHILD = Meta.from_dict({"name": "Row", "istable": 1, "fields": [
    {"fieldname": "item", "fieldtype": "Data"},
    {"fieldname": "qty", "fieldtype": "Float"},
    {"fieldname": "done", "fieldtype": "Check"},
    {"fieldname": "status", "fieldtype": "Select", "options": "Pending\nApproved", "read_only": 1},
]})
PARENT = Meta.from_dict({"name": "Order", "fields": [
    {"fieldname": "title", "fieldtype": "Data"},
    {"fieldname": "public", "fieldtype": "Check"},
    {"fieldname": "secret", "fieldtype": "Password"},
    {"fieldname": "total", "fieldtype": "Currency", "read_only": 1},
    {"fieldname": "when", "fieldtype": "Datetime"},
    {"fieldname": "rows", "fieldtype": "Table", "options": "Row"},
]})


def get_meta(name: str) -> Meta:
    return {"Row": CHILD, "Order": PARENT}[name]


def parse(items: list[tuple[str, str]], old: dict[str, Any] | None = None) -> dict[str, Any]:
    return formdata.parse(PARENT, FormData(items), get_meta, old)


def test_only_editable_fields_are_taken() -> None:
    changes = parse([("title", "A"), ("total", "99"), ("csrf_token", "x"), ("_action", "save"), ("bogus", "1")])
    assert changes == {"title": "A"}


def test_a_check_takes_its_last_value() -> None:
    assert parse([("public", "0"), ("public", "1")])["public"] == 1
    assert parse([("public", "0")])["public"] == 0


def test_an_empty_password_keeps_the_stored_secret() -> None:
    assert "secret" not in parse([("secret", "")])
    assert parse([("secret", "new")])["secret"] == "new"


def test_empty_inputs_clear_and_datetimes_lose_their_t() -> None:
    assert parse([("title", ""), ("when", "2026-01-02T03:04:05")]) == {"title": None, "when": "2026-01-02 03:04:05"}


def test_grids_keep_order_names_and_read_only_cells() -> None:
    old = {"rows": [{"name": "abc", "item": "old", "qty": 1.0, "done": 0, "status": "Approved"}]}
    changes = parse([
        ("__table.rows", "1"),
        ("rows.nX.item", "new"), ("rows.nX.qty", "2"),
        ("rows.r1.name", "abc"), ("rows.r1.item", "kept"), ("rows.r1.done", "0"), ("rows.r1.done", "1"),
        ("rows.r1.status", "Pending"),  # read only: ignored
        ("rows.nY.item", ""),  # a blank new row is dropped
    ], old)
    assert changes["rows"] == [
        {"item": "new", "qty": "2"},
        {"name": "abc", "item": "kept", "qty": 1.0, "done": 1, "status": "Approved"},
    ]


def test_a_grid_emptied_on_the_page_empties_the_table_and_an_absent_one_is_kept() -> None:
    assert parse([("__table.rows", "1")], {"rows": [{"name": "abc"}]})["rows"] == []
    assert "rows" not in parse([("title", "x")], {"rows": [{"name": "abc"}]})


def test_a_new_documents_name_and_the_modified_stamp_travel() -> None:
    assert parse([("__newname", " X-1 "), ("modified", "2026-01-01 00:00:00.000000")]) == {
        "name": "X-1", "modified": "2026-01-01 00:00:00.000000"}
    assert "name" not in parse([("__newname", "X-1")], old={"name": "X-0"})


def test_rows_as_posted_keep_their_keys_for_reshowing() -> None:
    rows = formdata.rows_with(FormData([("rows.n1.item", ""), ("rows.n2.item", "b")]), PARENT, get_meta, "rows", None)
    assert [r["__key"] for r in rows] == ["n1", "n2"]
