from __future__ import annotations


def test_registration_approval_and_create(pair) -> None:
    pair.subscribe([{"ref_doctype": "Customer", "use_same_name": 1}], approve=False)
    consumer = pair.p.get("Event Consumer", pair.consumer.url)
    assert [r["status"] for r in consumer["consumer_doctypes"]] == ["Pending"]
    pair.approve("Customer")
    pair.p.insert({"doctype": "Customer", "customer_name": "Acme"})
    counts = pair.pull()  # the notification may have had the worker apply it already
    assert counts["failed"] == 0, counts
    assert [log["status"] for log in pair.sync_logs(producer_doc="Acme")] == ["Synced"]
    assert pair.c.get("Customer", "Acme")["customer_name"] == "Acme"
    producer = pair.c.get("Event Producer", pair.producer.url)
    assert producer["producer_doctypes"][0]["status"] == "Approved"
