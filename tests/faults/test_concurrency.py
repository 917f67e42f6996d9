"""Many writers on the producer while the consumer pulls all the while: no event skipped, none doubled.

The producer site is served by two processes at once (as behind a load balancer), written to by
threads of this test and by writer processes, with transactions of random length (batches of up
to 40 documents in one insert_many). On SQLite writers are serialised; on PostgreSQL they really
run at once and commit out of order unless the update log's appends are serialised.

On the consumer, pulls race each other: its background worker (notified and on a timer), manual
pulls through the API, ``docstream sync pull`` in other processes, and a thread that keeps
breaking the pull lease so that these pullers really do fetch and apply the same pages at the
same time — only the cursor's compare-and-set stands between them and applying a page twice.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import new_pg_url
from tests.faults.conftest import FaultPair, Node, Sites, make_pair, scale
from tests.faults.workload import Outcome, Workload
from tests.support.servers import SiteServer, free_port, run_cli

ROOT = Path(__file__).resolve().parents[2]
ROWS = [{"ref_doctype": d, "use_same_name": 1} for d in ("Customer", "Item", "Sales Invoice")]


class Pressure:
    """Pullers and a lease breaker hammering the consumer until stopped."""

    def __init__(self, pair: FaultPair) -> None:
        self.pair = pair
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=t, daemon=True) for t in (self._api_pulls, self._cli_pulls,
                                                                          self._break_leases)]
        self.counts: dict[str, int] = {"api": 0, "api_raced": 0, "cli": 0, "lease_breaks": 0}

    def __enter__(self) -> Pressure:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)

    def _api_pulls(self) -> None:
        node = self.pair.consumer
        with httpx.Client(base_url=node.url, timeout=120, headers={
                "Authorization": f"token {node.admin_keys['api_key']}:{node.admin_keys['api_secret']}"}) as http:
            while not self.stop.is_set():
                r = http.post("/api/method/docstream.streaming.pull", json={"event_producer": self.pair.producer_url})
                self.counts["api" if r.status_code == 200 else "api_raced"] += 1

    def _cli_pulls(self) -> None:
        server = self.pair.consumer.server
        while not self.stop.is_set():
            run_cli(server.sites_dir, "sync", "pull", check=False, site=server.name)
            self.counts["cli"] += 1

    def _break_leases(self) -> None:
        db = self.pair.consumer.db()
        while not self.stop.wait(0.03):
            db.sql('UPDATE "__sync_state" SET lease_until = 0')
            self.counts["lease_breaks"] += 1


def _second_process(sites: Sites, node: Node) -> Node:
    """The producer's site served by one more process, on its own port (same database)."""
    twin = Node(SiteServer(node.server.name, sites.sites_dir, free_port()), node.keys, node.admin_keys, node.db_url,
                node.public_url)
    sites.nodes.append(twin)
    twin.start()
    return twin


def _writer_process(node: Node, prefix: str, steps: int, seed: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.faults.workload", node.url, "--prefix", prefix, "--steps", str(steps),
         "--seed", str(seed), "--api-key", node.admin_keys["api_key"], "--api-secret", node.admin_keys["api_secret"]],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _outcome(proc: subprocess.Popen[str]) -> Outcome:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    data = json.loads(out)
    return Outcome(set(data["acked"]), set(data["refused"]), set(data["unknown"]), set(data["deleted"]), data["writes"])


def _write_concurrently(pair: FaultPair, twin: Node, rng: random.Random) -> list[Outcome]:
    steps = scale(60)
    procs = [_writer_process(node, f"p{n}", steps, rng.randrange(2**31))
             for n, node in enumerate((pair.producer, twin))]
    with ExitStack() as stack:
        works = [Workload(stack.enter_context(node.admin_client()), random.Random(rng.randrange(2**31)), f"t{n}",
                          batch=40) for n, node in enumerate((pair.producer, pair.producer, twin))]
        # long transactions (batches of up to 100 in one insert_many) interleaved with short ones: on
        # PostgreSQL a short one that starts later commits first unless appends are serialised
        batches = Workload(stack.enter_context(twin.admin_client()), random.Random(rng.randrange(2**31)), "b",
                           batch=100)
        threads = [threading.Thread(target=work.run, args=(steps,)) for work in works]
        threads.append(threading.Thread(target=lambda: [batches.batch_insert() for _ in range(scale(8))]))
        works.append(batches)
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        outcomes = [work.outcome for work in works]
    return outcomes + [_outcome(proc) for proc in procs]


@pytest.mark.slow
def test_concurrent_writers_and_racing_pullers_lose_and_double_nothing(sites: Sites, backend: str, rng) -> None:
    db = (lambda: new_pg_url()) if backend == "postgres" else (lambda: None)
    pair = make_pair(sites, f"conc-{backend}", producer_db=db(), consumer_db=db(), consumer={"pull_page_size": 15})
    pair.subscribe(ROWS)
    twin = _second_process(sites, pair.producer)
    with Pressure(pair) as pressure:
        outcomes = _write_concurrently(pair, twin, rng)
    print(f"pullers: {pressure.counts}")
    assert pressure.counts["api"] and pressure.counts["cli"] and pressure.counts["lease_breaks"]
    assert all(not o.unknown for o in outcomes), "every write got an answer"
    assert sum(o.writes for o in outcomes) >= 100

    pair.wait_caught_up(timeout=90)
    sequences = sorted(int(log["sequence"]) for log in pair.p.get_list("Event Update Log", fields=["sequence"]))
    assert sequences == list(range(1, len(sequences) + 1)), "the producer's sequence has holes or doubles"
    pair.assert_converged()


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_a_resync_racing_a_pull_leaves_nothing_held_behind_a_synced_event(sites: Sites, engine: str,
                                                                          request: pytest.FixtureRequest) -> None:
    """A pull holds a later event of a failed document behind it while, at the same moment, a resync
    replays the failed event. Whatever the order, nothing may stay held behind an event that is
    now Synced. The proxy holds the pull's page transaction open (a slow dependency fetch) while
    the resync runs: on SQLite the resync waits for it; on PostgreSQL the two really overlap."""
    if engine == "postgres":
        request.getfixturevalue("postgres")
    pair = make_pair(sites, f"race-{engine}", proxied=True, consumer_worker=False,
                     consumer_db=new_pg_url() if engine == "postgres" else None)
    pair.subscribe([{"ref_doctype": "Customer", "use_same_name": 1}, {"ref_doctype": "Sales Invoice", "use_same_name": 1}])
    p, c = pair.p, pair.c
    p.insert({"doctype": "Customer", "customer_name": "Race Buyer"})
    pair.pull()
    c.insert({"doctype": "Custom Field", "dt": "Customer", "fieldname": "store_code", "label": "Store Code",
              "fieldtype": "Data", "reqd": 1})
    p.insert({"doctype": "Customer", "customer_name": "Race X", "territory": "Old"})
    assert pair.pull()["failed"] == 1
    (failed,) = pair.sync_logs(status="Failed")
    c.delete("Custom Field", "Customer-store_code")  # the cause is gone: a resync will succeed

    p.update("Customer", "Race X", {"territory": "New"})  # held behind the failed create
    p.insert({"doctype": "Item", "item_code": "RACE-I", "standard_rate": 1})  # not streamed: fetched, slowly
    p.insert({"doctype": "Sales Invoice", "customer": "Race Buyer", "items": [{"item_code": "RACE-I", "qty": 1, "rate": 1}]})
    pair.proxy.fault("get_documents", "delay", times=1, seconds=3)
    pulled: list[Any] = []
    pulling = threading.Thread(target=lambda: pulled.append(pair.pull_response()))
    pulling.start()
    try:
        deadline = time.monotonic() + 20
        while not pair.proxy.seen("get_documents") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pair.proxy.seen("get_documents"), "the pull should be fetching the invoice's dependency"
        assert c.call("docstream.streaming.resync", sync_log=failed["name"]) == "Synced"
    finally:
        pulling.join(timeout=60)
    assert pulled and pulled[0].status_code == 200, pulled
    stuck = pair.sync_logs(status="Held")
    assert stuck == [], f"held behind {[s['held_by'] for s in stuck]}, which is Synced: nothing will ever replay it"
    assert c.get("Customer", "Race X")["territory"] == "New"
    pair.assert_converged(["Customer", "Sales Invoice"])
