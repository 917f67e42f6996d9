"""Two real sites streaming to each other: a producer (hq) and a consumer (store)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.servers import Api, SiteServer

SUBSCRIBER = "sync@example.com"
SUBSCRIBER_ROLES = "Sales User,Item Manager,Accounts User,Accounts Manager,Purchase User"


def add_subscriber(server: SiteServer, roles: str = SUBSCRIBER_ROLES) -> dict[str, str]:
    server.cli("user", "add", SUBSCRIBER, "--password", "sync-pass-1", "--roles", roles)
    return server.keys(SUBSCRIBER)


def wait_for(check: Callable[[], Any], timeout: float = 20, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Pair:
    """A producer and a consumer site, both served, with the Event Subscriber on each."""

    def __init__(self, producer: SiteServer, consumer: SiteServer) -> None:
        self.producer, self.consumer = producer, consumer
        self.producer_keys = add_subscriber(producer)
        self.consumer_keys = add_subscriber(consumer)
        self.p = producer.admin()
        self.c = consumer.admin()

    def subscribe(self, rows: list[dict[str, Any]], approve: bool = True) -> dict[str, Any]:
        doc = self.c.insert({
            "doctype": "Event Producer", "producer_url": self.producer.url, "user": SUBSCRIBER,
            "api_key": self.producer_keys["api_key"], "api_secret": self.producer_keys["api_secret"],
            "producer_doctypes": rows,
        })
        if approve:
            self.approve(*[r["ref_doctype"] for r in rows])
        return doc

    def approve(self, *doctypes: str, status: str = "Approved") -> None:
        consumer = self.p.get("Event Consumer", self.consumer.url)
        for row in consumer["consumer_doctypes"]:
            if row["ref_doctype"] in doctypes:
                row["status"] = status
        self.p.update("Event Consumer", self.consumer.url, {"consumer_doctypes": consumer["consumer_doctypes"]})

    def pull(self) -> dict[str, int]:
        return self.c.call("docstream.streaming.pull", event_producer=self.producer.url)

    def sync_logs(self, **filters: Any) -> list[dict[str, Any]]:
        return self.c.get_list("Event Sync Log", fields=["*"], filters=filters, order_by="sequence asc")


@pytest.fixture
def pair(serve) -> Pair:
    producer = serve("hq.local")
    consumer = serve("store.local")
    return Pair(producer, consumer)


STANDARD_ROWS = [
    {"ref_doctype": "Customer", "use_same_name": 1},
    {"ref_doctype": "Item", "use_same_name": 1},
    {"ref_doctype": "Supplier", "use_same_name": 1},
    {"ref_doctype": "Sales Invoice", "use_same_name": 0},
    {"ref_doctype": "Note", "use_same_name": 1, "condition": "doc.public == 1"},
    {"ref_doctype": "ToDo", "use_same_name": 1},
]


@pytest.fixture(scope="module")
def streaming(serve_module) -> Pair:
    """One producer/consumer pair for a whole module, subscribed to the standard doctypes."""
    pair = Pair(serve_module("hq.local"), serve_module("store.local"))
    pair.subscribe(STANDARD_ROWS)
    return pair


__all__ = ["Api", "Pair", "SUBSCRIBER", "add_subscriber", "wait_for"]
