"""Transient errors between the sites — refused, reset, 5xx, slow, cut, lost answers — are retried
with exponential backoff and jitter, never turn into Failed events, and never apply part of a page.

The consumer reaches the producer through the fault proxy and runs no background worker: every
attempt below is a manual pull, so the failure count and the backoff it sets are exact.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time

import pytest

from tests.faults.conftest import FaultPair, Sites, make_pair

ROWS = [{"ref_doctype": d, "use_same_name": 1} for d in ("Supplier", "Item", "Sales Invoice")]
TIMEOUT = 2  # the consumer's request_timeout in this module
# (action, options) of one failed get_updates each; the backoff grows with every one of them
FAULTS = [
    ("refuse", {}), ("reset", {}), ("status", {"status": 503}), ("status", {"status": 502}),
    ("cut", {"keep": 10}), ("drop", {}), ("delay", {"seconds": TIMEOUT + 1.5}), ("blackhole", {}),
]


@pytest.fixture(scope="module")
def pair(module_sites: Sites) -> FaultPair:
    made = make_pair(module_sites, "transient", proxied=True, consumer_worker=False,
                     consumer={"retry_max_delay": 300, "request_timeout": TIMEOUT})
    made.subscribe(ROWS)
    return made


def _epoch(stamp: str) -> float:
    """A timestamp of the status (local time, as every timestamp docstream gives) as seconds since the epoch."""
    return datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()


def _no_failed_events(pair: FaultPair) -> None:
    assert pair.sync_logs(status="Failed") == [] and pair.sync_logs(status="Held") == []


def _status_table(pair: FaultPair) -> str:
    node = pair.consumer.server
    env = {**os.environ, "COLUMNS": "400"}
    proc = subprocess.run([sys.executable, "-m", "docstream", "--sites-dir", str(node.sites_dir), "--site", node.name,
                           "sync", "status"], capture_output=True, text=True, env=env, timeout=60, check=True)
    return proc.stdout


def test_transient_errors_back_off_with_jitter_and_never_fail_an_event(pair: FaultPair) -> None:
    for n in range(5):
        pair.p.insert({"doctype": "Supplier", "supplier_name": f"Transient {n}"})
    ratios = []
    for failures, (action, options) in enumerate(FAULTS, start=1):
        pair.proxy.fault("get_updates", action, times=1, **options)
        before = time.time()
        r = pair.pull_response()
        after = time.time()
        assert r.status_code == 503, f"{action}: {r.status_code} {r.text}"
        assert pair.proxy.url in r.json()["message"], r.text
        state = pair.state()
        assert state["failures"] == failures and pair.proxy.url in state["last_error"], (action, state)
        base = 2.0 ** failures
        due = _epoch(state["next_attempt"])
        assert before + 0.5 * base - 0.01 <= due <= after + base + 0.01, (action, state)
        ratios.append((due - before) / base)
        _no_failed_events(pair)
        assert pair.c.get_list("Supplier", filters=[["name", "like", "Transient%"]]) == []
    assert len({round(r, 3) for r in ratios}) > 1 and min(ratios) < 0.99, f"no jitter in the backoff: {ratios}"
    assert [s.action for s in pair.proxy.seen("get_updates")][-len(FAULTS):] == [a for a, _ in FAULTS]

    # `sync status` shows the last error and when the next attempt is due
    as_json = json.loads(pair.consumer.server.cli("sync", "status", "--json").stdout)["producers"][0]
    assert as_json["failures"] == len(FAULTS) and f"did not answer in {TIMEOUT}s" in as_json["last_error"]
    table = _status_table(pair)
    assert "last error" in table and "next attempt" in table
    assert as_json["last_error"] in table and as_json["next_attempt"] in table, table

    assert pair.pull()["synced"] == 5
    state = pair.state()
    assert state["failures"] == 0 and state["last_error"] is None and state["next_attempt"] is None
    _no_failed_events(pair)
    pair.assert_converged()


def test_a_dependency_fetch_that_fails_rolls_the_whole_page_back(pair: FaultPair) -> None:
    p, c = pair.p, pair.c
    # Customer and Company are not streamed: the invoice needs them fetched as dependencies
    p.insert({"doctype": "Item", "item_code": "MID-1", "standard_rate": 4})
    p.insert({"doctype": "Customer", "customer_name": "Mid Buyer"})
    p.insert({"doctype": "Company", "company_name": "Mid Co", "abbr": "MC"})
    invoice = p.insert({"doctype": "Sales Invoice", "customer": "Mid Buyer", "company": "Mid Co",
                        "items": [{"item_code": "MID-1", "qty": 3, "rate": 4}]})
    p.insert({"doctype": "Supplier", "supplier_name": "After The Invoice"})
    cursor = pair.state()["cursor"]
    for action, options in (("status", {"status": 500}), ("cut", {"keep": 30}), ("reset", {})):
        pair.proxy.fault("get_documents", action, times=1, **options)
        r = pair.pull_response()
        assert r.status_code == 503, f"{action}: {r.text}"
        assert pair.state()["cursor"] == cursor, "a page is applied whole or not at all"
        assert c.get_list("Item", filters={"name": "MID-1"}) == [], "the event before the failure was rolled back"
        assert pair.sync_logs(producer_doc="MID-1") == []
        _no_failed_events(pair)
    assert pair.pull() == {"synced": 3, "failed": 0, "held": 0}
    assert c.get("Sales Invoice", invoice["name"])["grand_total"] == 12
    assert c.get("Customer", "Mid Buyer") and c.get("Company", "Mid Co")
    assert len(pair.proxy.seen("get_documents")) == 4
    pair.assert_converged()


def test_slow_answers_within_the_timeout_are_fine(pair: FaultPair) -> None:
    pair.p.insert({"doctype": "Supplier", "supplier_name": "Slow But Sure"})
    pair.proxy.fault("get_updates", "delay", times=1, seconds=TIMEOUT / 2)
    assert pair.pull()["synced"] == 1
    assert pair.state()["failures"] == 0
    pair.assert_converged()


def test_a_lost_registration_answer_is_repaired_by_registering_again(pair: FaultPair) -> None:
    """The producer registered the consumer but its answer was lost: the consumer's save fails with
    a clear message, and saving again (re-registering the same URL) works — one Event Consumer."""
    c, p = pair.c, pair.p
    producer_doc = c.get("Event Producer", pair.producer_url)
    c.delete("Event Producer", pair.producer_url)
    assert p.get_list("Event Consumer") == [], "deleting the Event Producer ends the subscription there too"
    doc = {"doctype": "Event Producer", "producer_url": pair.producer_url, "user": producer_doc["user"],
           "api_key": pair.producer.keys["api_key"], "api_secret": pair.producer.keys["api_secret"],
           "poll_interval": 1, "producer_doctypes": [{"ref_doctype": r, "use_same_name": 1} for r in pair.doctypes]}

    pair.proxy.fault("register_consumer", "drop", times=1)
    r = c.http.post("/api/resource/Event Producer", json=doc)
    assert r.status_code == 417 and "could not reach" in r.json()["message"], r.text
    assert c.get_list("Event Producer") == []
    assert [e["name"] for e in p.get_list("Event Consumer")] == [pair.consumer.url], "registered, answer lost"

    c.insert(doc)
    assert [e["name"] for e in p.get_list("Event Consumer")] == [pair.consumer.url]
    pair.approve(*pair.doctypes)
    p.insert({"doctype": "Supplier", "supplier_name": "Registered Twice"})
    assert pair.pull()["synced"] == 1
    pair.assert_converged()
