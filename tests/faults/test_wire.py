"""Safety of the wire: only the registered consumer reads its feed, only authorised users pull, the
subscriber can't forge update logs or approve itself, and a page that is malformed or oversized —
rewritten, truncated or replaced by the proxy — is refused whole, with nothing written."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.faults.conftest import SUBSCRIBER, FaultPair, Sites, make_pair

ROWS = [{"ref_doctype": "Customer", "use_same_name": 1}]


@pytest.fixture(scope="module")
def pair(module_sites: Sites) -> FaultPair:
    made = make_pair(module_sites, "wire", proxied=True, consumer_worker=False, consumer={"pull_page_size": 5})
    made.subscribe(ROWS)
    return made


def _keyed(url: str, keys: dict[str, str]) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"token {keys['api_key']}:{keys['api_secret']}"},
                        timeout=60)


def _as(node: Any, email: str, roles: tuple[str, ...]) -> httpx.Client:
    r = node.api.http.post("/api/resource/User", json={"doctype": "User", "email": email, "first_name": email[:5],
                                                       "roles": [{"role": role} for role in roles]})
    assert r.status_code in (200, 409), r.text
    keys = json.loads(node.server.cli("user", "generate-keys", email).stdout)
    return _keyed(node.url, keys)


def _method(http: httpx.Client, method: str, **args: Any) -> httpx.Response:
    return http.post(f"/api/method/{method}", json=args)


# -- who may read the feed, pull, write --------------------------------------------------
def test_the_change_feed_serves_only_its_registered_consumer(pair: FaultPair) -> None:
    feed = "docstream.streaming.get_updates"
    subscriber = _keyed(pair.producer.url, pair.producer.keys)
    stranger = _as(pair.producer, "stranger@example.com", ("Sales User",))
    other = _as(pair.producer, "other-sub@example.com", ("Sales User",))
    r = _method(other, "docstream.streaming.register_consumer", event_consumer="http://other-store.example:9",
                api_key="k", api_secret="s", consumer_doctypes=[{"ref_doctype": "Customer"}])
    assert r.status_code == 200, r.text
    try:
        assert _method(subscriber, feed, event_consumer=pair.consumer.url).status_code == 200
        for http in (stranger, other):  # a user of the producer, the subscriber of another consumer
            r = _method(http, feed, event_consumer=pair.consumer.url)
            assert r.status_code == 403 and "not the Event Subscriber" in r.json()["message"], r.text
        assert _method(subscriber, feed, event_consumer="http://other-store.example:9").status_code == 403
        assert httpx.post(f"{pair.producer.url}/api/method/{feed}",
                          json={"event_consumer": pair.consumer.url}).status_code in (401, 403)
        r = _method(subscriber, "docstream.streaming.get_documents", docs=[["User", "Administrator"]])
        assert r.status_code == 403 and "api_secret" not in r.text, "dependencies are read with the subscriber's rights"
    finally:
        for http in (subscriber, stranger, other):
            http.close()


def test_pull_resync_and_notify_need_an_authorised_user(pair: FaultPair) -> None:
    subscriber = _keyed(pair.consumer.url, pair.consumer.keys)
    stranger = _as(pair.consumer, "stranger@example.com", ("Sales User",))
    anonymous = httpx.Client(base_url=pair.consumer.url)
    try:
        for method, args in (("docstream.streaming.pull", {"event_producer": pair.producer_url}),
                             ("docstream.streaming.resync_all_failed", {}),
                             ("docstream.streaming.resync", {"sync_log": "nope"})):
            for http in (subscriber, stranger):
                assert _method(http, method, **args).status_code == 403, (method, http.headers)
            assert _method(anonymous, method, **args).status_code in (401, 403), method
        r = _method(stranger, "docstream.streaming.notify", event_producer=pair.producer_url)
        assert r.status_code == 403, r.text
        assert _method(anonymous, "docstream.streaming.notify", event_producer=pair.producer_url).status_code in (401, 403)
        assert pair.pull_response().status_code == 200, "the Administrator may"
    finally:
        for http in (subscriber, stranger, anonymous):
            http.close()


def test_the_subscriber_can_not_forge_update_logs_or_approve_itself(pair: FaultPair) -> None:
    before = len(pair.p.get_list("Event Update Log"))
    forged = {"doctype": "Event Update Log", "update_type": "Create", "ref_doctype": "Customer", "docname": "Forged",
              "data": json.dumps({"doctype": "Customer", "customer_name": "Forged"}), "sequence": 10**9}
    subscriber = _keyed(pair.producer.url, pair.producer.keys)
    try:
        assert subscriber.post("/api/resource/Event Update Log", json=forged).status_code == 403
        assert _method(subscriber, "frappe.client.insert", doc=forged).status_code == 403
        assert _method(subscriber, "frappe.client.insert_many", docs=[forged]).status_code == 403
        consumer = pair.p.get("Event Consumer", pair.consumer.url)
        rows = [{**row, "status": "Approved"} for row in consumer["consumer_doctypes"]]
        r = subscriber.put(f"/api/resource/Event Consumer/{httpx.URL(pair.consumer.url)}",
                           json={"consumer_doctypes": rows})
        assert r.status_code in (403, 404), r.text
        some_log = pair.p.get_list("Event Update Log", limit_page_length=1)
        if some_log:
            r = subscriber.delete(f"/api/resource/Event Update Log/{some_log[0]['name']}")
            assert r.status_code == 403, r.text
    finally:
        subscriber.close()
    assert len(pair.p.get_list("Event Update Log")) == before
    pair.pull()
    assert pair.c.get_list("Customer", filters={"name": "Forged"}) == []


# -- pages the consumer must refuse whole ----------------------------------------------------
def _page(edit: Callable[[dict[str, Any]], Any]) -> Callable[[bytes], bytes]:
    """A rewrite of the get_updates answer: ``edit`` changes the page (``message``) in place."""
    def rewrite(body: bytes) -> bytes:
        payload = json.loads(body)
        replaced = edit(payload["message"])
        if replaced is not None:
            payload["message"] = replaced
        return json.dumps(payload).encode()
    return rewrite


def _events(change: Callable[[list[dict[str, Any]]], None]) -> Callable[[bytes], bytes]:
    return _page(lambda page: change(page["events"]))


def _swap(events: list[dict[str, Any]]) -> None:
    events[0]["sequence"], events[1]["sequence"] = events[1]["sequence"], events[0]["sequence"]


MALFORMED: dict[str, Callable[[bytes], bytes]] = {
    "truncated JSON": lambda body: body[: len(body) // 2],
    "not JSON at all": lambda body: b"<html><body>502 Bad Gateway</body></html>",
    "page is a list": _page(lambda page: [page]),
    "events not a list": _page(lambda page: page.update(events={"0": page["events"][0]})),
    "events out of order": _events(_swap),
    "a sequence twice": _events(lambda ev: ev[1].update(sequence=ev[0]["sequence"])),
    "a sequence as text": _events(lambda ev: ev[1].update(sequence=str(ev[1]["sequence"]))),
    "an event replayed from before the cursor": _events(lambda ev: ev.insert(0, {**ev[0], "sequence": 0})),
    "an unknown update type": _events(lambda ev: ev[1].update(update_type="Drop")),
    "a create without its document": _events(lambda ev: ev[1].pop("data")),
    "a document that is not an object": _events(lambda ev: ev[1].update(data="customer_name=Evil")),
    "an event without ref_doctype": _events(lambda ev: ev[1].pop("ref_doctype")),
    "an event that is not an object": _events(lambda ev: ev.append("DROP TABLE")),
    "last_sequence before its last event": _page(lambda page: page.update(last_sequence=page["events"][0]["sequence"])),
    "head missing": _page(lambda page: page.pop("head")),
    "larger than the response cap (64 MiB)": lambda body: body + b" " * (65 * 1024 * 1024),
}


def _refused_whole(pair: FaultPair, names: list[str]) -> None:
    before = pair.state()
    r = pair.pull_response()
    assert r.status_code != 200, r.text
    after = pair.state()
    assert after["cursor"] == before["cursor"], "the cursor did not move"
    assert after["failures"] == before["failures"] + 1 and after["next_attempt"], "refused, to be retried later"
    assert pair.c.get_list("Customer", filters={"name": ["in", names]}) == [], "nothing of the page was applied"
    assert pair.sync_logs(producer_doc=["in", names]) == [], "no sync log was written"


@pytest.mark.parametrize("how", list(MALFORMED))
def test_a_malformed_or_oversized_page_is_refused_whole(pair: FaultPair, how: str) -> None:
    names = [f"{how[:20]} {n}" for n in range(3)]
    for name in names:
        pair.p.insert({"doctype": "Customer", "customer_name": name})
    pair.proxy.fault("get_updates", "rewrite", times=1, rewrite=MALFORMED[how])
    _refused_whole(pair, names)
    assert pair.proxy.seen("get_updates", "rewrite")
    assert pair.pull()["synced"] == 3, "the real page, fetched again, applies"
    pair.assert_converged()


def test_a_page_that_skips_past_its_own_head_is_refused(pair: FaultPair) -> None:
    names = ["Skipped 0", "Skipped 1"]
    for name in names:
        pair.p.insert({"doctype": "Customer", "customer_name": name})
    pair.proxy.fault("get_updates", "rewrite", times=1,
                     rewrite=_page(lambda page: page.update(events=[], last_sequence=page["head"] + 1000)))
    cursor = pair.state()["cursor"]
    try:
        _refused_whole(pair, names)
    finally:  # undo the jump, so the module's other tests see a sane consumer
        pair.consumer.db().sql('UPDATE "__sync_state" SET cursor = ?, head = ?', (cursor, cursor))
        pair.pull()


def test_a_page_with_more_events_than_asked_for_is_refused(pair: FaultPair) -> None:
    names = [f"Crowd {n}" for n in range(12)]
    pair.p.call("frappe.client.insert_many", docs=[{"doctype": "Customer", "customer_name": n} for n in names])
    asked_more = _args_rewrite(limit=1000)  # the consumer asks for 5 (pull_page_size); the producer gets 1000
    pair.proxy.fault("get_updates", "pass", times=1, rewrite_request=asked_more)
    _refused_whole(pair, names)


def _args_rewrite(**changes: Any) -> Callable[[bytes], bytes]:
    return lambda body: json.dumps({**json.loads(body), **changes}).encode()
