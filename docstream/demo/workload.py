"""The demo's business: master data at the head office, invoices at every store, all through the HTTP API.

Everything is drawn from a seeded random generator, so two runs do the same work. Each invoice
gets a fate: submitted at once, edited then submitted, submitted then cancelled, edited and left
as a draft, or left as a draft; edits and cancellations happen a few invoices later, so the
stream interleaves creates and updates of different documents. While the stores sell, the head
office changes prices and territories, adds items and drops suppliers nobody uses.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from docstream.demo.client import Client

INVOICES_PER_STORE = 150
FOLLOW_UP_DISTANCE = 8
FATES = (("submit", 45), ("edit+submit", 20), ("submit+cancel", 12), ("edit", 13), ("draft", 10))

_PRODUCTS = {
    "Beverages": [("ESPRESSO-1KG", "Espresso Beans 1 kg", 18.5), ("GREEN-TEA-100", "Green Tea, 100 bags", 6.2),
                  ("COLA-24", "Cola, case of 24", 14.0), ("SPRING-WATER-6", "Spring Water 6 x 1.5 l", 3.9),
                  ("OAT-MILK-1L", "Oat Milk 1 l", 2.4), ("ORANGE-JUICE-1L", "Orange Juice 1 l", 2.9)],
    "Bakery": [("SOURDOUGH", "Sourdough Loaf", 4.5), ("CROISSANT-6", "Butter Croissants x6", 5.1),
               ("BAGEL-4", "Sesame Bagels x4", 3.2), ("RYE-BREAD", "Dark Rye Bread", 3.8)],
    "Dairy": [("CHEDDAR-400", "Mature Cheddar 400 g", 5.6), ("YOGURT-500", "Greek Yogurt 500 g", 2.7),
              ("BUTTER-250", "Salted Butter 250 g", 2.3), ("EGGS-12", "Free-range Eggs x12", 3.6)],
    "Produce": [("APPLE-1KG", "Apples 1 kg", 2.8), ("BANANA-1KG", "Bananas 1 kg", 1.9), ("AVOCADO-2", "Avocados x2", 2.5),
                ("TOMATO-500", "Vine Tomatoes 500 g", 2.2), ("SPINACH-200", "Baby Spinach 200 g", 1.8)],
    "Household": [("DISH-SOAP", "Dish Soap 750 ml", 2.6), ("PAPER-TOWEL-4", "Paper Towels x4", 4.9),
                  ("LAUNDRY-2L", "Laundry Liquid 2 l", 9.5), ("BIN-BAGS-20", "Bin Bags x20", 3.3),
                  ("SPONGES-5", "Kitchen Sponges x5", 2.1)],
}
_LATE_PRODUCTS = [("Beverages", "COLD-BREW-1L", "Cold Brew Coffee 1 l", 4.8),
                  ("Bakery", "CINNAMON-ROLL-4", "Cinnamon Rolls x4", 5.9),
                  ("Produce", "BLUEBERRY-250", "Blueberries 250 g", 3.4)]
_FIRST = ["Harbour", "Maple", "Granite", "Willow", "Copper", "Lantern", "Meadow", "Summit", "Riverside", "Oakridge",
          "Bluebell", "Cedar", "Northgate", "Foxglove", "Silverline", "Kestrel"]
_KIND = ["Café", "Bistro", "Deli", "Kitchen", "Catering", "Hotel", "Bakery", "Canteen"]
_TERRITORIES = ["North", "South", "East", "West", "Central"]
_GROUPS = ["Commercial", "Hospitality", "Institutional"]
_SUPPLIERS = [("Fresh Fields Farm", "Produce"), ("Baltic Roasters", "Beverages"), ("Dairy Co-op North", "Dairy"),
              ("Stonemill Bakers", "Bakery"), ("CleanHome Wholesale", "Household"), ("Orchard Growers", "Produce"),
              ("Alpine Springs", "Beverages"), ("Packwell Supplies", "Household"), ("Old Quarry Cheese", "Dairy"),
              ("Northern Logistics", "Services")]
_STORE_PLACES = ["Harbourside", "Old Town", "Riverside", "Market Square", "Station Road", "Hilltop", "Parkview", "Docklands"]
SUPPLIERS_TO_DROP = 2


@dataclass
class MasterData:
    """What the head office creates before the stores sell."""

    items: list[dict[str, Any]]
    customers: list[dict[str, Any]]
    suppliers: list[dict[str, Any]]

    @property
    def documents(self) -> list[dict[str, Any]]:
        return [*self.suppliers, *self.items, *self.customers]


def master_data(seed: int = 7) -> MasterData:
    rng = random.Random(seed)
    items = [{"doctype": "Item", "item_code": code, "item_name": name, "item_group": group, "stock_uom": "Nos",
              "standard_rate": rate} for group, products in _PRODUCTS.items() for code, name, rate in products]
    names = rng.sample([f"{a} {k}" for a in _FIRST for k in _KIND], 30)
    customers = [{"doctype": "Customer", "customer_name": n, "customer_group": rng.choice(_GROUPS),
                  "territory": rng.choice(_TERRITORIES),
                  "email_id": "orders@" + n.lower().replace(" ", "-").replace("é", "e") + ".example"} for n in names]
    suppliers = [{"doctype": "Supplier", "supplier_name": n, "supplier_group": g} for n, g in _SUPPLIERS]
    return MasterData(items, customers, suppliers)


def store_company(index: int) -> dict[str, Any]:
    """Store ``index`` (from 1) is its own company, as in the seed's example of child companies."""
    place = _STORE_PLACES[index - 1] if index <= len(_STORE_PLACES) else f"Branch {index}"
    abbr = "".join(word[0] for word in place.split()) + str(index)
    return {"doctype": "Company", "company_name": f"{place} Store Ltd", "abbr": abbr, "default_currency": "EUR"}


@dataclass
class Counter:
    """Operations done out of the total planned; read by the progress display from another thread."""

    total: int
    done: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def tick(self) -> None:
        with self.lock:
            self.done += 1


def create_masters(hq: Client, data: MasterData, counter: Counter, stop: threading.Event) -> None:
    for doc in data.documents:
        if stop.is_set():
            return
        hq.insert(doc)
        counter.tick()


def master_changes(data: MasterData, seed: int = 11) -> list[tuple[str, Callable[[Client], Any]]]:
    """Head-office edits made while the stores sell: prices, territories, new items, unused suppliers dropped."""
    rng = random.Random(seed)
    changes: list[tuple[str, Callable[[Client], Any]]] = []
    for item in rng.sample(data.items, 8):
        rate = round(item["standard_rate"] * rng.choice([0.9, 1.05, 1.1, 1.2]), 2)
        changes.append(("price", lambda api, code=item["item_code"], r=rate: api.update("Item", code, {"standard_rate": r})))
    for customer in rng.sample(data.customers, 5):
        territory = rng.choice(_TERRITORIES)
        changes.append(("territory", lambda api, n=customer["customer_name"], t=territory:
                        api.update("Customer", n, {"territory": t})))
    for group, code, name, rate in _LATE_PRODUCTS:
        changes.append(("new item", lambda api, d={"doctype": "Item", "item_code": code, "item_name": name,
                                                   "item_group": group, "standard_rate": rate}: api.insert(d)))
    for name, _group in _SUPPLIERS[-SUPPLIERS_TO_DROP:]:
        changes.append(("drop supplier", lambda api, n=name: api.delete("Supplier", n)))
    rng.shuffle(changes)
    return changes


def run_master_changes(hq: Client, changes: list[tuple[str, Callable[[Client], Any]]], counter: Counter,
                       stop: threading.Event, pause: float) -> None:
    for _kind, change in changes:
        if stop.wait(pause):
            return
        change(hq)
        counter.tick()


@dataclass
class InvoicePlan:
    """One store's invoices: what each contains and what becomes of it."""

    company: dict[str, Any]
    invoices: list[dict[str, Any]]
    fates: list[str]

    @property
    def operations(self) -> int:
        """HTTP writes the plan makes: the company, one per invoice, one per edit/submit/cancel after it."""
        later = {"submit": 0, "edit+submit": 2, "submit+cancel": 1, "edit": 1, "draft": 0}
        return 1 + len(self.invoices) + sum(later[f] for f in self.fates)


def invoice_plan(index: int, data: MasterData, count: int = INVOICES_PER_STORE) -> InvoicePlan:
    rng = random.Random(1000 + index)
    company = store_company(index)
    fates = rng.choices([f for f, _ in FATES], weights=[w for _, w in FATES], k=count)
    invoices = []
    for n in range(count):
        items = rng.sample(data.items, rng.randint(1, 4))
        invoices.append({
            "doctype": "Sales Invoice", "customer": rng.choice(data.customers)["customer_name"],
            "company": company["company_name"], "remarks": f"till {rng.randint(1, 3)}, receipt {n + 1}",
            "items": [{"item_code": i["item_code"], "qty": rng.randint(1, 12), "rate": i["standard_rate"]} for i in items],
        })
    return InvoicePlan(company, invoices, fates)


def run_invoices(store: Client, plan: InvoicePlan, counter: Counter, stop: threading.Event) -> None:
    """Create the plan's invoices; each one's edits, submission or cancellation come a few invoices later."""
    store.insert(plan.company)
    counter.tick()
    pending: deque[tuple[dict[str, Any], str]] = deque()
    for invoice, fate in zip(plan.invoices, plan.fates):
        if stop.is_set():
            return
        doc = store.insert({**invoice, "docstatus": 1} if fate in ("submit", "submit+cancel") else invoice)
        counter.tick()
        pending.append((doc, fate))
        if len(pending) > FOLLOW_UP_DISTANCE:
            _follow_up(store, *pending.popleft(), counter)
    while pending and not stop.is_set():
        _follow_up(store, *pending.popleft(), counter)


def _follow_up(store: Client, doc: dict[str, Any], fate: str, counter: Counter) -> None:
    if fate in ("edit", "edit+submit"):
        rows = [{**row, "qty": row["qty"] + 1} for row in doc["items"]]
        store.update("Sales Invoice", doc["name"], {"items": rows, "remarks": (doc.get("remarks") or "") + ", corrected"})
        counter.tick()
    if fate == "edit+submit":
        store.call("docstream.submit", doctype="Sales Invoice", name=doc["name"])
        counter.tick()
    if fate == "submit+cancel":
        store.call("docstream.cancel", doctype="Sales Invoice", name=doc["name"])
        counter.tick()
