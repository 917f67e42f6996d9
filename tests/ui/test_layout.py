"""Forms from meta: sections and columns, widgets, values shown in inputs and read-only."""

from __future__ import annotations

import datetime as dt

from docstream.model.meta import DocField, Meta
from docstream.ui import layout

META = Meta.from_dict({"name": "Thing", "fields": [
    {"fieldname": "a", "fieldtype": "Data"},
    {"fieldname": "cb", "fieldtype": "Column Break"},
    {"fieldname": "b", "fieldtype": "Int"},
    {"fieldname": "hidden_one", "fieldtype": "Data", "hidden": 1},
    {"fieldname": "sb", "fieldtype": "Section Break", "label": "More"},
    {"fieldname": "c", "fieldtype": "Table", "options": "Row"},
    {"fieldname": "empty", "fieldtype": "Section Break", "label": "Nothing"},
]})


def field(fieldtype: str, **kwargs: object) -> DocField:
    return DocField(fieldname="f", fieldtype=fieldtype, **kwargs)  # type: ignore[arg-type]


def test_sections_and_columns_follow_the_breaks() -> None:
    sections = layout.sections(META)
    assert [s.label for s in sections] == ["", "More"]
    assert [[f.fieldname for f in col] for col in sections[0].columns] == [["a"], ["b"]]
    assert [f.fieldname for f in sections[1].fields] == ["c"]


def test_every_field_type_has_a_widget() -> None:
    expected = {"Check": "check", "Select": "select", "Link": "link", "Dynamic Link": "link", "Table": "table",
                "Table MultiSelect": "table", "Password": "password", "Int": "int", "Float": "float",
                "Currency": "float", "Percent": "float", "Date": "date", "Datetime": "datetime", "Time": "time",
                "Small Text": "textarea", "Text": "textarea", "Long Text": "textarea", "Code": "code",
                "JSON": "code", "Data": "text", "Read Only": "readonly"}
    assert {t: layout.widget(field(t)) for t in expected} == expected


def test_values_in_inputs() -> None:
    assert layout.input_value(field("Password"), "********") == ""
    assert layout.input_value(field("Datetime"), "2026-01-02 03:04:05.123456") == "2026-01-02T03:04:05"
    assert layout.input_value(field("JSON"), {"b": 1, "a": [1]}) == '{\n  "a": [\n    1\n  ],\n  "b": 1\n}'
    assert layout.input_value(field("Float"), 2.0) == "2" and layout.input_value(field("Float"), 2.5) == "2.5"
    assert layout.input_value(field("Data"), None) == ""


def test_values_read_only() -> None:
    assert layout.display_value(field("Password"), "********") == "••••••••"
    assert layout.display_value(field("Check"), 1) == "Yes"
    assert layout.display_value(field("Currency"), 1234.5) == "1,234.50"
    assert layout.pretty_text(field("Long Text"), '{"b":1}') == '{\n  "b": 1\n}'
    assert layout.pretty_text(field("Long Text"), "{not json") == "{not json"


def test_link_targets() -> None:
    assert layout.link_target(field("Link", options="User"), {}) == "User"
    assert layout.link_target(field("Dynamic Link", options="reference_type"), {"reference_type": "Note"}) == "Note"


def test_pretty_dates() -> None:
    now = dt.datetime(2026, 1, 2, 12, 0, 0)
    assert layout.pretty_date("2026-01-02 11:59:30.000000", now) == "just now"
    assert layout.pretty_date("2026-01-02 11:55:00.000000", now) == "5 minutes ago"
    assert layout.pretty_date("2026-01-02 11:00:00.000000", now) == "1 hour ago"
    assert layout.pretty_date("2025-06-01 00:00:00.000000", now) == "2025-06-01"
