"""Registering a consumer on a producer, and each way it can fail without leaving anything behind."""

from __future__ import annotations

import httpx
import pytest

from tests.streaming.conftest import SUBSCRIBER, Pair, add_subscriber
from tests.support.servers import Api, free_port


def _producer_doc(pair: Pair, **overrides) -> dict:
    doc = {"doctype": "Event Producer", "producer_url": pair.producer.url, "user": SUBSCRIBER,
           "api_key": pair.producer_keys["api_key"], "api_secret": pair.producer_keys["api_secret"],
           "producer_doctypes": [{"ref_doctype": "Customer", "use_same_name": 1}]}
    doc.update(overrides)
    return doc


def _refused(pair: Pair, doc: dict) -> str:
    r = pair.c.http.post("/api/resource/Event Producer", json=doc)
    assert r.status_code == 417, r.text
    assert pair.c.get_list("Event Producer") == []
    assert pair.p.get_list("Event Consumer") == []
    return r.json()["message"]


def test_unreachable_producer_is_named(pair) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    message = _refused(pair, _producer_doc(pair, producer_url=dead))
    assert dead in message and "could not reach" in message


def test_a_doctype_listed_twice_is_refused(pair) -> None:
    """The producer keeps one row per DocType: a second row's condition would be dropped there while
    its naming was used here. Refused whole, nothing registered."""
    rows = [{"ref_doctype": "Customer", "use_same_name": 1},
            {"ref_doctype": "Customer", "use_same_name": 0, "condition": "doc.territory == 'North'"}]
    message = _refused(pair, _producer_doc(pair, producer_doctypes=rows))
    assert "Customer is listed twice" in message


def test_wrong_keys_are_refused(pair) -> None:
    message = _refused(pair, _producer_doc(pair, api_secret="0" * 32))
    assert "refused the API key" in message


def test_missing_permission_names_the_doctype(serve) -> None:
    producer, consumer = serve("hq-perm.local"), serve("store-perm.local")
    pair = Pair.__new__(Pair)
    pair.producer, pair.consumer = producer, consumer
    pair.producer_keys = add_subscriber(producer, roles="Item Manager")  # may read Item, not Customer
    pair.consumer_keys = add_subscriber(consumer)
    pair.p, pair.c = producer.admin(), consumer.admin()
    message = _refused(pair, _producer_doc(pair))
    assert "Customer" in message and SUBSCRIBER in message and "read" in message


def test_only_http_urls_and_one_name_per_site(pair) -> None:
    r = pair.c.http.post("/api/resource/Event Producer", json=_producer_doc(pair, producer_url="ftp://example.com"))
    assert r.status_code == 417 and "http" in r.json()["message"]
    doc = pair.c.insert(_producer_doc(pair, producer_url=pair.producer.url.upper().replace("HTTP", "http") + "/"))
    assert doc["name"] == pair.producer.url, "normalised: lower-case host, no trailing slash"


def test_least_privilege_subscriber_registers(pair) -> None:
    pair.c.insert(_producer_doc(pair))
    consumer = pair.p.get("Event Consumer", pair.consumer.url)
    assert consumer["user"] == SUBSCRIBER
    assert consumer["api_key"] == pair.consumer_keys["api_key"], "the consumer-side keys travel to the producer"
    assert consumer["api_secret"] != pair.consumer_keys["api_secret"]  # masked in every response


def test_rejection_is_mirrored_and_nothing_streams(pair) -> None:
    pair.subscribe([{"ref_doctype": "Customer", "use_same_name": 1}], approve=False)
    pair.approve("Customer", status="Rejected")
    pair.p.insert({"doctype": "Customer", "customer_name": "Rejected Ltd"})
    pair.pull()
    assert pair.c.get_list("Customer", filters={"name": "Rejected Ltd"}) == []
    row = pair.c.get("Event Producer", pair.producer.url)["producer_doctypes"][0]
    assert row["status"] == "Rejected"


def test_nothing_streams_before_approval(pair) -> None:
    pair.subscribe([{"ref_doctype": "Customer", "use_same_name": 1}], approve=False)
    pair.p.insert({"doctype": "Customer", "customer_name": "Early Bird"})
    pair.pull()
    assert pair.c.get_list("Customer", filters={"name": "Early Bird"}) == []
    assert pair.p.get_list("Event Update Log") == [], "no approved consumer: nothing is logged"


def test_delete_ends_the_subscription_and_registering_again_works(pair) -> None:
    pair.subscribe([{"ref_doctype": "Customer", "use_same_name": 1}])
    pair.p.insert({"doctype": "Customer", "customer_name": "Before Delete"})
    pair.pull()
    assert pair.sync_logs(), "sync logs point at the Event Producer and must not block its deletion"
    pair.c.delete("Event Producer", pair.producer.url)
    assert pair.p.get_list("Event Consumer") == []
    pair.p.insert({"doctype": "Customer", "customer_name": "While Away"})
    pair.subscribe([{"ref_doctype": "Customer", "use_same_name": 1}])
    pair.p.insert({"doctype": "Customer", "customer_name": "Back Again"})
    pair.pull()
    assert pair.c.get("Customer", "Back Again")
    assert pair.c.get_list("Customer", filters={"name": "While Away"}) == []


def test_an_event_producer_gone_for_good_is_forgotten_from_the_command_line(pair) -> None:
    """Deleting an Event Producer ends the subscription on the producer first, and is refused while
    it can't: for a producer that will never answer again, ``sync forget`` deletes it here alone."""
    pair.subscribe([{"ref_doctype": "Customer", "use_same_name": 1}])
    pair.p.insert({"doctype": "Customer", "customer_name": "Before The End"})
    pair.pull()
    pair.producer.stop()  # gone for good
    refused = pair.c.http.delete(f"/api/resource/Event Producer/{pair.producer.url}")
    assert refused.status_code == 417 and "sync forget" in refused.json()["message"], refused.text
    assert pair.c.get_list("Event Producer")
    asked = pair.consumer.cli("sync", "forget", pair.producer.url, check=False)  # no --yes, no answer: nothing done
    assert asked.returncode != 0 and pair.c.get_list("Event Producer")
    forgot = pair.consumer.cli("sync", "forget", pair.producer.url, "--yes")
    assert "deleted the Event Producer" in forgot.stdout
    assert pair.c.get_list("Event Producer") == []
    assert pair.c.call("docstream.streaming.status")["producers"] == []
    assert pair.c.get("Customer", "Before The End")  # what it received stays
    missing = pair.consumer.cli("sync", "forget", pair.producer.url, "--yes", check=False)
    assert missing.returncode == 1 and missing.stderr.startswith("Error:") and "no Event Producer" in missing.stderr


def test_feed_refuses_anyone_but_the_registered_consumer(pair) -> None:
    pair.subscribe([{"ref_doctype": "Customer", "use_same_name": 1}])
    stranger = pair.producer.add_user("stranger@example.com", roles=("Sales User",))
    r = stranger.http.post("/api/method/docstream.streaming.get_updates", json={"event_consumer": pair.consumer.url})
    assert r.status_code == 403, r.text
    anonymous = httpx.post(pair.producer.url + "/api/method/docstream.streaming.get_updates",
                           json={"event_consumer": pair.consumer.url})
    assert anonymous.status_code in (401, 403)


def test_a_subscriber_that_may_no_longer_read_a_doctype_gets_none_of_its_events(pair) -> None:
    """The approval is checked against the subscriber's roles once; a role taken away afterwards
    must stop the feed as it stops the subscriber's own reads. Its events wait — nothing is passed
    over — and flow again once the role is back; the events before them are served."""
    pair.subscribe([{"ref_doctype": "Customer", "use_same_name": 1}, {"ref_doctype": "Item", "use_same_name": 1}])
    pair.p.insert({"doctype": "Item", "item_code": "BEFORE"})
    user = pair.p.get("User", SUBSCRIBER)
    pair.p.update("User", SUBSCRIBER, {"roles": [r for r in user["roles"] if r["role"] != "Sales User"]})
    pair.p.insert({"doctype": "Customer", "customer_name": "Secret", "email_id": "secret@example.com"})
    pair.p.insert({"doctype": "Item", "item_code": "AFTER"})
    subscriber = Api(pair.producer.url, pair.producer_keys["api_key"], pair.producer_keys["api_secret"])
    try:
        assert subscriber.http.get("/api/resource/Customer/Secret").status_code == 403
        page = subscriber.call("docstream.streaming.get_updates", event_consumer=pair.consumer.url)
        refused = subscriber.http.post("/api/method/docstream.streaming.get_updates",
                                       json={"event_consumer": pair.consumer.url, "after": page["last_sequence"]})
    finally:
        subscriber.close()
    assert [e["docname"] for e in page["events"]] == ["BEFORE"], page  # the page ends before the Customer
    assert refused.status_code == 403 and "Customer" in refused.json()["message"], refused.text

    failed = pair.c.http.post("/api/method/docstream.streaming.pull", json={"event_producer": pair.producer.url})
    assert failed.status_code == 403, failed.text
    assert pair.c.get_list("Customer", filters={"name": "Secret"}) == []
    assert pair.c.get("Item", "BEFORE") and not pair.c.get_list("Item", filters={"name": "AFTER"})
    state = next(p for p in pair.c.call("docstream.streaming.status")["producers"] if p["producer_url"] == pair.producer.url)
    assert "no read permission on Customer" in (state["last_error"] or ""), state

    pair.p.update("User", SUBSCRIBER, {"roles": user["roles"]})
    pair.pull()
    assert pair.c.get("Customer", "Secret")["email_id"] == "secret@example.com"
    assert pair.c.get("Item", "AFTER")
def _subscription_on_producer(pair: Pair) -> list[tuple]:
    rows = pair.p.get("Event Consumer", pair.consumer.url)["consumer_doctypes"]
    return [(r["ref_doctype"], r["status"], r["unsubscribed"], r["condition"]) for r in rows]


def _still_streams(pair: Pair, customer: str) -> None:
    pair.p.insert({"doctype": "Customer", "customer_name": customer})
    pair.pull()
    assert pair.c.get("Customer", customer)


def test_a_refused_update_leaves_the_subscription_on_the_producer_as_it_was(pair) -> None:
    """The producer hears of a change only once it is valid here: a change refused by a local
    check (here a missing Mapping, checked with the links) never reaches it."""
    pair.subscribe([{"ref_doctype": "Customer", "use_same_name": 1}])
    before = _subscription_on_producer(pair)
    bad = {"producer_doctypes": [{"ref_doctype": "Customer", "use_same_name": 1, "unsubscribe": 1,
                                  "condition": "doc.customer_name == 'x'", "mapping": "no-such-mapping"}]}
    r = pair.c.http.put(f"/api/resource/Event Producer/{pair.producer.url}", json=bad)
    assert r.status_code == 417 and r.json()["exc_type"] == "LinkValidationError", r.text
    rows = pair.c.get("Event Producer", pair.producer.url)["producer_doctypes"]
    assert [(r["unsubscribe"], r["condition"], r["mapping"]) for r in rows] == [(0, None, None)]
    assert _subscription_on_producer(pair) == before == [("Customer", "Approved", 0, None)]
    _still_streams(pair, "After Refused Update")


def test_a_second_event_producer_for_the_same_producer_leaves_the_first_alone(pair) -> None:
    """The name is checked by the local write, before the producer is called: a duplicate neither
    re-registers other rows nor, rolled back, unregisters the subscription that exists."""
    pair.subscribe([{"ref_doctype": "Customer", "use_same_name": 1}])
    again = _producer_doc(pair, producer_doctypes=[{"ref_doctype": "Item", "use_same_name": 1}])
    r = pair.c.http.post("/api/resource/Event Producer", json=again)
    assert r.status_code == 409, r.text
    assert _subscription_on_producer(pair) == [("Customer", "Approved", 0, None)]
    _still_streams(pair, "After Duplicate")


def test_an_update_rolled_back_here_is_undone_on_the_producer(pair) -> None:
    """The producer is called at the end of the local write; should the local transaction then
    fail, the subscription stored here is registered there again."""
    from docstream.site import Site

    pair.subscribe([{"ref_doctype": "Customer", "use_same_name": 1}])
    site = Site.open("store.local", pair.consumer.sites_dir)
    try:
        session = site.session()
        with pytest.raises(KeyError):
            with site.db.transaction():
                session.update("Event Producer", pair.producer.url, {"producer_doctypes": [
                    {"ref_doctype": "Customer", "use_same_name": 1, "unsubscribe": 1, "condition": "doc.customer_name == 'x'"}]})
                assert _subscription_on_producer(pair) == [("Customer", "Approved", 1, "doc.customer_name == 'x'")]
                raise KeyError("the local commit fails")
    finally:
        site.close()
    assert _subscription_on_producer(pair) == [("Customer", "Approved", 0, None)]
    _still_streams(pair, "After Rolled Back Update")
