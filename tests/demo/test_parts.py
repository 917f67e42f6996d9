"""The demo's parts that need no server: the workload plan and the comparison of documents."""

from __future__ import annotations

import threading
from typing import Any

from docstream.demo import workload
from docstream.demo.convergence import compare_invoices, compare_masters, copies_by_origin

STORE_URL = "http://127.0.0.1:8002"


class RecordingClient:
    """Stands in for a site's HTTP API: records every write, answers as the site would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self._next = 0

    def insert(self, doc: dict[str, Any]) -> dict[str, Any]:
        self._next += 1
        self.calls.append(("insert", doc["doctype"]))
        return {**doc, "name": f"SINV-{self._next:05d}", "items": [dict(r, name=f"row{i}") for i, r in enumerate(doc.get("items", []))]}

    def update(self, doctype: str, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("update", doctype))
        return changes

    def call(self, method: str, **args: Any) -> Any:
        self.calls.append((method, args["doctype"]))


def test_the_invoice_plan_counts_every_write_it_makes() -> None:
    data = workload.master_data()
    plan = workload.invoice_plan(1, data)
    api, counter = RecordingClient(), workload.Counter(plan.operations)
    workload.run_invoices(api, plan, counter, threading.Event())  # type: ignore[arg-type]
    assert counter.done == len(api.calls) == plan.operations
    assert api.calls.count(("insert", "Sales Invoice")) == workload.INVOICES_PER_STORE
    assert ("docstream.cancel", "Sales Invoice") in api.calls and ("docstream.submit", "Sales Invoice") in api.calls
    assert ("update", "Sales Invoice") in api.calls


def test_plans_are_the_same_every_run_and_differ_between_stores() -> None:
    data = workload.master_data()
    assert workload.invoice_plan(1, data).invoices == workload.invoice_plan(1, workload.master_data()).invoices
    assert workload.invoice_plan(1, data).invoices != workload.invoice_plan(2, data).invoices
    companies = [workload.store_company(i) for i in range(1, 21)]  # --stores allows up to 20
    assert len({c["company_name"] for c in companies}) == len({c["abbr"] for c in companies}) == 20


def test_invoices_use_only_master_data_that_exists_from_the_start() -> None:
    data = workload.master_data()
    codes = {i["item_code"] for i in data.items}
    customers = {c["customer_name"] for c in data.customers}
    for invoice in workload.invoice_plan(2, data).invoices:
        assert invoice["customer"] in customers
        assert {row["item_code"] for row in invoice["items"]} <= codes


def test_a_stop_request_ends_the_workload_early() -> None:
    data = workload.master_data()
    plan = workload.invoice_plan(1, data)
    stop = threading.Event()
    stop.set()
    api = RecordingClient()
    workload.run_invoices(api, plan, workload.Counter(plan.operations), stop)  # type: ignore[arg-type]
    assert api.calls == [("insert", "Company")]


def test_masters_that_match_have_no_differences() -> None:
    docs = {"A": {"name": "A", "territory": "North"}}
    assert compare_masters("Customer", "store-1", docs, {"A": {"name": "A", "territory": "North"}}) == []


def test_masters_missing_extra_or_different_are_named() -> None:
    wanted = {"A": {"territory": "North"}, "B": {"territory": "South"}}
    found = {"A": {"territory": "East"}, "C": {"territory": "West"}}
    assert compare_masters("Customer", "store-1", wanted, found) == [
        "Customer B: at hq, missing at store-1",
        "Customer C: at store-1, not at hq",
        "Customer A: territory is 'North' at hq, 'East' at store-1",
    ]


def _invoice(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "customer": "C1", "company": "Co", "grand_total": 10.0, "docstatus": 1,
            "items": [("ITEM-1", 2.0, 5.0)], **fields}


def test_invoices_are_matched_by_remote_name_and_site() -> None:
    originals = {"SINV-1": _invoice("SINV-1")}
    copies = copies_by_origin([_invoice("HQ-7", remote_docname="SINV-1", remote_site_name=STORE_URL)])
    assert compare_invoices("store-1", STORE_URL, originals, copies) == []
    elsewhere = copies_by_origin([_invoice("HQ-7", remote_docname="SINV-1", remote_site_name="http://other:1")])
    assert compare_invoices("store-1", STORE_URL, originals, elsewhere) == [
        "Sales Invoice SINV-1 of store-1: 0 copies at hq, expected 1"]


def test_invoice_differences_are_named() -> None:
    originals = {"SINV-1": _invoice("SINV-1", docstatus=2), "SINV-2": _invoice("SINV-2")}
    copies = copies_by_origin([
        _invoice("HQ-1", remote_docname="SINV-1", remote_site_name=STORE_URL, items=[("ITEM-1", 3.0, 5.0)]),
        _invoice("HQ-2", remote_docname="SINV-2", remote_site_name=STORE_URL),
        _invoice("HQ-3", remote_docname="SINV-2", remote_site_name=STORE_URL),
        _invoice("HQ-4", remote_docname="SINV-9", remote_site_name=STORE_URL),
    ])
    assert compare_invoices("store-1", STORE_URL, originals, copies) == [
        "Sales Invoice SINV-1 of store-1: docstatus is 2 there, 1 at hq (HQ-1)",
        "Sales Invoice SINV-1 of store-1: items is [('ITEM-1', 2.0, 5.0)] there, [('ITEM-1', 3.0, 5.0)] at hq (HQ-1)",
        "Sales Invoice SINV-2 of store-1: 2 copies at hq, expected 1",
        "Sales Invoice SINV-9 of store-1: at hq, not at store-1",
    ]
