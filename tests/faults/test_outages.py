"""Stores that go offline: each side down for a while, then back and caught up on its own —
page by page, with progress — and an update log that is pruned only behind every consumer."""

from __future__ import annotations

import datetime
import math

import pytest

from tests.faults.conftest import SUBSCRIBER, FaultPair, Sites, make_pair, scale, wait_for
from tests.faults.workload import Workload

ROWS = [{"ref_doctype": d, "use_same_name": 1} for d in ("Customer", "Item", "Sales Invoice")]


def test_consumer_offline_catches_up_on_its_own_page_by_page(sites: Sites, rng) -> None:
    pair = make_pair(sites, "off-c", proxied=True, seed=rng.randrange(2**31))
    pair.subscribe(ROWS)
    pair.consumer.server.stop()
    start = pair.head()
    with pair.producer.admin_client() as http:
        work = Workload(http, rng, "off")
        while pair.head() - start < scale(60):  # a backlog of several pages
            work.step()
    events = pair.head() - start
    assert events >= scale(60), events
    pair.proxy.fault("get_updates", "delay", seconds=0.05)  # a little latency, so progress can be watched
    seen_before = len(pair.proxy.seen("get_updates"))

    pair.consumer.start()
    progress = []

    def sample() -> bool:
        state = pair.state()
        progress.append((state["cursor"], state["behind"]))
        return state["cursor"] >= pair.head()

    wait_for(sample, timeout=90, what="the consumer to catch up", every=0.05)
    cursors = [c for c, _ in progress]
    assert cursors == sorted(cursors), "the cursor only moves forward"
    assert len(set(cursors)) >= 3, f"progress should be visible page by page: {progress}"
    pages = pair.proxy.seen("get_updates")[seen_before:]
    assert all(int(p.request["limit"]) == 20 for p in pages), "pages are of the site's pull_page_size"
    afters = [int(p.request["after"]) for p in pages]
    assert afters == sorted(afters) and len(set(afters)) >= math.ceil(events / 20), afters
    assert not work.outcome.unknown
    pair.assert_converged()


@pytest.mark.slow
def test_producer_offline_backs_off_then_catches_up_on_its_own(sites: Sites, rng) -> None:
    pair = make_pair(sites, "off-p", proxied=True, consumer={"retry_max_delay": 4}, seed=rng.randrange(2**31))
    pair.subscribe(ROWS)
    with pair.producer.admin_client() as http:
        Workload(http, rng, "before").run(scale(10))
    pair.wait_caught_up()

    pair.producer.server.stop()
    down_at = len(pair.proxy.seen("get_updates"))
    wait_for(lambda: len(pair.proxy.seen("get_updates")) >= down_at + 4, timeout=30, what="four attempts while down")
    attempts = [s.at for s in pair.proxy.seen("get_updates")[down_at:down_at + 4]]
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    # exponential (1–2 s, then 2–4 s) and capped by retry_max_delay (2–4 s), give or take a scheduler tick
    for gap, (low, high) in zip(gaps, [(1, 2), (2, 4), (2, 4)]):
        assert low - 0.1 <= gap <= high + 1.0, gaps
    state = pair.state()
    assert state["failures"] >= 3 and "could not reach" in state["last_error"], state
    assert state["next_attempt"], state
    assert pair.sync_logs(status="Failed") == []

    pair.producer.start()
    with pair.producer.admin_client() as http:
        Workload(http, rng, "after").run(scale(20))
    pair.wait_caught_up(timeout=30)
    assert pair.state()["failures"] == 0
    pair.assert_converged()


# -- retention ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def kept(module_sites: Sites) -> tuple[FaultPair, FaultPair]:
    """One producer with retention on, and two consumers: the first stays online, the second goes away."""
    first = make_pair(module_sites, "retention", producer={"update_log_retention_days": 1})
    other = module_sites.make("store2-retention.local")
    module_sites.start(other)
    second = FaultPair(first.producer, other)
    for pair in (first, second):
        pair.subscribe([{"ref_doctype": "Customer", "use_same_name": 1}])
    return first, second


def _producer_knows(pair: FaultPair, cursor: int) -> bool:
    """The producer prunes behind the cursor a consumer last asked from: wait until it has heard it."""
    consumers = pair.p.call("docstream.streaming.status")["consumers"]
    return next(c["cursor"] for c in consumers if c["callback_url"] == pair.consumer.url) >= cursor


def _caught_up_and_known(*pairs: FaultPair) -> int:
    for pair in pairs:
        pair.wait_caught_up()
    top = pairs[0].head()
    for pair in pairs:
        wait_for(lambda: _producer_knows(pair, top), what="the consumer's next poll")
    return top


def _age_update_logs_and_prune(pair: FaultPair) -> None:
    """Make every update log three days old, then restart the producer: its worker prunes at once."""
    pair.producer.server.stop()
    old = (datetime.datetime.now() - datetime.timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S.%f")
    pair.producer.db().sql('UPDATE "tabEvent Update Log" SET creation = ?', (old,))
    before = len(pair.producer.db().sql('SELECT name FROM "tabEvent Update Log"'))
    pair.producer.start()
    wait_for(lambda: len(pair.p.get_list("Event Update Log")) < before, timeout=20, what="the worker's prune")


def _sequences(pair: FaultPair) -> list[int]:
    return sorted(int(log["sequence"]) for log in pair.p.get_list("Event Update Log", fields=["sequence"]))


def test_retention_prunes_only_what_every_consumer_has_passed(kept: tuple[FaultPair, FaultPair]) -> None:
    online, away = kept
    for n in range(10):
        online.p.insert({"doctype": "Customer", "customer_name": f"Kept {n}"})
    passed = _caught_up_and_known(online, away)

    away.consumer.server.stop()  # offline: it still needs everything written from now on
    for n in range(10, 20):
        online.p.insert({"doctype": "Customer", "customer_name": f"Kept {n}"})
    _caught_up_and_known(online)  # the other consumer has passed all of it
    needed = list(range(passed + 1, online.head() + 1))
    _age_update_logs_and_prune(online)
    assert _sequences(online) == needed, "pruned exactly what every consumer had passed, kept all one still needs"

    away.consumer.start()
    for pair in kept:
        pair.wait_caught_up()
        pair.assert_converged(since=passed)


def test_pruning_everything_never_reuses_a_sequence(kept: tuple[FaultPair, FaultPair]) -> None:
    top = _caught_up_and_known(*kept)
    _age_update_logs_and_prune(kept[0])
    kept[0].p.insert({"doctype": "Customer", "customer_name": "After The Prune"})
    assert max(_sequences(kept[0])) > top, f"the sequence went back from {top} to {_sequences(kept[0])}"
    for pair in kept:
        wait_for(lambda: pair.c.get_list("Customer", filters={"name": "After The Prune"}), timeout=10,
                 what="the first change after a full prune to reach the consumer")


def test_a_page_fetched_ahead_is_not_taken_for_applied(sites: Sites) -> None:
    """A consumer fetches the next page while it applies one (``after`` the page it has not yet
    committed): a crash then loses that page's work, so the producer must keep those logs. It
    prunes up to what the consumer says it has committed, never up to a page fetched ahead."""
    pair = make_pair(sites, "ahead", producer={"update_log_retention_days": 1}, consumer_worker=False)
    pair.subscribe([{"ref_doctype": "Customer", "use_same_name": 1}])
    for n in range(5):
        pair.p.insert({"doctype": "Customer", "customer_name": f"Applied {n}"})
    assert pair.pull()["synced"] == 5
    committed = pair.state()["cursor"]
    names = [pair.p.insert({"doctype": "Customer", "customer_name": f"In flight {n}"})["name"] for n in range(5)]
    top = pair.head()
    pair.consumer.server.stop()  # it crashed while applying the page that ends at ``top``
    # … having fetched the page after it already, as a pull does
    ahead = pair.p.call("docstream.streaming.get_updates", event_consumer=pair.consumer.url, after=top,
                        committed=committed)
    assert ahead["events"] == [] and ahead["last_sequence"] == top
    _age_update_logs_and_prune(pair)
    assert _sequences(pair) == list(range(committed + 1, top + 1)), "pruned only what the consumer committed"

    pair.consumer.start()
    assert pair.pull()["synced"] == 5
    assert {c["name"] for c in pair.c.get_list("Customer")} >= set(names)
    pair.assert_converged(since=committed)


def test_a_consumer_behind_what_was_pruned_is_rebaselined(sites: Sites) -> None:
    """A consumer restored from an old backup asks for logs that retention has since pruned (every
    consumer had passed them then): carrying on would pass over their changes without a sign, so
    the producer refuses the cursor and the consumer re-baselines — it gets every document again."""
    pair = make_pair(sites, "pruned", producer={"update_log_retention_days": 1}, consumer_worker=False)
    pair.subscribe([{"ref_doctype": "Customer", "use_same_name": 1}])
    first = [pair.p.insert({"doctype": "Customer", "customer_name": f"Old {n}"})["name"] for n in range(3)]
    assert pair.pull()["synced"] == 3
    backup = pair.consumer.server.cli("backup").stdout.strip()
    later = [pair.p.insert({"doctype": "Customer", "customer_name": f"Later {n}"})["name"] for n in range(3)]
    pair.p.update("Customer", first[0], {"customer_group": "Commercial"})
    assert pair.pull()["synced"] == 4
    pair.pull()  # the producer hears that it has applied all of it with its next request
    _age_update_logs_and_prune(pair)  # the consumer had passed everything: all of it goes
    assert _sequences(pair) == []

    pair.consumer.server.stop()
    pair.consumer.server.cli("restore", backup, "--yes")  # its cursor goes back below what was pruned
    pair.consumer.start()
    refused = pair.p.http.post("/api/method/docstream.streaming.get_updates",
                               json={"event_consumer": pair.consumer.url, "after": pair.state()["cursor"]})
    assert refused.status_code == 409 and "pruned" in refused.json()["message"], refused.text

    counts = pair.pull()
    assert counts["failed"] == 0
    assert {c["name"] for c in pair.c.get_list("Customer")} == set(first + later)
    assert pair.c.get("Customer", first[0])["customer_group"] == "Commercial"
    state = pair.state()
    assert state["rebaselined"] and not state["last_error"], state
    assert state["cursor"] == pair.head()
    again = pair.p.insert({"doctype": "Customer", "customer_name": "After The Baseline"})["name"]
    assert pair.pull()["synced"] == 1 and pair.c.get("Customer", again)  # and no second baseline


def test_the_sites_poll_interval_applies_when_the_producer_sets_none(sites: Sites) -> None:
    # through the proxy the producer's notifications don't reach the consumer: only the timer pulls
    pair = make_pair(sites, "poll", proxied=True)
    pair.c.insert({"doctype": "Event Producer", "producer_url": pair.producer_url, "user": SUBSCRIBER,
                   "api_key": pair.producer.keys["api_key"], "api_secret": pair.producer.keys["api_secret"],
                   "producer_doctypes": [{"ref_doctype": "Customer", "use_same_name": 1}]})
    pair.doctypes = ["Customer"]
    pair.approve("Customer")
    wait_for(lambda: pair.proxy.seen("get_updates"), what="the first pull of a new Event Producer")
    pair.p.insert({"doctype": "Customer", "customer_name": "On The Timer"})
    wait_for(lambda: pair.c.get_list("Customer", filters={"name": "On The Timer"}), timeout=5,
             what="a timed pull at the site's poll_interval (1 s)")
