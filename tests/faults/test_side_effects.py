"""Side effects after commit: the producer's notifications to a consumer.

The consumer is told to the producer by a proxy's address (its host_name), so every notification
passes through the proxy, where the test counts, delays or refuses them. The consumer's own timer
is slow here (a minute), so what arrives quickly arrived because it was notified.

Notifications are sent only after a commit (never for a rolled-back change), coalesced (one per
consumer per burst), retried with backoff when the consumer can't be reached, and never make the
write that caused them wait.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.faults.conftest import FaultPair, Sites, wait_for
from tests.faults.proxy import FaultProxy
from tests.support.servers import free_port

NOTIFY = "docstream.streaming.notify"


@pytest.fixture(scope="module")
def told(module_sites: Sites) -> Iterator[FaultPair]:
    port = free_port()
    proxy = FaultProxy(port).start()
    producer = module_sites.make("hq-notify.local")
    consumer = module_sites.make("store-notify.local", port=port, public_url=proxy.url)
    module_sites.start(producer, consumer)
    pair = FaultPair(producer, consumer)
    pair.consumer_proxy = proxy  # type: ignore[attr-defined]
    pair.subscribe([{"ref_doctype": "Customer", "use_same_name": 1}], poll_interval=60)
    wait_for(lambda: pair.state().get("last_success"), what="the first (timed) pull of the new Event Producer")
    yield pair
    proxy.stop()


def _arrived(pair: FaultPair, name: str) -> bool:
    return bool(pair.c.get_list("Customer", filters={"name": name}))


def _timed_insert(pair: FaultPair, name: str) -> float:
    start = time.monotonic()
    pair.p.insert({"doctype": "Customer", "customer_name": name})
    return time.monotonic() - start


def test_notifications_follow_commits_coalesce_and_never_hold_up_the_writer(told: FaultPair) -> None:
    proxy: FaultProxy = told.consumer_proxy  # type: ignore[attr-defined]
    told.p.insert({"doctype": "Customer", "customer_name": "First"})
    wait_for(lambda: _arrived(told, "First"), timeout=10, what="a notified pull")
    settled = len(proxy.seen(NOTIFY))
    assert settled >= 1

    # a rolled-back change notifies nobody
    r = told.p.http.post("/api/method/frappe.client.insert_many",
                         json={"docs": [{"doctype": "Customer", "customer_name": "Rolled Back"}, {"doctype": "Customer"}]})
    assert r.status_code == 417, r.text
    time.sleep(1.5)  # what is asserted is that nothing happens
    assert len(proxy.seen(NOTIFY)) == settled, "a notification for a change that was rolled back"
    assert told.p.get_list("Event Update Log", filters={"docname": "Rolled Back"}) == []

    # a burst, while the consumer answers slowly: coalesced, and no write waits for a notification
    proxy.fault(NOTIFY, "delay", seconds=0.7)
    latencies = [_timed_insert(told, f"Burst {n}") for n in range(20)]
    assert max(latencies) < 0.6, f"a write waited for its notification: {latencies}"
    wait_for(lambda: _arrived(told, "Burst 19"), timeout=15, what="the burst to arrive by notification")
    sent = len(proxy.seen(NOTIFY)) - settled
    proxy.clear()
    assert 1 <= sent <= 6, f"{sent} notifications for one burst of 20 writes"
    told.wait_caught_up()
    told.assert_converged()


def test_an_unreachable_consumer_is_notified_again_with_backoff(told: FaultPair) -> None:
    proxy: FaultProxy = told.consumer_proxy  # type: ignore[attr-defined]
    proxy.clear()
    proxy.fault(NOTIFY, "refuse")
    before = len(proxy.seen(NOTIFY))
    assert _timed_insert(told, "Unheard") < 0.6, "the write waited for a notification that can't be delivered"
    wait_for(lambda: len(proxy.seen(NOTIFY)) >= before + 3, timeout=15, what="the notification to be retried")
    attempts = [s.at for s in proxy.seen(NOTIFY)[before:]]
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    # 0.5 s x 2^attempt with jitter (x0.5–1), capped by retry_max_delay (2 s here)
    assert 0.45 <= gaps[0] <= 1.2 and 0.95 <= gaps[1] <= 2.2, f"retries should back off: {gaps}"
    assert not _arrived(told, "Unheard"), "nothing else made the consumer pull"
    proxy.clear()
    wait_for(lambda: _arrived(told, "Unheard"), timeout=15, what="a retried notification to get through")
    told.wait_caught_up()
    told.assert_converged()
