"""Backfill: with initial_sync, the producer's existing documents reach the consumer once the row is
approved — exactly once, resumably across consumer crashes — and live changes follow without a gap."""

from __future__ import annotations

import random
import threading
from contextlib import ExitStack

import pytest

from tests.conftest import new_pg_url
from tests.faults.conftest import FaultPair, Sites, make_pair, scale, wait_for
from tests.faults.test_crash import forget_lease
from tests.faults.workload import Workload

ROWS = [{"ref_doctype": d, "use_same_name": 1, "initial_sync": 1} for d in ("Customer", "Item", "Sales Invoice")]


def _existing(pair: FaultPair, rng: random.Random, customers: int, items: int) -> None:
    """Documents that exist before anyone subscribes (inserted in batches, so it's quick)."""
    for start in range(0, customers, 100):
        docs = [{"doctype": "Customer", "customer_name": f"Old C {n:05d}", "territory": rng.choice("NSEW")}
                for n in range(start, min(customers, start + 100))]
        pair.p.call("frappe.client.insert_many", docs=docs)
    pair.p.call("frappe.client.insert_many", docs=[
        {"doctype": "Item", "item_code": f"OLD-I-{n:04d}", "standard_rate": n} for n in range(items)])
    for n in range(scale(5)):
        pair.p.insert({"doctype": "Sales Invoice", "customer": f"Old C {n:05d}",
                       "items": [{"item_code": f"OLD-I-{n % items:04d}", "qty": 1 + n, "rate": 2}]})


class LiveWriter:
    """Changes made on the producer while the backfill is being pulled."""

    def __init__(self, pair: FaultPair, seed: int) -> None:
        self.stack = ExitStack()
        self.work = Workload(self.stack.enter_context(pair.producer.admin_client()), random.Random(seed), "live")
        self.work.customers = [f"Old C {n:05d}" for n in range(20)]  # it edits backfilled documents too
        self.work.items = [f"OLD-I-{n:04d}" for n in range(5)]
        self.work.linked = set(self.work.customers)  # (and deletes only its own)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self.stop.wait(0.02):
            self.work.step()

    def __enter__(self) -> LiveWriter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        self.stack.close()


@pytest.mark.slow
def test_backfill_once_approved_resumable_and_gapless(sites: Sites, rng) -> None:
    pair = make_pair(sites, "backfill", consumer={"pull_page_size": 10})
    customers, items = scale(80), scale(20)
    _existing(pair, rng, customers, items)
    pair.subscribe(ROWS, approve=False)
    assert pair.pull() == {"synced": 0, "failed": 0, "held": 0}
    assert pair.c.get_list("Customer") == [], "nothing is sent before the row is approved"

    pair.approve(*pair.doctypes)
    backfilled = pair.p.get_list("Event Update Log", fields=["docname"], filters={"target": pair.consumer.url})
    assert len(backfilled) == customers + items + scale(5)
    with LiveWriter(pair, rng.randrange(2**31)) as live:
        for _ in range(scale(2)):  # crash twice in the middle of the catch-up
            before = pair.state()["cursor"]
            wait_for(lambda: pair.state()["cursor"] > before, what="progress through the backfill", every=0.02)
            threading.Event().wait(rng.uniform(0, 0.3))
            pair.consumer.kill()
            forget_lease(pair.consumer)
            pair.consumer.start()
        wait_for(lambda: live.work.outcome.writes >= 20, what="some live changes")
    assert live.work.outcome.writes and not live.work.outcome.unknown
    pair.wait_caught_up(timeout=90)
    pair.assert_converged()
    creates = pair.sync_logs(update_type="Create", producer_doc=["like", "Old C%"])
    assert len(creates) == customers, "each existing document arrives exactly once"


def test_a_write_that_straddles_the_approval_still_arrives_on_postgres(sites: Sites, postgres: str) -> None:
    """A document written while the approval (and its backfill) runs must arrive: in the backfill
    or as a live event. On PostgreSQL the writer and the approval really overlap: a writer in this
    process, through the same Document layer, inserts and holds its transaction open while the
    approval is made. (An engine that lets the approval commit meanwhile must still deliver the
    document; one that makes the approval wait for the writer is fine too.)"""
    from docstream.site import Site

    pair = make_pair(sites, "backfill-pg", producer_db=new_pg_url())
    pair.p.insert({"doctype": "Customer", "customer_name": "Before"})
    pair.subscribe([ROWS[0]], approve=False)
    writer = Site.open(pair.producer.server.name, sites.sites_dir)
    inserted, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        with writer.db.transaction():
            writer.session().insert({"doctype": "Customer", "customer_name": "Straddler"})
            inserted.set()
            release.wait(30)

    def approve() -> None:
        try:
            pair.approve("Customer")
        except BaseException as exc:  # re-raised on the test's thread
            errors.append(exc)

    writing, approving = threading.Thread(target=write), threading.Thread(target=approve)
    writing.start()
    try:
        assert inserted.wait(30)
        approving.start()
        approving.join(timeout=2)  # done by now, or waiting for the writer: either way, the writer commits now
    finally:
        release.set()
        writing.join(timeout=30)
        approving.join(timeout=60)
        writer.close()
    assert not approving.is_alive() and not errors, errors
    pair.p.insert({"doctype": "Customer", "customer_name": "After"})
    pair.wait_caught_up()
    assert pair.c.get_list("Customer", filters={"name": "After"}) and pair.c.get_list("Customer", filters={"name": "Before"})
    pair.assert_converged()


def test_approving_a_row_again_keeps_what_the_consumer_was_owed(sites: Sites) -> None:
    """Pending then Approved again is the documented way to send a DocType's documents again. The
    events logged for the consumer under the earlier approval that it has not applied yet — a
    deletion above all, which no backfill could carry — still reach it, before the backfill."""
    pair = make_pair(sites, "again", consumer_worker=False)
    pair.subscribe([{"ref_doctype": "Customer", "use_same_name": 1, "initial_sync": 1},
                    {"ref_doctype": "Item", "use_same_name": 1}])
    for name in ("Keep", "Gone"):
        pair.p.insert({"doctype": "Customer", "customer_name": name})
    pair.p.insert({"doctype": "Item", "item_code": "MUG", "standard_rate": 1})
    assert pair.pull()["synced"] == 3
    pair.pull()  # the producer hears what it has applied
    pair.p.delete("Customer", "Gone")  # owed to the consumer, not pulled yet
    pair.p.update("Item", "MUG", {"standard_rate": 2})
    pair.approve("Customer", "Item", status="Pending")
    pair.p.insert({"doctype": "Item", "item_code": "WHILE-PENDING", "standard_rate": 3})
    pair.approve("Customer", "Item")
    assert pair.pull()["failed"] == 0
    assert sorted(c["name"] for c in pair.c.get_list("Customer")) == ["Keep"]
    assert pair.c.get("Item", "MUG")["standard_rate"] == 2
    assert pair.state()["cursor"] == pair.head()

    # the first approval of a row still starts at the head: nothing older is sent
    pair.p.insert({"doctype": "Supplier", "supplier_name": "Before Subscribing"})
    rows = pair.c.get("Event Producer", pair.producer_url)["producer_doctypes"]
    pair.c.update("Event Producer", pair.producer_url,
                  {"producer_doctypes": [*rows, {"ref_doctype": "Supplier", "use_same_name": 1}]})
    pair.approve("Supplier")
    pair.p.insert({"doctype": "Supplier", "supplier_name": "After Subscribing"})
    pair.pull()
    assert [s["name"] for s in pair.c.get_list("Supplier")] == ["After Subscribing"]
