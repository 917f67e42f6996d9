"""Crash safety: SIGKILL either site at random moments, restart it, and nothing is lost or doubled.

The consumer applies each page, its Event Sync Logs and its new cursor in one transaction, so a
kill at any instant leaves all of a page or none of it. The producer logs each change in the
change's own transaction, so a kill mid-write loses no committed event and streams no rolled-back one.
"""

from __future__ import annotations

import random
import threading
from contextlib import ExitStack

import pytest

from tests.faults.conftest import FaultPair, Node, Sites, make_pair, scale, wait_for
from tests.faults.workload import STREAMED, Outcome, Workload

PAGE = 5
ROWS = [{"ref_doctype": "Customer", "use_same_name": 1}, {"ref_doctype": "Item", "use_same_name": 1},
        {"ref_doctype": "Sales Invoice", "use_same_name": 0}]


def forget_lease(node: Node) -> None:
    """A killed puller's lease would make the restarted site wait out LEASE_SECONDS (20 s) before it
    pulls again. The lease only saves duplicate fetches — correctness rests on the cursor's
    compare-and-set — so the test lets it lapse at once, as if the clock had moved on."""
    node.db().sql('UPDATE "__sync_state" SET lease_owner = NULL, lease_until = NULL')


@pytest.mark.slow
def test_consumer_killed_during_catch_up_applies_every_event_once(sites: Sites, rng) -> None:
    pair = make_pair(sites, "kill-c", proxied=True, consumer={"pull_page_size": PAGE}, seed=rng.randrange(2**31))
    pair.subscribe(ROWS)
    pair.consumer.server.stop()
    start = pair.consumer.db().value('SELECT cursor FROM "__sync_state"')
    with pair.producer.admin_client() as http:
        work = Workload(http, rng, "crash")
        while work.outcome.writes < scale(100):
            work.step()
            if work.outcome.writes >= scale(50) and not work.linked & {"crash-co"}:
                _invoice_needing_a_fetch(pair, work, start)
    head = pair.head()

    # first, a kill certainly inside a page's transaction: the page holds an invoice whose Company
    # (not streamed) must be fetched, and the proxy holds that fetch while events before it are applied
    pair.proxy.fault("get_updates", "delay", seconds=0.1)  # pages come slowly: the kills land mid-catch-up
    pair.proxy.fault("get_documents", "delay", times=1, seconds=30)
    pair.consumer.start()
    wait_for(lambda: pair.proxy.seen("get_documents"), what="the page with the invoice to be applied")
    pair.consumer.kill()
    assert pair.consumer.db().value('SELECT cursor FROM "__sync_state"') < head
    forget_lease(pair.consumer)
    kills = []
    for kill in range(scale(4)):  # then at random: mid-page, mid-transaction, between pages
        before = pair.consumer.db().value('SELECT cursor FROM "__sync_state"')
        pair.consumer.start()
        if kill % 2:
            wait_for(lambda: pair.state()["cursor"] > before or pair.caught_up(), what="progress after the restart",
                     every=0.02)
        threading.Event().wait(rng.uniform(0.0, 0.5))
        pair.consumer.kill()
        kills.append((before, pair.consumer.db().value('SELECT cursor FROM "__sync_state"'), head))
        forget_lease(pair.consumer)
    print(f"random kills (cursor at start, at the kill, head): {kills}")
    pair.consumer.start()
    pair.wait_caught_up(timeout=60)
    pair.assert_converged()


def _invoice_needing_a_fetch(pair: FaultPair, work: Workload, start: int) -> None:
    """An invoice whose Company is not streamed (so applying it fetches), third in its page."""
    while (pair.head() - start) % PAGE != 2:  # pages are PAGE events from the consumer's first cursor
        work.new_customer()
    pair.p.insert({"doctype": "Company", "company_name": "Crash Co", "abbr": "CC"})
    customer = work.customers[-1]
    pair.p.insert({"doctype": "Sales Invoice", "customer": customer, "company": "Crash Co", "items": []})
    work.linked |= {"crash-co", customer}
    work.outcome.writes += 1


def _write_until_killed(pair: FaultPair, rng, prefix: str, writers: int) -> list[Outcome]:
    """Writers on threads until the producer dies under them (SIGKILL after a random while)."""
    outcomes: list[Outcome] = []
    with ExitStack() as stack:
        works = [Workload(stack.enter_context(pair.producer.admin_client()), random.Random(rng.randrange(2**31)),
                          f"{prefix}{n}", batch=40) for n in range(writers)]

        def write(work: Workload) -> None:
            for _ in range(scale(400)):
                work.step()
                if pair.producer.server.proc is None or pair.producer.server.proc.poll() is not None:
                    return

        threads = [threading.Thread(target=write, args=(work,)) for work in works]
        for thread in threads:
            thread.start()
        threading.Event().wait(rng.uniform(0.5, 1.5))
        pair.producer.kill()
        for thread in threads:
            thread.join(timeout=120)
        outcomes += [work.outcome for work in works]
    return outcomes


def _names(api, doctype: str, key: str = "name") -> set[str]:
    return {str(d[key]) for d in api.get_list(doctype, fields=[key], limit_page_length=0)}


@pytest.mark.slow
def test_producer_killed_mid_write_loses_no_committed_event_and_streams_no_rolled_back_one(sites: Sites, rng) -> None:
    pair = make_pair(sites, "kill-p")
    pair.subscribe(ROWS)
    outcomes: list[Outcome] = []
    for cycle in range(scale(1) + 1):
        outcomes += _write_until_killed(pair, rng, f"k{cycle}w", writers=2)
        pair.producer.start()
    pair.wait_caught_up(timeout=60)

    acked = set().union(*(o.acked for o in outcomes)) - set().union(*(o.deleted for o in outcomes))
    refused = set().union(*(o.refused for o in outcomes))
    assert acked and refused, "the writers should have made both committed and rolled-back changes"
    on_producer = set().union(*(_names(pair.p, d) for d in STREAMED))
    assert acked <= on_producer, f"acknowledged writes lost by the producer: {sorted(acked - on_producer)[:10]}"
    on_consumer = _names(pair.c, "Customer") | _names(pair.c, "Item") | _names(pair.c, "Sales Invoice", "remote_docname")
    assert not refused & (on_producer | on_consumer), "a rolled-back change exists somewhere"
    streamed = {log["docname"] for log in pair.p.get_list("Event Update Log", fields=["docname"])}
    assert not refused & streamed, "a rolled-back change was logged"
    sequences = sorted(int(log["sequence"]) for log in pair.p.get_list("Event Update Log", fields=["sequence"]))
    assert sequences == list(range(1, len(sequences) + 1)), "the update log has holes or doubles"
    pair.assert_converged()
