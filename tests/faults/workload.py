"""Random but seeded writes on a producer, through its HTTP API, the way its users make them.

A ``Workload`` owns the documents it creates (their names start with its prefix), so several can
run at once — on threads here, or in other processes (``python -m tests.faults.workload``) —
without stepping on each other. It creates, updates and deletes Customers, creates and reprices
Items, and creates Sales Invoices with child rows which it then changes (rows changed, added,
removed), submits and cancels; sometimes it inserts a batch in one transaction
(``frappe.client.insert_many``), and sometimes a batch that fails on its last document and so
rolls back whole. It records what the producer acknowledged (``acked``), what it refused
(``refused``: rolled back, must never be streamed) and what it could not know (``unknown``: the
producer died before answering).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

STREAMED = ("Customer", "Item", "Sales Invoice")
TERRITORIES = ("North", "South", "East", "West")


@dataclass
class Outcome:
    acked: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    unknown: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    writes: int = 0


class Workload:
    def __init__(self, http: httpx.Client, rng: random.Random, prefix: str, invoices: bool = True,
                 batch: int = 20) -> None:
        self.http, self.rng, self.prefix = http, rng, prefix
        self.invoices, self.batch = invoices, batch
        self.customers: list[str] = []
        self.linked: set[str] = set()
        self.items: list[str] = []
        self.drafts: list[str] = []
        self.submitted: list[str] = []
        self.counter = 0
        self.outcome = Outcome()

    # -- driving ---------------------------------------------------------------
    def run(self, steps: int) -> Outcome:
        for _ in range(steps):
            self.step()
        return self.outcome

    def step(self) -> None:
        choices: list[tuple[int, Any]] = [(4, self.new_customer), (1, self.new_item), (1, self.batch_insert),
                                          (1, self.failing_batch)]
        if self.customers:
            choices += [(4, self.update_customer), (1, self.delete_customer)]
        if self.items:
            choices.append((1, self.reprice_item))
        if self.invoices and self.customers and self.items:
            choices.append((2, self.new_invoice))
        if self.drafts:
            choices += [(2, self.change_invoice), (1, self.submit_invoice)]
        if self.submitted:
            choices.append((1, self.cancel_invoice))
        weights, actions = zip(*choices)
        self.rng.choices(actions, weights=weights)[0]()

    def _name(self, kind: str) -> str:
        self.counter += 1
        return f"{self.prefix}-{kind}-{self.counter:05d}"

    def _send(self, method: str, path: str, names: list[str], body: Any) -> bool | None:
        """True: acknowledged; False: refused (rolled back); None: no answer (unknown)."""
        try:
            r = self.http.request(method, path, json=body)
        except httpx.HTTPError:
            self.outcome.unknown.update(names)
            return None
        if r.status_code >= 500:
            self.outcome.unknown.update(names)
            return None
        if not 200 <= r.status_code < 300:
            self.outcome.refused.update(names)
            return False
        self.outcome.acked.update(names)
        self.outcome.writes += max(1, len(names))
        return True

    # -- the operations --------------------------------------------------------
    def new_customer(self) -> None:
        name = self._name("C")
        doc = {"doctype": "Customer", "customer_name": name, "territory": self.rng.choice(TERRITORIES)}
        if self._send("POST", "/api/resource/Customer", [name], doc):
            self.customers.append(name)

    def update_customer(self) -> None:
        name = self.rng.choice(self.customers)
        change = {"territory": self.rng.choice(TERRITORIES), "email_id": f"{self.rng.randrange(10**6)}@example.com"}
        self._send("PUT", f"/api/resource/Customer/{name}", [], change)

    def delete_customer(self) -> None:
        free = [c for c in self.customers if c not in self.linked]
        if not free:
            return
        name = self.rng.choice(free)
        if self._send("DELETE", f"/api/resource/Customer/{name}", [], None) is not False:
            self.customers.remove(name)  # gone, or perhaps gone: never touched again
            self.outcome.deleted.add(name)

    def new_item(self) -> None:
        name = self._name("I")
        doc = {"doctype": "Item", "item_code": name, "standard_rate": self.rng.randrange(1, 100)}
        if self._send("POST", "/api/resource/Item", [name], doc):
            self.items.append(name)

    def reprice_item(self) -> None:
        name = self.rng.choice(self.items)
        self._send("PUT", f"/api/resource/Item/{name}", [], {"standard_rate": self.rng.randrange(1, 100)})

    def batch_insert(self) -> None:
        names = [self._name("C") for _ in range(self.rng.randint(2, self.batch))]
        docs = [{"doctype": "Customer", "customer_name": n, "territory": self.rng.choice(TERRITORIES)} for n in names]
        if self._send("POST", "/api/method/frappe.client.insert_many", names, {"docs": docs}):
            self.customers.extend(names)

    def failing_batch(self) -> None:
        """A batch whose last document is invalid: the whole transaction rolls back."""
        names = [self._name("X") for _ in range(self.rng.randint(1, 5))]
        docs = [{"doctype": "Customer", "customer_name": n} for n in names] + [{"doctype": "Customer"}]
        assert self._send("POST", "/api/method/frappe.client.insert_many", names, {"docs": docs}) is not True

    def _rows(self) -> list[dict[str, Any]]:
        return [{"item_code": self.rng.choice(self.items), "qty": self.rng.randint(1, 5), "rate": self.rng.randint(1, 50)}
                for _ in range(self.rng.randint(1, 3))]

    def new_invoice(self) -> None:
        customer = self.rng.choice(self.customers)
        r = self._post_invoice({"doctype": "Sales Invoice", "customer": customer, "items": self._rows()})
        if r is not None:
            self.linked.add(customer)
            self.drafts.append(r)

    def _post_invoice(self, doc: dict[str, Any]) -> str | None:
        try:
            r = self.http.post("/api/resource/Sales Invoice", json=doc)
        except httpx.HTTPError:
            return None
        if r.status_code != 200:
            return None
        name = r.json()["data"]["name"]
        self.outcome.acked.add(name)
        self.outcome.writes += 1
        return name

    def change_invoice(self) -> None:
        name = self.rng.choice(self.drafts)
        try:
            r = self.http.get(f"/api/resource/Sales Invoice/{name}")
        except httpx.HTTPError:
            return
        if r.status_code != 200:
            return
        rows = r.json()["data"]["items"]
        if rows and self.rng.random() < 0.5:
            rows[0]["qty"] = self.rng.randint(1, 9)
        if len(rows) > 1 and self.rng.random() < 0.5:
            rows.pop()
        if self.rng.random() < 0.5:
            rows += self._rows()[:1]
        self._send("PUT", f"/api/resource/Sales Invoice/{name}", [], {"items": rows, "remarks": f"v{self.counter}"})

    def submit_invoice(self) -> None:
        name = self.drafts.pop(self.rng.randrange(len(self.drafts)))
        if self._send("POST", "/api/method/docstream.submit", [], {"doctype": "Sales Invoice", "name": name}):
            self.submitted.append(name)

    def cancel_invoice(self) -> None:
        name = self.submitted.pop(self.rng.randrange(len(self.submitted)))
        self._send("POST", "/api/method/docstream.cancel", [], {"doctype": "Sales Invoice", "name": name})


@contextmanager
def client(url: str, keys: dict[str, str]) -> Iterator[httpx.Client]:
    """An API client authenticated by a user's API key and secret."""
    auth = {"Authorization": f"token {keys['api_key']}:{keys['api_secret']}"}
    with httpx.Client(base_url=url, headers=auth, timeout=60) as http:
        yield http


def main(argv: list[str] | None = None) -> int:
    """A writer in its own process: prints its Outcome as JSON when done."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--api-secret", required=True)
    args = parser.parse_args(argv)
    with client(args.url, {"api_key": args.api_key, "api_secret": args.api_secret}) as http:
        outcome = Workload(http, random.Random(args.seed), args.prefix).run(args.steps)
    json.dump({"acked": sorted(outcome.acked), "refused": sorted(outcome.refused), "unknown": sorted(outcome.unknown),
               "deleted": sorted(outcome.deleted), "writes": outcome.writes}, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["STREAMED", "Outcome", "Workload", "client", "main"]
