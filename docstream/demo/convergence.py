"""Did every site end up with the same documents? Compared through the HTTP API, field by field.

- Items, Customers and Suppliers (use same name on): the head office's against each store's, by name.
- Sales Invoices (use same name off): each store's against the head office's copy found by
  ``remote_docname`` + ``remote_site_name``, comparing customer, company, items (item_code, qty,
  rate, in order), grand_total and docstatus.
- An event that failed or is held anywhere is a difference too: it has not been applied.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from docstream.demo.client import Client
from docstream.demo.setup import INVOICE_DOCTYPE, MASTER_DOCTYPES, Cluster

BOOKKEEPING = frozenset({"owner", "creation", "modified", "modified_by", "remote_docname", "remote_site_name"})
INVOICE_FIELDS = ("customer", "company", "grand_total", "docstatus")
ITEM_FIELDS = ("item_code", "qty", "rate")
Copies = dict[tuple[str, str], list[dict[str, Any]]]


@dataclass
class Verdict:
    compared: dict[str, int] = field(default_factory=dict)  # documents of each DocType checked (once per copy)
    differences: list[str] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        return not self.differences


def check(cluster: Cluster) -> Verdict:
    verdict = Verdict()
    hq = cluster.hq.admin()
    for doctype in MASTER_DOCTYPES:
        wanted = _by_name(hq.get_list(doctype, fields=["*"]))
        for store in cluster.stores:
            found = _by_name(store.admin().get_list(doctype, fields=["*"]))
            verdict.differences += compare_masters(doctype, store.name, wanted, found)
        verdict.compared[doctype] = len(wanted) * len(cluster.stores)
    copies = copies_by_origin(_invoices(hq, extra=["remote_docname", "remote_site_name"]).values())
    verdict.compared[INVOICE_DOCTYPE] = 0
    for store in cluster.stores:
        originals = _invoices(store.admin())
        verdict.differences += compare_invoices(store.name, store.url, originals, copies)
        verdict.compared[INVOICE_DOCTYPE] += len(originals)
    verdict.differences += _unapplied_events(cluster)
    return verdict


def _by_name(docs: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["name"]: {k: v for k, v in d.items() if k not in BOOKKEEPING} for d in docs}


def compare_masters(doctype: str, store: str, wanted: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """Differences between hq's documents (``wanted``) and a store's (``found``), both keyed by name."""
    out = [f"{doctype} {name}: at hq, missing at {store}" for name in sorted(set(wanted) - set(found))]
    out += [f"{doctype} {name}: at {store}, not at hq" for name in sorted(set(found) - set(wanted))]
    for name in sorted(set(wanted) & set(found)):
        for key in sorted(set(wanted[name]) | set(found[name])):
            if wanted[name].get(key) != found[name].get(key):
                out.append(f"{doctype} {name}: {key} is {wanted[name].get(key)!r} at hq, "
                           f"{found[name].get(key)!r} at {store}")
    return out


def _invoices(api: Client, extra: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Every Sales Invoice with its item rows, in two requests."""
    docs = {d["name"]: {**d, "items": []} for d in api.get_list(INVOICE_DOCTYPE, fields=["name", *INVOICE_FIELDS, *(extra or [])])}
    rows = api.get_list("Sales Invoice Item", fields=["parent", "idx", *ITEM_FIELDS], parent=INVOICE_DOCTYPE,
                        order_by="idx asc")
    for row in rows:
        if row["parent"] in docs:
            docs[row["parent"]]["items"].append(tuple(row[k] for k in ITEM_FIELDS))
    return docs


def copies_by_origin(hq_invoices: Iterable[dict[str, Any]]) -> Copies:
    """hq's invoices grouped by where they came from: (remote_site_name, remote_docname)."""
    copies: Copies = defaultdict(list)
    for invoice in hq_invoices:
        copies[(invoice.get("remote_site_name") or "", invoice.get("remote_docname") or "")].append(invoice)
    return copies


def compare_invoices(store: str, store_url: str, originals: dict[str, Any], copies: Copies) -> list[str]:
    """Differences between a store's invoices and their copies at hq: exactly one copy each, equal."""
    out = []
    for name, original in sorted(originals.items()):
        found = copies.get((store_url, name), [])
        if len(found) != 1:
            out.append(f"{INVOICE_DOCTYPE} {name} of {store}: {len(found)} copies at hq, expected 1")
            continue
        copy = found[0]
        for key in (*INVOICE_FIELDS, "items"):
            if original.get(key) != copy.get(key):
                out.append(f"{INVOICE_DOCTYPE} {name} of {store}: {key} is {original.get(key)!r} there, "
                           f"{copy.get(key)!r} at hq ({copy['name']})")
    strays = sorted(n for (site, n) in copies if site == store_url and n not in originals)
    out += [f"{INVOICE_DOCTYPE} {n} of {store}: at hq, not at {store}" for n in strays]
    return out


def _unapplied_events(cluster: Cluster) -> list[str]:
    out = []
    for site in cluster.sites:
        logs = site.admin().get_list("Event Sync Log", fields=["name", "status", "ref_doctype", "producer_doc", "error"],
                                     filters=[["status", "in", ["Failed", "Held"]]], order_by="sequence asc")
        out += [f"{log['status']} event at {site.name}: {log['ref_doctype']} {log['producer_doc']}: {log['error']}"
                for log in logs]
    return out
