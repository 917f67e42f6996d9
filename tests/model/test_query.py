"""Lists: every filter operator in both shapes (child-table filters too), fields, order, paging."""

from __future__ import annotations

from typing import Any

import pytest

from docstream.errors import ValidationError
from docstream.model.documents import Session
from docstream.site import Site
from tests.model.conftest import new_item, tag

ROWS = [
    # title, qty, weight, made_on, size, active, body
    ("Alpha", 1, 1.5, "2024-01-01", "Small", 1, "first"),
    ("beta", 2, 2.5, "2024-02-01", "Medium", 0, None),
    ("Gamma", 3, 3.5, "2024-02-15", "Large", 1, ""),
    ("delta", 4, 4.5, None, "Large", 0, "fourth"),
    ("Epsilon 100%", 5, 5.5, "2024-03-15", "Medium", 1, None),
]


@pytest.fixture(scope="module")
def batch(site: Site, gadget: str) -> dict[str, Any]:
    """Five Gadgets sharing a batch tag in ``summary``; every query below is scoped to it."""
    admin = site.session()
    label = tag("batch")
    items = [new_item(admin)["name"] for _ in range(3)]
    names = {}
    for i, (title, qty, weight, made_on, size, active, body) in enumerate(ROWS):
        parts = [{"item": items[i % 3], "qty": qty * 10}]
        if i == 0:
            parts.append({"item": items[2], "qty": 1})
        doc = admin.insert({
            "doctype": gadget, "summary": label, "title": title, "qty": qty, "weight": weight,
            "made_on": made_on, "size": size, "active": active, "body": body, "parts": parts,
            "item": items[i % 3] if i < 3 else None,
        })
        names[title] = doc["name"]
    return {"label": label, "names": names, "items": items}


def titles(session: Session, batch: dict[str, Any], filters: list[Any], **kw: Any) -> list[str]:
    scoped = [["summary", "=", batch["label"]], *filters]
    kw.setdefault("order_by", "qty asc")
    rows = session.get_list("Gadget", fields=["title"], filters=scoped, **kw)
    return [r["title"] for r in rows]


@pytest.mark.parametrize(("filters", "expected"), [
    ([["qty", "=", 2]], ["beta"]),
    ([["qty", "!=", 2]], ["Alpha", "Gamma", "delta", "Epsilon 100%"]),
    ([["qty", ">", 3]], ["delta", "Epsilon 100%"]),
    ([["qty", "<", 3]], ["Alpha", "beta"]),
    ([["qty", ">=", 3]], ["Gamma", "delta", "Epsilon 100%"]),
    ([["qty", "<=", 1]], ["Alpha"]),
    ([["weight", ">", 4.0]], ["delta", "Epsilon 100%"]),
    ([["title", "like", "%ta%"]], ["beta", "delta"]),
    ([["title", "like", "a%"]], ["Alpha"]),  # case-insensitive on every backend, as in Frappe
    ([["title", "not like", "%a%"]], ["Epsilon 100%"]),
    ([["title", "like", "%100%"]], ["Epsilon 100%"]),
    ([["qty", "like", "4"]], ["delta"]),
    ([["size", "in", ["Small", "Large"]]], ["Alpha", "Gamma", "delta"]),
    ([["size", "in", "Small,Medium"]], ["Alpha", "beta", "Epsilon 100%"]),
    ([["size", "not in", ["Large"]]], ["Alpha", "beta", "Epsilon 100%"]),
    ([["size", "in", []]], []),
    ([["size", "not in", []]], ["Alpha", "beta", "Gamma", "delta", "Epsilon 100%"]),
    ([["made_on", "is", "set"]], ["Alpha", "beta", "Gamma", "Epsilon 100%"]),
    ([["made_on", "is", "not set"]], ["delta"]),
    ([["body", "is", "set"]], ["Alpha", "delta"]),
    ([["body", "is", "not set"]], ["beta", "Gamma", "Epsilon 100%"]),
    ([["made_on", "between", ["2024-02-01", "2024-03-01"]]], ["beta", "Gamma"]),
    ([["made_on", ">", "2024-02-01"]], ["Gamma", "Epsilon 100%"]),
    ([["qty", "between", [2, 4]]], ["beta", "Gamma", "delta"]),
    ([["active", "=", True]], ["Alpha", "Gamma", "Epsilon 100%"]),
    ([["active", "=", "0"]], ["beta", "delta"]),
    ([["body", "=", None]], ["beta", "Epsilon 100%"]),
    ([["body", "!=", None]], ["Alpha", "Gamma", "delta"]),
    ([["body", "!=", "first"]], ["beta", "Gamma", "delta", "Epsilon 100%"]),  # NULL is "not first" (Frappe)
    ([["body", "not in", ["fourth"]]], ["Alpha", "beta", "Gamma", "Epsilon 100%"]),
    ([["body", "not like", "f%"]], ["beta", "Gamma", "Epsilon 100%"]),
    ([["qty", ">", 1], ["size", "=", "Large"]], ["Gamma", "delta"]),
    ([["Gadget", "qty", "<", 3]], ["Alpha", "beta"]),
    ([["docstatus", "=", 0], ["name", "like", "%"]], ["Alpha", "beta", "Gamma", "delta", "Epsilon 100%"]),
    ([["modified", ">", "2000-01-01"], ["creation", "<", "2999-01-01"]],
     ["Alpha", "beta", "Gamma", "delta", "Epsilon 100%"]),
])
def test_list_filters(admin: Session, batch: dict[str, Any], filters: list[Any], expected: list[str]) -> None:
    assert titles(admin, batch, filters) == expected
    assert admin.count("Gadget", [["summary", "=", batch["label"]], *filters]) == len(expected)


def test_dict_filters(admin: Session, batch: dict[str, Any]) -> None:
    label = batch["label"]
    rows = admin.get_list("Gadget", fields=["title"], filters={"summary": label, "size": "Large"}, order_by="qty")
    assert [r["title"] for r in rows] == ["Gamma", "delta"]
    rows = admin.get_list("Gadget", fields=["title"], filters={"summary": label, "qty": [">", 3]}, order_by="qty")
    assert [r["title"] for r in rows] == ["delta", "Epsilon 100%"]
    rows = admin.get_list("Gadget", fields=["title"], filters={"summary": label, "size": ["in", ["Small"]]})
    assert [r["title"] for r in rows] == ["Alpha"]


def test_filters_as_json_text(admin: Session, batch: dict[str, Any]) -> None:
    text = f'[["summary", "=", "{batch["label"]}"], ["qty", ">=", 4]]'
    assert [r["title"] for r in admin.get_list("Gadget", fields='["title"]', filters=text, order_by="qty")] == \
        ["delta", "Epsilon 100%"]
    assert admin.count("Gadget", f'{{"summary": "{batch["label"]}"}}') == 5


def test_child_table_filters(admin: Session, batch: dict[str, Any]) -> None:
    first, second, third = batch["items"]
    assert titles(admin, batch, [["Gadget Part", "item", "=", third]]) == ["Alpha", "Gamma"]
    assert titles(admin, batch, [["Gadget Part", "qty", ">=", 40]]) == ["delta", "Epsilon 100%"]
    assert titles(admin, batch, [["Gadget Part", "item", "in", [first, second]], ["qty", "<", 5]]) == \
        ["Alpha", "beta", "delta"]
    with pytest.raises(ValidationError, match="not a child table of Gadget"):
        titles(admin, batch, [["Sales Invoice Item", "item_code", "=", first]])


def test_a_filter_value_of_another_type_is_compared_as_the_field_type(admin: Session, batch: dict[str, Any]) -> None:
    assert titles(admin, batch, [["qty", "=", "3"]]) == ["Gamma"]
    assert titles(admin, batch, [["title", "=", 5]]) == []
    assert titles(admin, batch, [["title", "in", [5, "beta"]]]) == ["beta"]


@pytest.mark.parametrize(("filters", "message"), [
    ([["colour", "=", "red"]], "has no field 'colour'"),
    ([["qty", "~", 1]], "unknown filter operator"),
    ([["qty", "="]], "must be \\[field, operator, value\\]"),
    ("{not json", "not valid JSON"),
    (42, "JSON object or a list"),
    ([["made_on", "is", "maybe"]], "'set' or 'not set'"),
    ([["qty", "between", [1]]], "\\[from, to\\]"),
    ([["qty", "=", {"a": 1}]], "single value"),
    ([["parts", "=", "x"]], "can't be filtered on"),
    ([["made_on", ">", "not a date"]], "made_on|Made On"),
    ([["qty", ">", "many"]], "qty|Qty"),
])
def test_bad_filters_are_validation_errors(admin: Session, batch: dict[str, Any], filters: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        admin.get_list("Gadget", filters=filters)


# -- fields --------------------------------------------------------------------------------------

def test_fields(admin: Session, batch: dict[str, Any]) -> None:
    scope = {"summary": batch["label"], "title": "Alpha"}
    assert admin.get_list("Gadget", filters=scope) == [{"name": batch["names"]["Alpha"]}]
    row = admin.get_list("Gadget", fields=["name", "title", "qty", "made_on", "active"], filters=scope)[0]
    assert row == {"name": batch["names"]["Alpha"], "title": "Alpha", "qty": 1, "made_on": "2024-01-01", "active": 1}
    everything = admin.get_list("Gadget", fields=["*"], filters=scope)[0]
    assert {"name", "owner", "creation", "modified", "modified_by", "docstatus", "idx", "title", "weight"} <= set(everything)
    assert "parts" not in everything and "doctype" not in everything
    assert admin.get_list("Gadget", fields="*", filters=scope)[0] == everything
    assert admin.get_list("Gadget", fields="title, qty", filters=scope) == [{"title": "Alpha", "qty": 1}]
    assert admin.get_list("Gadget", fields=["`tabGadget`.`title`"], filters=scope) == [{"title": "Alpha"}]


@pytest.mark.parametrize("fields", [["colour"], ["parts"], ["title as t"], {"a": 1}])
def test_bad_fields(admin: Session, gadget: str, fields: Any) -> None:
    with pytest.raises(ValidationError):
        admin.get_list(gadget, fields=fields)


# -- order and paging ------------------------------------------------------------------------------

def test_order_by(admin: Session, batch: dict[str, Any]) -> None:
    assert titles(admin, batch, [], order_by="qty desc") == ["Epsilon 100%", "delta", "Gamma", "beta", "Alpha"]
    assert titles(admin, batch, [], order_by="size asc, qty desc") == ["delta", "Gamma", "Epsilon 100%", "beta", "Alpha"]
    assert titles(admin, batch, [], order_by="`tabGadget`.`weight` DESC")[0] == "Epsilon 100%"


def test_nulls_sort_first_ascending_on_every_backend(admin: Session, batch: dict[str, Any]) -> None:
    assert titles(admin, batch, [], order_by="made_on asc") == ["delta", "Alpha", "beta", "Gamma", "Epsilon 100%"]
    assert titles(admin, batch, [], order_by="made_on desc") == ["Epsilon 100%", "Gamma", "beta", "Alpha", "delta"]


def test_default_order_is_most_recently_modified_first(admin: Session, batch: dict[str, Any]) -> None:
    rows = admin.get_list("Gadget", fields=["title"], filters={"summary": batch["label"]})
    assert [r["title"] for r in rows] == ["Epsilon 100%", "delta", "Gamma", "beta", "Alpha"]


@pytest.mark.parametrize("order_by", ["qty; DROP TABLE x", "colour", "qty sideways", "doctype"])
def test_bad_order_by(admin: Session, gadget: str, order_by: str) -> None:
    with pytest.raises(ValidationError, match="can't order"):
        admin.get_list(gadget, order_by=order_by)


def test_paging(admin: Session, batch: dict[str, Any]) -> None:
    page = titles(admin, batch, [], limit_start=0, limit_page_length=2)
    assert page == ["Alpha", "beta"]
    assert titles(admin, batch, [], limit_start=2, limit_page_length=2) == ["Gamma", "delta"]
    assert titles(admin, batch, [], limit_start=4, limit_page_length=2) == ["Epsilon 100%"]
    assert titles(admin, batch, [], limit_start=6, limit_page_length=2) == []
    assert titles(admin, batch, [], limit_start=3, limit_page_length=0) == ["delta", "Epsilon 100%"]  # 0: no limit
    assert len(titles(admin, batch, [], limit_page_length=None)) == 5


def test_default_page_is_twenty(admin: Session) -> None:
    for _ in range(21):
        admin.insert({"doctype": "Note", "title": "page"})
    assert len(admin.get_list("Note")) == 20
    assert len(admin.get_list("Note", limit_page_length=0)) == admin.count("Note") >= 21


def test_negative_paging_is_refused(admin: Session, gadget: str) -> None:
    with pytest.raises(ValidationError):
        admin.get_list(gadget, limit_start=-1)
    with pytest.raises(ValidationError):
        admin.get_list(gadget, limit_page_length=-5)


# -- limits: refused up front, the same on both databases -------------------------------------------

def test_list_requests_at_the_limits_work_on_every_backend(admin: Session, batch: dict[str, Any]) -> None:
    from docstream.model import query

    scope = [["summary", "=", batch["label"]]]
    worst = [["Gadget Part", "qty", "not in", [1, 2]], ["title", "not like", "%zz%"], ["made_on", "!=", "2000-01-01"]]
    filters = scope + (worst * query.MAX_FILTERS)[: query.MAX_FILTERS - 2] + [["qty", "in", list(range(29_000))]]
    assert len(filters) == query.MAX_FILTERS
    rows = admin.get_list("Gadget", fields=["title"] * query.MAX_FIELDS, filters=filters,
                          order_by=",".join(["qty desc"] * query.MAX_ORDER_TERMS))
    assert [r["title"] for r in rows] == ["Epsilon 100%", "delta", "Gamma", "beta", "Alpha"]
    assert admin.count("Gadget", filters) == 5


@pytest.mark.parametrize(("arguments", "message"), [
    ({"filters": [["qty", ">", 0]] * 201}, "at most 200 filters; this one has 201"),
    ({"filters": [["qty", ">", 0]] * 1500}, "at most 200 filters; this one has 1500"),
    ({"filters": [["Gadget Part", "qty", ">", 0]] * 1000}, "at most 200 filters"),
    ({"filters": {f"f{i}": 1 for i in range(201)}}, "at most 200 filters"),
    ({"fields": ["name"] * 501}, "at most 500 fields; this one has 501"),
    ({"fields": ["name"] * 5000}, "at most 500 fields"),
    ({"fields": ",".join(["name"] * 5000)}, "at most 500 fields"),
    ({"order_by": ",".join(["name"] * 101)}, "at most 100 columns in order_by; this one has 101"),
    ({"order_by": ",".join(["name"] * 5000)}, "at most 100 columns in order_by"),
    ({"filters": [["title", "in", list(range(30_001))]]}, "at most 30000 values"),
    ({"filters": [["title", "not in", ",".join(["a"] * 30_001)]]}, "at most 30000 values"),
    ({"filters": [["Gadget Part", "qty", "in", list(range(20_000))]] * 2}, "at most 30000 values"),
    ({"filters": "[" * 5000 + "]" * 5000}, "nested too deeply"),
])
def test_over_large_list_requests_are_refused_on_every_backend(admin: Session, gadget: str, arguments: dict[str, Any],
                                                               message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        admin.get_list(gadget, **arguments)
    if "filters" in arguments:
        with pytest.raises(ValidationError, match=message):
            admin.count(gadget, arguments["filters"])
