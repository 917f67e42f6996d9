"""Tests for docstream.model.diff: the Frappe-shaped update log."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docstream.errors import ValidationError
from docstream.model.diff import DEFAULT_IGNORED, apply, diff, is_empty

ROW_BOOKKEEPING = {"parent", "parentfield", "parenttype", "doctype", "modified", "modified_by", "creation", "owner"}
SCALAR_FIELDS = ["customer", "status", "grand_total", "remarks", "is_return"]
TABLE_FIELDS = ["items", "taxes"]
ROW_FIELDS = ["item_code", "qty", "rate", "note"]
EMPTY = {"changed": {}, "added": {}, "removed": {}, "row_changed": {}}


def make_doc(**fields: Any) -> dict[str, Any]:
    doc = {
        "doctype": "Sales Invoice",
        "name": "SINV-1",
        "owner": "a@example.com",
        "creation": "2026-01-01 10:00:00.000000",
        "modified": "2026-01-01 10:00:00.000000",
        "modified_by": "a@example.com",
        "docstatus": 0,
        "customer": "C1",
        "grand_total": 10.0,
        "items": [make_row("a1", 1, item_code="X"), make_row("b2", 2, item_code="Y")],
    }
    doc.update(fields)
    return doc


def make_row(name: str, idx: int, **fields: Any) -> dict[str, Any]:
    row = {"doctype": "Sales Invoice Item", "name": name, "parent": "SINV-1", "parentfield": "items"}
    row.update({"parenttype": "Sales Invoice", "idx": idx, "qty": 1.0, "rate": 10.0, "amount": 10.0})
    row.update(fields)
    return row


def normalise(doc: dict[str, Any]) -> dict[str, Any]:
    """Drop ignored fields and None values (absent == None), sort rows by idx.

    Booleans are tagged so that ``True`` and ``1`` stay different, as in JSON.
    """
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key in DEFAULT_IGNORED or value is None:
            continue
        if isinstance(value, list) and all(isinstance(row, dict) for row in value):
            value = sorted((_normalise_row(row) for row in value), key=lambda row: row.get("idx", 0))
        out[key] = _tag(value)
    return out


def _normalise_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _tag(v) for k, v in row.items() if k not in ROW_BOOKKEEPING and v is not None}


def _tag(value: Any) -> Any:
    return ("bool", value) if isinstance(value, bool) else value


# -- unit tests: one per shape ------------------------------------------------


def test_changed_field() -> None:
    old = make_doc()
    new = make_doc(customer="C2", modified="2026-02-02 00:00:00.000000")
    assert diff(old, new) == {**EMPTY, "changed": {"customer": "C2"}}
    assert apply(old, diff(old, new))["customer"] == "C2"


def test_new_field_counts_as_changed() -> None:
    old = make_doc()
    new = make_doc(remarks="hello")
    assert diff(old, new)["changed"] == {"remarks": "hello"}


def test_field_set_to_none_or_removed() -> None:
    old = make_doc()
    assert diff(old, make_doc(customer=None))["changed"] == {"customer": None}
    new = make_doc()
    del new["customer"]
    d = diff(old, new)
    assert d["changed"] == {"customer": None}
    assert apply(old, d)["customer"] is None


def test_added_row() -> None:
    old = make_doc()
    row = {"name": "c3", "idx": 3, "item_code": "Z", "qty": 2.0}
    new = make_doc(items=[*make_doc()["items"], row])
    d = diff(old, new)
    assert d == {**EMPTY, "added": {"items": [row]}}
    added = apply(old, d)["items"][-1]
    assert added == {**row, "parent": "SINV-1", "parentfield": "items", "parenttype": "Sales Invoice"}


def test_removed_row() -> None:
    old = make_doc()
    new = make_doc(items=[old["items"][1]])
    d = diff(old, new)
    assert d == {**EMPTY, "removed": {"items": ["a1"]}}
    assert [row["name"] for row in apply(old, d)["items"]] == ["b2"]


def test_row_changed_lists_only_changed_fields() -> None:
    old = make_doc()
    new = make_doc(items=[make_row("a1", 1, item_code="X", qty=3.0, amount=30.0), old["items"][1]])
    new["items"][0]["modified"] = "2026-02-02 00:00:00.000000"
    d = diff(old, new)
    assert d == {**EMPTY, "row_changed": {"items": [{"name": "a1", "idx": 1, "qty": 3.0, "amount": 30.0}]}}
    assert apply(old, d)["items"][0]["qty"] == 3.0


def test_reordering_is_row_changed_with_new_idx() -> None:
    old = make_doc()
    new = make_doc(items=[make_row("b2", 1, item_code="Y"), make_row("a1", 2, item_code="X")])
    d = diff(old, new)
    assert d == {**EMPTY, "row_changed": {"items": [{"name": "b2", "idx": 1}, {"name": "a1", "idx": 2}]}}
    assert [row["name"] for row in apply(old, d)["items"]] == ["b2", "a1"]


def test_docstatus_change_is_not_ignored() -> None:
    d = diff(make_doc(), make_doc(docstatus=1))
    assert d == {**EMPTY, "changed": {"docstatus": 1}}


def test_empty_diff() -> None:
    d = diff(make_doc(), make_doc(modified="later", modified_by="b@example.com"))
    assert d == EMPTY
    assert is_empty(d)
    assert is_empty({})
    assert not is_empty({**EMPTY, "removed": {"items": ["a1"]}})
    assert is_empty({**EMPTY, "added": {"items": []}})


def test_bool_and_int_are_different_values() -> None:
    assert diff(make_doc(is_return=1), make_doc(is_return=True))["changed"] == {"is_return": True}
    assert is_empty(diff(make_doc(grand_total=10), make_doc(grand_total=10.0)))


def test_list_to_scalar_is_changed() -> None:
    d = diff(make_doc(), make_doc(items="none"))
    assert d == {**EMPTY, "changed": {"items": "none"}}
    d = diff(make_doc(items="none"), make_doc())
    assert d["changed"] == {"items": make_doc()["items"]}
    d = diff(make_doc(tags=["a", "b"]), make_doc(tags=["b"]))  # a list of non-dicts is no table
    assert d == {**EMPTY, "changed": {"tags": ["b"]}}


def test_custom_ignore() -> None:
    assert diff(make_doc(), make_doc(customer="C2"), ignore={"customer"}) == EMPTY
    assert diff(make_doc(), make_doc(modified="later"), ignore=()) == {**EMPTY, "changed": {"modified": "later"}}


def test_apply_does_not_mutate_its_input() -> None:
    old = make_doc()
    new = make_doc(customer="C2", items=[make_row("b2", 1, qty=5.0), make_row("c3", 2)])
    d = diff(old, new)
    old_copy, d_copy = copy.deepcopy(old), copy.deepcopy(d)
    result = apply(old, d)
    assert old == old_copy and d == d_copy
    result["items"][0]["qty"] = 99.0
    assert old == old_copy and d == d_copy


def test_apply_is_lenient_on_drifted_copies() -> None:
    d = {**EMPTY, "row_changed": {"items": [{"name": "zz", "idx": 0, "qty": 2.0}]}}
    d["added"] = {"items": [make_row("a1", 5, item_code="NEW")]}
    items = apply(make_doc(), d)["items"]
    assert [(row["name"], row["idx"]) for row in items] == [("zz", 0), ("b2", 2), ("a1", 5)]
    assert items[0]["parent"] == "SINV-1"


# -- property test --------------------------------------------------------------

# A fixed alphabet (with some non-ASCII) keeps cold runs fast: the default one
# makes Hypothesis build its Unicode tables first, which trips too_slow.
TEXT = st.text(alphabet="abcXYZ019 -_éß€", max_size=5)
scalars = st.one_of(TEXT, st.integers(), st.floats(allow_nan=False), st.none(), st.booleans())
PROPERTY = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def rows(draw: st.DrawFn, prefix: str, start: int = 1) -> list[dict[str, Any]]:
    count = draw(st.integers(0, 5))
    out = []
    for i in range(count):
        fields = draw(st.dictionaries(st.sampled_from(ROW_FIELDS), scalars, max_size=3))
        out.append({"doctype": "Row", "name": f"{prefix}{i}", "idx": start + i, "parent": "D-1", **fields})
    return out


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {"doctype": "Doc", "name": "D-1", "modified": "t0", "docstatus": 0}
    for field in draw(st.lists(st.sampled_from(SCALAR_FIELDS), unique=True, max_size=3)):
        doc[field] = draw(scalars)
    for table in draw(st.lists(st.sampled_from(TABLE_FIELDS), unique=True, max_size=2)):
        doc[table] = draw(rows(prefix=f"{table}-old-"))
    return doc


def mutate_table(draw: st.DrawFn, table: str, old_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kept = [copy.deepcopy(row) for row in old_rows if draw(st.booleans())]
    for row in kept:
        for field in draw(st.lists(st.sampled_from(ROW_FIELDS), unique=True, max_size=2)):
            if draw(st.booleans()):
                row[field] = draw(scalars)
            else:
                row.pop(field, None)
    top = max((row["idx"] for row in old_rows), default=0)
    new_rows = kept + draw(rows(prefix=f"{table}-new-", start=top + 1))
    if draw(st.booleans()):  # reorder and re-number, as a form save does
        new_rows = draw(st.permutations(new_rows))
        for i, row in enumerate(new_rows, start=1):
            row["idx"] = i
    return new_rows


@st.composite
def doc_pairs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    old = draw(documents())
    new = copy.deepcopy(old)
    new["modified"] = "t1"
    new["docstatus"] = draw(st.sampled_from([0, 1, 2]))
    for field in SCALAR_FIELDS:
        action = draw(st.sampled_from(["keep", "set", "drop"]))
        if action == "set":
            new[field] = draw(scalars)
        elif action == "drop":
            new.pop(field, None)
    for table in TABLE_FIELDS:
        action = draw(st.sampled_from(["mutate", "mutate", "drop", "scalar"]))
        if action == "mutate":
            new[table] = mutate_table(draw, table, old.get(table, []))
        elif action == "drop":
            new.pop(table, None)
        else:
            new[table] = draw(scalars)
    return old, new


@PROPERTY
@given(doc_pairs())
def test_apply_diff_round_trips(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    old, new = pair
    old_copy = copy.deepcopy(old)
    d = diff(old, new)
    assert normalise(apply(old, d)) == normalise(new)
    assert old == old_copy
    assert is_empty(d) == (normalise(old) == normalise(new))


@PROPERTY
@given(documents())
def test_diff_of_a_document_with_itself_is_empty(doc: dict[str, Any]) -> None:
    assert is_empty(diff(doc, copy.deepcopy(doc)))
    assert apply(doc, diff(doc, doc)) == doc


def test_duplicate_or_missing_row_names_are_rejected() -> None:
    with pytest.raises(ValidationError, match="duplicate row name 'a1'"):
        diff(make_doc(), make_doc(items=[make_row("a1", 1), make_row("a1", 2)]))
    with pytest.raises(ValidationError, match="without a name"):
        diff(make_doc(items=[{"idx": 1}]), make_doc())
