"""Comparing a consumer with a producer: the documents one has and the other does not.

Streaming keeps them the same, except where it can't know better: after a producer was restored
from a backup, a document whose creation the restore undid stays on its consumers (a baseline
re-sends what the producer has; it deletes nothing), and a document deleted on the consumer by
hand stays deleted until the producer changes it. ``compare`` finds both, for each approved
DocType of an Event Producer, by names:

- *only here*: documents of this site that came from that producer (by its Event Sync Logs, or by
  ``remote_site_name`` for a DocType not using the producer's names), which the producer no longer
  has (under the row's condition);
- *only there*: documents the producer has (under the row's condition) with no copy here.

It reads the producer's names through its ordinary API (``frappe.client.get_list``, as the Event
Subscriber, in keyset pages) and changes nothing on either site. A mapped DocType is not compared
(its documents' names and shapes differ by design); a condition is checked against each document's
own fields as the list returns them (not its child tables).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from docstream.errors import DoesNotExistError
from docstream.streaming.producers import producer_remote
from docstream.streaming.updatelog import condition_holds
from docstream.streaming.urls import normalise_url

PAGE = 500


@dataclass
class Difference:
    doctype: str
    only_here: list[str] = field(default_factory=list)
    only_there: list[str] = field(default_factory=list)
    skipped: str | None = None  # why this DocType was not compared

    @property
    def differs(self) -> bool:
        return bool(self.only_here or self.only_there)


def compare(site: Any, producer_url: str) -> list[Difference]:
    """For each approved DocType of the Event Producer ``producer_url``: what only this site has,
    and what only the producer has."""
    url = normalise_url(producer_url, "Producer URL")
    system = site.session("Administrator", ignore_permissions=True)
    if not system.exists("Event Producer", url):
        raise DoesNotExistError(f"no Event Producer {url} on this site", doctype="Event Producer", name=url)
    producer = system.get("Event Producer", url)
    remote = producer_remote(site, producer)
    out = []
    for row in producer.get("producer_doctypes") or []:
        if row.get("status") != "Approved" or row.get("unsubscribe"):
            continue
        doctype = row["ref_doctype"]
        if row.get("has_mapping"):
            out.append(Difference(doctype, skipped="mapped: the producer's documents have other names and shapes here"))
            continue
        if not row.get("use_same_name") and not system.meta(doctype).has_field("remote_docname"):
            out.append(Difference(doctype, skipped="its copies here have their own names and no remote_docname to match by"))
            continue
        there = _remote_names(remote, doctype, (row.get("condition") or "").strip())
        here = _copies(site, url, doctype, bool(row.get("use_same_name")))  # remote name → local name
        local_names = {r["name"] for r in site.db.sql(f'SELECT name FROM "{system.meta(doctype).table_name}"')}
        has_copy = local_names if row.get("use_same_name") else set(here)
        out.append(Difference(
            doctype,
            only_here=sorted(local for remote_name, local in here.items() if remote_name not in there),
            only_there=sorted(n for n in there if n not in has_copy),
        ))
    return out


def _remote_names(remote: Any, doctype: str, condition: str) -> set[str]:
    """The names of the producer's documents of ``doctype`` (those meeting ``condition``)."""
    names: set[str] = set()
    last = ""
    while True:
        rows = remote.call("frappe.client.get_list", doctype=doctype, fields=["*"] if condition else ["name"],
                           filters=[["name", ">", last]], order_by="name asc", limit_page_length=PAGE)
        for row in rows or []:
            if not condition or condition_holds(condition, row):
                names.add(row["name"])
        if not rows or len(rows) < PAGE:
            return names
        last = rows[-1]["name"]


def _copies(site: Any, producer_url: str, doctype: str, same_name: bool) -> dict[str, str]:
    """This site's documents of ``doctype`` that came from the producer: remote name → local name."""
    meta = site.session("Administrator", ignore_permissions=True).meta(doctype)
    if not same_name:
        rows = site.db.sql(f'SELECT name, remote_docname FROM "{meta.table_name}" WHERE remote_site_name = ?',
                           (producer_url,))
        return {r["remote_docname"]: r["name"] for r in rows if r["remote_docname"]}
    rows = site.db.sql(
        f'SELECT DISTINCT l.docname AS name FROM "tabEvent Sync Log" l JOIN "{meta.table_name}" d ON d.name = l.docname '
        "WHERE l.event_producer = ? AND l.ref_doctype = ? AND l.status = 'Synced'", (producer_url, doctype),
    )
    return {r["name"]: r["name"] for r in rows}
