"""Building the demo's sites: a head office and N stores, served, subscribed and approved.

The sites are created and given their users in this process (the same services as
``docstream new-site`` and ``docstream user …``), then each is served by its own
``docstream serve`` process, and everything after that goes through the HTTP API, as the user
guide does it in the web UI: the consumer inserts an Event Producer, the producer approves the
Event Consumer that appeared.

    store-N  ── subscribes to ──▶  hq : Item, Customer, Supplier   (use same name on)
    hq       ── subscribes to ──▶  store-N : Sales Invoice           (use same name off)
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docstream.auth.users import add_user, generate_keys
from docstream.demo.client import Client
from docstream.demo.processes import ServedSite, free_port
from docstream.site import Site

SUBSCRIBER = "sync@example.com"
# no System Manager: the Event Subscriber gets only what it reads and writes on either side
SUBSCRIBER_ROLES = ["Item Manager", "Sales User", "Purchase User", "Accounts Manager"]
MASTER_DOCTYPES = ("Item", "Customer", "Supplier")
INVOICE_DOCTYPE = "Sales Invoice"
Step = Callable[[str], None]


@dataclass(eq=False)  # one object per site: hashed by identity
class DemoSite:
    """A demo site: its server, its Administrator password and its Event Subscriber's keys."""

    name: str
    served: ServedSite
    admin_password: str
    subscriber_keys: dict[str, str] = field(default_factory=dict)
    _admin: Client | None = None

    @property
    def url(self) -> str:
        return self.served.url

    def admin(self) -> Client:
        """A client logged in as Administrator (made once, reused)."""
        if self._admin is None:
            self._admin = Client(self.url).login("Administrator", self.admin_password)
        return self._admin

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None


@dataclass
class Cluster:
    """The head office and its stores, with where each streams from."""

    root: Path
    hq: DemoSite
    stores: list[DemoSite]

    @property
    def sites(self) -> list[DemoSite]:
        return [self.hq, *self.stores]

    def producers_of(self, site: DemoSite) -> list[DemoSite]:
        """The sites ``site`` subscribes to."""
        return self.stores if site is self.hq else [self.hq]

    def stop(self) -> None:
        for site in self.sites:
            site.close()
        for site in self.sites:
            site.served.stop()


def create_sites(root: Path, stores: int, step: Step) -> Cluster:
    """Create the head office and ``stores`` stores in ``root``, each with its Event Subscriber."""
    names = ["hq"] + [f"store-{i}" for i in range(1, stores + 1)]
    sites = []
    for name in names:
        step(f"creating site {name}")
        sites.append(_create_site(root, name))
    return Cluster(root, sites[0], sites[1:])


def _create_site(root: Path, name: str) -> DemoSite:
    served = ServedSite(name, root, free_port())
    password = secrets.token_urlsafe(9)
    site = Site.create(name, password, root, url=served.url)
    try:
        add_user(site.session(), SUBSCRIBER, secrets.token_urlsafe(12), SUBSCRIBER_ROLES, "Sync")
        keys = generate_keys(site.session(), SUBSCRIBER)
    finally:
        site.close()
    return DemoSite(name, served, password, keys)


def serve_all(cluster: Cluster, step: Step) -> None:
    """Start every site's ``docstream serve`` process, then wait until each answers."""
    step("starting " + ", ".join(s.name for s in cluster.sites))
    for site in cluster.sites:
        site.served.start()
    for site in cluster.sites:
        site.served.wait_ready()


def subscribe_all(cluster: Cluster, step: Step) -> None:
    """The seed's example: stores take the masters from hq, hq takes the invoices of every store."""
    master_rows = [{"ref_doctype": d, "use_same_name": 1} for d in MASTER_DOCTYPES]
    for store in cluster.stores:
        step(f"{store.name} subscribes to {', '.join(MASTER_DOCTYPES)} of hq")
        subscribe(consumer=store, producer=cluster.hq, rows=master_rows)
    for store in cluster.stores:
        step(f"hq subscribes to {INVOICE_DOCTYPE} of {store.name}")
        subscribe(consumer=cluster.hq, producer=store, rows=[{"ref_doctype": INVOICE_DOCTYPE, "use_same_name": 0}])


def subscribe(consumer: DemoSite, producer: DemoSite, rows: list[dict[str, Any]]) -> None:
    """Insert the Event Producer on the consumer, then approve every row on the producer."""
    consumer.admin().insert({
        "doctype": "Event Producer", "producer_url": producer.url, "user": SUBSCRIBER,
        "api_key": producer.subscriber_keys["api_key"], "api_secret": producer.subscriber_keys["api_secret"],
        "producer_doctypes": rows,
    })
    approve(producer, consumer.url)


def approve(producer: DemoSite, consumer_url: str) -> None:
    api = producer.admin()
    consumer = api.get("Event Consumer", consumer_url)
    rows = [{**row, "status": "Approved"} for row in consumer["consumer_doctypes"]]
    api.update("Event Consumer", consumer_url, {"consumer_doctypes": rows})
