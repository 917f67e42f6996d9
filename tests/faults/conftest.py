"""Fault-injection fixtures: real served sites, a misbehaving proxy between them, seeded randomness.

Sizes are small enough for CI (the whole fault suite in about four minutes on two cores);
``DOCSTREAM_SOAK=1`` multiplies them (by ``DOCSTREAM_SOAK_FACTOR``, default 10) for a long run
by hand. Every random choice comes from a seeded ``random.Random``: the seed is printed with
each test (shown when it fails) and ``DOCSTREAM_FAULT_SEED=N`` replays a run.
"""

from __future__ import annotations

import os
import random
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.convergence import assert_applied_once, assert_converged
from tests.faults.proxy import FaultProxy
from tests.support.servers import Api, SiteServer, free_port

SUBSCRIBER = "sync@example.com"
SUBSCRIBER_ROLES = ("Sales User", "Item Manager", "Accounts User", "Accounts Manager", "Purchase User")
POLL_SECONDS = 1
FAST = {"poll_interval": POLL_SECONDS, "request_timeout": 5, "retry_max_delay": 2, "pull_page_size": 20}

SOAK = os.environ.get("DOCSTREAM_SOAK", "") not in ("", "0")
FACTOR = int(os.environ.get("DOCSTREAM_SOAK_FACTOR", "10")) if SOAK else 1
BASE_SEED = int(os.environ.get("DOCSTREAM_FAULT_SEED") or random.SystemRandom().randrange(2**31))


def scale(n: int) -> int:
    """A size for this run: as given in CI, multiplied in a soak run."""
    return n * FACTOR


def wait_for(check: Callable[[], Any], timeout: float = 30, what: str = "condition", every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout * (FACTOR if SOAK else 1)
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def pytest_report_header() -> str:
    soak = f"soak x{FACTOR}" if SOAK else "CI sizes (DOCSTREAM_SOAK=1 for a soak run)"
    return f"fault suite: DOCSTREAM_FAULT_SEED={BASE_SEED}, {soak}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A soak run is longer by design: stretch each fault test's timeout with its sizes."""
    if SOAK:
        for item in items:
            if "tests/faults/" in item.nodeid.replace("\\", "/"):
                item.add_marker(pytest.mark.timeout(300 * FACTOR))


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """This test's random source; its seed follows from DOCSTREAM_FAULT_SEED and the test's id."""
    seed = zlib.crc32(f"{BASE_SEED}:{request.node.nodeid}".encode())
    print(f"fault seed: test seed {seed} from DOCSTREAM_FAULT_SEED={BASE_SEED} (set it to replay)")
    return random.Random(seed)


# -- sites ---------------------------------------------------------------------------
@dataclass
class Node:
    """A site served by a real ``docstream serve`` process, with the Event Subscriber and its keys."""

    server: SiteServer
    keys: dict[str, str]
    admin_keys: dict[str, str]
    db_url: str
    public_url: str = ""  # what other sites call it (host_name): the server itself, or a proxy in front
    api: Api = field(init=False)
    _db: Any = None

    def __post_init__(self) -> None:
        # Administrator by API keys: a password login costs a slow hash check at every restart
        self.api = Api(self.server.url, self.admin_keys["api_key"], self.admin_keys["api_secret"])
        self.public_url = self.public_url or self.server.url

    @property
    def url(self) -> str:
        return self.server.url

    def subscriber(self) -> Api:
        return Api(self.url, self.keys["api_key"], self.keys["api_secret"])

    def admin_client(self) -> Any:
        """A fresh httpx client as Administrator (a context manager), for writers on other threads."""
        from tests.faults.workload import client

        return client(self.url, self.admin_keys)

    def start(self) -> None:
        self.server.start()

    def restart(self) -> None:
        self.server.stop()
        self.start()

    def kill(self) -> None:
        self.server.kill()

    def db(self) -> Any:
        """The site's database, opened in this process (for time travel and inspection only)."""
        if self._db is None:
            from docstream.storage import open_database

            self._db = open_database(self.db_url)
        return self._db

    def close(self) -> None:
        self.api.http.close()
        if self._db is not None:
            self._db.close()
        self.server.stop()


class Sites:
    """Creates sites in this process (fast), then serves each with its own process."""

    def __init__(self, sites_dir: Path) -> None:
        self.sites_dir = sites_dir
        self.nodes: list[Node] = []

    def make(self, name: str, db_url: str | None = None, settings: dict[str, Any] | None = None,
             worker: bool = True, roles: tuple[str, ...] = SUBSCRIBER_ROLES, port: int | None = None,
             public_url: str | None = None) -> Node:
        """``public_url``: the address other sites are told (host_name), e.g. a proxy in front of this one."""
        from docstream.auth.users import add_user, generate_keys
        from docstream.site import Site

        port = port or free_port()
        site = Site.create(name, "admin", self.sites_dir, db_url=db_url, url=public_url or f"http://127.0.0.1:{port}")
        try:
            add_user(site.session(), SUBSCRIBER, None, list(roles))
            keys = generate_keys(site.session(), SUBSCRIBER)
            admin_keys = generate_keys(site.session(), "Administrator")
            for key, value in {**FAST, **(settings or {})}.items():
                site.set_config(key, value)
            url = site.config["db_url"]
        finally:
            site.close()
        server = SiteServer(name, self.sites_dir, port, extra_args=[] if worker else ["--no-worker"])
        node = Node(server, keys, admin_keys, url, public_url or "")
        self.nodes.append(node)
        return node

    def start(self, *nodes: Node) -> None:
        with ThreadPoolExecutor(len(nodes)) as pool:
            list(pool.map(lambda n: n.start(), nodes))

    def close(self) -> None:
        if self.nodes:
            with ThreadPoolExecutor(len(self.nodes)) as pool:
                list(pool.map(lambda n: n.close(), self.nodes))


@pytest.fixture
def sites(sites_dir: Path) -> Iterator[Sites]:
    made = Sites(sites_dir)
    yield made
    made.close()


@pytest.fixture(scope="module")
def module_sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    made = Sites(tmp_path_factory.mktemp("sites"))
    yield made
    made.close()


# -- a producer and a consumer -------------------------------------------------------
class FaultPair:
    """A producer and a consumer; with ``proxied`` the consumer reaches the producer through a
    FaultProxy (its Event Producer is named by the proxy's URL; the producer still notifies the
    consumer directly, which the consumer ignores for an unknown name, so it relies on polling)."""

    def __init__(self, producer: Node, consumer: Node, proxy: FaultProxy | None = None) -> None:
        self.producer, self.consumer, self.proxy = producer, consumer, proxy
        self.doctypes: list[str] = []
        self.renamed: set[str] = set()

    @property
    def p(self) -> Api:
        return self.producer.api

    @property
    def c(self) -> Api:
        return self.consumer.api

    @property
    def producer_url(self) -> str:
        """The producer as the consumer knows it (the proxy, when there is one)."""
        return self.proxy.url if self.proxy else self.producer.url

    def subscribe(self, rows: list[dict[str, Any]], approve: bool = True, poll_interval: int = POLL_SECONDS) -> dict[str, Any]:
        doc = self.c.insert({
            "doctype": "Event Producer", "producer_url": self.producer_url, "user": SUBSCRIBER,
            "api_key": self.producer.keys["api_key"], "api_secret": self.producer.keys["api_secret"],
            "producer_doctypes": rows, "poll_interval": poll_interval,
        })
        self.doctypes = [r["ref_doctype"] for r in rows]
        self.renamed = {r["ref_doctype"] for r in rows if not r.get("use_same_name")}
        if approve:
            self.approve(*self.doctypes)
        return doc

    def approve(self, *doctypes: str, status: str = "Approved") -> None:
        consumer = self.p.get("Event Consumer", self.consumer.public_url)
        for row in consumer["consumer_doctypes"]:
            if row["ref_doctype"] in doctypes:
                row["status"] = status
        self.p.update("Event Consumer", self.consumer.public_url, {"consumer_doctypes": consumer["consumer_doctypes"]})

    def pull_response(self) -> httpx.Response:
        return self.c.http.post("/api/method/docstream.streaming.pull", json={"event_producer": self.producer_url})

    def pull(self) -> dict[str, int]:
        r = self.pull_response()
        assert r.status_code == 200, r.text
        return r.json()["message"]

    def state(self) -> dict[str, Any]:
        """The consumer's view of this producer: cursor, behind, failed, held, last error, next attempt."""
        producers = self.c.call("docstream.streaming.status")["producers"]
        return next((p for p in producers if p["producer_url"] == self.producer_url), {})

    def head(self) -> int:
        """The producer's newest sequence."""
        consumers = self.p.call("docstream.streaming.status")["consumers"]
        return max((int(c["head"]) for c in consumers), default=0)

    def caught_up(self) -> bool:
        try:
            return int(self.state().get("cursor", -1)) >= self.head()
        except (httpx.HTTPError, AssertionError):
            return False

    def wait_caught_up(self, timeout: float = 60) -> None:
        wait_for(self.caught_up, timeout, f"the consumer to reach the producer's head ({self.head()})", every=0.25)

    def sync_logs(self, **filters: Any) -> list[dict[str, Any]]:
        return self.c.get_list("Event Sync Log", fields=["*"], filters={"event_producer": self.producer_url, **filters},
                               order_by="sequence asc")

    def assert_converged(self, doctypes: list[str] | None = None, since: int = 0,
                         allowed: frozenset[str] = frozenset({"Synced"})) -> None:
        """Every document of the streamed doctypes equal on both sites, and each event applied once
        (``since``: only events after this sequence, when the producer has pruned older ones;
        ``allowed``: the statuses an event's Sync Log may have)."""
        assert self.caught_up(), f"the consumer is at {self.state().get('cursor')}, the producer at {self.head()}"
        assert_converged(self.p, self.c, doctypes or self.doctypes, renamed=self.renamed)
        assert_applied_once(self.p, self.c, self.producer_url, self.consumer.public_url, doctypes or self.doctypes, since,
                            allowed)


def make_pair(sites: Sites, tag: str, proxied: bool = False, producer_db: str | None = None,
              consumer_db: str | None = None, producer: dict[str, Any] | None = None,
              consumer: dict[str, Any] | None = None, consumer_worker: bool = True,
              seed: int = 0) -> FaultPair:
    with ThreadPoolExecutor(2) as pool:  # creating a site is mostly hashing the admin password: in parallel
        made_p = pool.submit(sites.make, f"hq-{tag}.local", db_url=producer_db, settings=producer)
        made_c = pool.submit(sites.make, f"store-{tag}.local", db_url=consumer_db, settings=consumer,
                             worker=consumer_worker)
        p, c = made_p.result(), made_c.result()
    sites.start(p, c)
    proxy = FaultProxy(p.server.port, seed=seed).start() if proxied else None
    pair = FaultPair(p, c, proxy)
    if proxy is not None:
        _stop_with(sites, proxy)
    return pair


def _stop_with(sites: Sites, proxy: FaultProxy) -> None:
    original = sites.close

    def close() -> None:
        proxy.stop()
        original()

    sites.close = close  # type: ignore[method-assign]


__all__ = ["BASE_SEED", "FACTOR", "FaultPair", "Node", "SOAK", "SUBSCRIBER", "Sites", "make_pair", "scale", "wait_for"]
