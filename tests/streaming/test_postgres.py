"""The same flow between two sites on PostgreSQL (and one mixed pair)."""

from __future__ import annotations

import pytest

from tests.conftest import new_pg_url
from tests.streaming.conftest import STANDARD_ROWS, Pair


@pytest.mark.postgres
@pytest.mark.parametrize("consumer_on_pg", [True, False], ids=["pg-pg", "pg-sqlite"])
def test_flow_on_postgres(serve, postgres, consumer_on_pg: bool) -> None:
    producer = serve("hq-pg.local", db_url=new_pg_url())
    consumer = serve("store-pg.local", db_url=new_pg_url() if consumer_on_pg else None)
    pair = Pair(producer, consumer)
    pair.subscribe(STANDARD_ROWS)
    p, c = pair.p, pair.c
    p.insert({"doctype": "Customer", "customer_name": "PG Buyer", "territory": "East"})
    p.insert({"doctype": "Item", "item_code": "PG-1", "standard_rate": 7})
    inv = p.insert({"doctype": "Sales Invoice", "customer": "PG Buyer", "posting_date": "2026-01-31",
                    "items": [{"item_code": "PG-1", "qty": 3, "rate": 7}]})
    p.update("Customer", "PG Buyer", {"territory": "West"})
    p.call("docstream.submit", doctype="Sales Invoice", name=inv["name"])
    pair.pull()
    assert c.get("Customer", "PG Buyer")["territory"] == "West"
    (local,) = c.get_list("Sales Invoice", fields=["name", "docstatus", "grand_total", "posting_date"],
                          filters={"remote_docname": inv["name"]})
    assert local["docstatus"] == 1 and local["grand_total"] == 21 and local["posting_date"] == "2026-01-31"
    p.insert({"doctype": "Supplier", "supplier_name": "PG Supplier"})
    p.delete("Supplier", "PG Supplier")
    pair.pull()
    assert c.get_list("Supplier", filters={"name": "PG Supplier"}) == []
    failed = pair.sync_logs(status="Failed")
    assert failed == []
