"""Coercion of values by fieldtype, and the parsed DocType meta (no database needed)."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest

from docstream.errors import ValidationError
from docstream.model.meta import FIELD_TYPES, DocField, Meta
from docstream.model.types import coerce, from_db, now, to_db

SPEC_TYPES = [
    "Data", "Small Text", "Text", "Long Text", "Code", "Int", "Float", "Currency", "Percent", "Check",
    "Date", "Datetime", "Time", "Select", "Link", "Dynamic Link", "Table", "Table MultiSelect", "JSON",
    "Password", "Read Only",
]
TEXT_LIKE = ["Data", "Small Text", "Text", "Long Text", "Code", "Select", "Link", "Dynamic Link", "Password", "Read Only"]


def field(fieldtype: str, **kw: Any) -> DocField:
    return DocField(fieldname="f", fieldtype=fieldtype, **kw)


def test_every_spec_field_type_is_known() -> None:
    assert set(SPEC_TYPES) <= FIELD_TYPES


@pytest.mark.parametrize("fieldtype", TEXT_LIKE)
@pytest.mark.parametrize(("value", "expected"), [("abc", "abc"), (5, "5"), (1.5, "1.5"), (True, "1"), (None, None)])
def test_text_types_take_text(fieldtype: str, value: Any, expected: Any) -> None:
    assert coerce(field(fieldtype), value) == expected


@pytest.mark.parametrize("fieldtype", TEXT_LIKE)
def test_text_types_refuse_structures(fieldtype: str) -> None:
    with pytest.raises(ValidationError) as info:
        coerce(field(fieldtype), {"a": 1}, "ToDo")
    assert (info.value.doctype, info.value.field) == ("ToDo", "f")


@pytest.mark.parametrize(("fieldtype", "value", "expected"), [
    ("Int", "42", 42), ("Int", 7, 7), ("Int", 3.0, 3), ("Int", "3.0", 3), ("Int", "", 0), ("Int", None, 0),
    ("Int", -5, -5), ("Int", True, 1),
    ("Check", 1, 1), ("Check", "0", 0), ("Check", True, 1), ("Check", False, 0), ("Check", None, 0),
    ("Float", "1.25", 1.25), ("Float", 2, 2.0), ("Float", None, 0.0), ("Float", "", 0.0),
    ("Currency", "19.99", 19.99), ("Percent", 50, 50.0),
])
def test_numbers(fieldtype: str, value: Any, expected: Any) -> None:
    result = coerce(field(fieldtype), value)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(("fieldtype", "value"), [
    ("Int", "abc"), ("Int", 1.5), ("Int", "1.5"), ("Int", [1]),
    ("Check", 2), ("Check", "yes"),
    ("Float", "x"), ("Currency", "12,50"), ("Percent", {"a": 1}),
    ("Date", "2024-13-01"), ("Date", "yesterday"), ("Datetime", "2024-01-01 25:00"), ("Time", "10:99"),
    ("JSON", "{not json"), ("JSON", {1, 2}),
])
def test_bad_values_are_refused_naming_the_field(fieldtype: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        coerce(field(fieldtype, label="Amount"), value, "Sales Invoice")
    assert info.value.field == "f"
    assert info.value.doctype == "Sales Invoice"
    assert "Amount" in info.value.message


@pytest.mark.parametrize(("fieldtype", "value", "expected"), [
    ("Date", "2024-01-05", "2024-01-05"),
    ("Date", "2024-01-05 10:11:12", "2024-01-05"),
    ("Date", dt.date(2024, 1, 5), "2024-01-05"),
    ("Date", dt.datetime(2024, 1, 5, 9, 0), "2024-01-05"),
    ("Date", "", None),
    ("Datetime", "2024-01-05 10:11", "2024-01-05 10:11:00.000000"),
    ("Datetime", "2024-01-05T10:11:12.5", "2024-01-05 10:11:12.500000"),
    ("Datetime", dt.date(2024, 1, 5), "2024-01-05 00:00:00.000000"),
    ("Datetime", None, None),
    ("Time", "10:30", "10:30:00"),
    ("Time", "10:30:00.25", "10:30:00.250000"),
    ("Time", dt.time(8, 0, 1), "08:00:01"),
])
def test_dates_and_times_are_canonical_strings(fieldtype: str, value: Any, expected: Any) -> None:
    assert coerce(field(fieldtype), value) == expected


def test_json_values() -> None:
    f = field("JSON")
    assert coerce(f, '{"a": [1, 2]}') == {"a": [1, 2]}
    assert coerce(f, {"b": None}) == {"b": None}
    assert coerce(f, [1, "x"]) == [1, "x"]
    assert coerce(f, "") is None
    assert to_db(f, {"b": 1, "a": 2}, "sqlite") == '{"a": 2, "b": 1}'
    assert from_db("JSON", '{"a": 1}') == {"a": 1}
    assert from_db("JSON", {"a": 1}) == {"a": 1}  # PostgreSQL's JSONB arrives parsed


def _nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_json_values_are_nested_at_most_100_levels_deep() -> None:
    f = field("JSON", label="Payload")
    assert coerce(f, {"a": json.loads(_nested(99))}) == {"a": json.loads(_nested(99))}  # 100 levels
    assert coerce(f, _nested(100)) == json.loads(_nested(100))
    too_deep = [{"a": json.loads(_nested(100))}, json.loads(_nested(500)), _nested(101), _nested(5000)]
    for value in too_deep:  # as a value, or as JSON text (parsed first: even past what json.loads can do)
        with pytest.raises(ValidationError, match="Payload: a JSON value may be nested at most 100 levels deep") as info:
            coerce(f, value, "Note")
        assert info.value.field == "f" and info.value.doctype == "Note"


def test_json_values_stored_before_the_limit_are_read_at_any_depth() -> None:
    value, depth = from_db("JSON", _nested(5000)), 0
    while value is not None:
        depth, value = depth + 1, (value[0] if value else None)
    assert depth == 5000


def test_values_from_the_database_become_document_values() -> None:
    assert from_db("Date", dt.date(2024, 2, 3)) == "2024-02-03"
    assert from_db("Datetime", dt.datetime(2024, 2, 3, 4, 5, 6, 7)) == "2024-02-03 04:05:06.000007"
    assert from_db("Time", dt.time(4, 5)) == "04:05:00"
    assert from_db("Int", None) is None


def test_timestamps_have_the_spec_format() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", now())


# -- meta -------------------------------------------------------------------------------

DEFINITION = {
    "name": "Gadget", "module": "Shop", "autoname": "field:code", "is_submittable": 1,
    "fields": [
        {"fieldname": "code", "fieldtype": "Data", "reqd": 1, "unique": 1},
        {"fieldname": "sb", "fieldtype": "Section Break"},
        {"fieldname": "owner_user", "fieldtype": "Link", "options": "User"},
        {"fieldname": "parts", "fieldtype": "Table", "options": "Gadget Part"},
        {"fieldname": "weight_kg", "fieldtype": "Float"},
    ],
    "permissions": [{"role": "Shop User", "read": 1, "write": "1", "create": 0}],
}


def test_meta_from_a_frappe_definition() -> None:
    meta = Meta.from_dict(DEFINITION)
    assert (meta.name, meta.module, meta.autoname, meta.is_submittable, meta.istable) == \
        ("Gadget", "Shop", "field:code", True, False)
    assert meta.table_name == "tabGadget"
    assert [f.fieldname for f in meta.value_fields] == ["code", "owner_user", "weight_kg"]
    assert [f.fieldname for f in meta.table_fields] == ["parts"]
    assert [f.fieldname for f in meta.link_fields] == ["owner_user"]
    code = meta.get_field("code")
    assert code is not None and code.reqd and code.unique and code.label == "Code"
    assert meta.permissions == [
        {"role": "Shop User", "read": 1, "write": 1, "create": 0, "delete": 0, "submit": 0, "cancel": 0},
    ]
    assert meta.columns[:7] == ["name", "owner", "creation", "modified", "modified_by", "docstatus", "idx"]
    assert meta.is_known("modified") and meta.is_known("doctype") and not meta.is_known("parent")


def test_child_meta_has_parent_columns() -> None:
    child = Meta.from_dict({"name": "Gadget Part", "istable": 1, "fields": [{"fieldname": "part"}]})
    assert {"parent", "parentfield", "parenttype", "idx"} <= set(child.columns)
    assert child.get_field("part").fieldtype == "Data"  # type: ignore[union-attr]


def test_custom_fields_merge_after_their_anchor() -> None:
    meta = Meta.from_dict(DEFINITION, custom_fields=[
        {"fieldname": "colour", "fieldtype": "Data", "insert_after": "code"},
        {"fieldname": "serial", "fieldtype": "Int"},
    ])
    assert [f.fieldname for f in meta.fields][:3] == ["code", "colour", "sb"]
    assert meta.fields[-1].fieldname == "serial"
    assert meta.get_field("colour").is_custom  # type: ignore[union-attr]
    assert not meta.get_field("code").is_custom  # type: ignore[union-attr]
