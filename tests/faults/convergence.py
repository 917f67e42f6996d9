"""The two checks every fault test ends with.

``assert_converged``: every document of the streamed DocTypes is equal on both sites — fetched
through the API with ``fields=["*"]``, documents with child tables fetched one by one so their
rows come too — ignoring the bookkeeping fields (owner, creation, modified, modified_by) and the
child rows' parent fields. Documents the consumer names itself (use_same_name off) are matched
by ``remote_docname``, and two local documents for one remote one are a failure.

``assert_applied_once``: the consumer holds exactly one Event Sync Log per (producer, sequence),
for exactly the events the change feed owes it, all Synced; and its cursor is at the producer's head.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.support.servers import Api

BOOKKEEPING = frozenset({"owner", "creation", "modified", "modified_by"})
CHILD_PARENT = frozenset({"parent", "parenttype", "parentfield"})
LOCAL_NAMING = frozenset({"name", "remote_docname", "remote_site_name"})
TABLE_TYPES = frozenset({"Table", "Table MultiSelect"})


def table_fields(api: Api, doctype: str) -> list[str]:
    meta = api.get("DocType", doctype)
    return [f["fieldname"] for f in meta.get("fields") or [] if f.get("fieldtype") in TABLE_TYPES]


def documents(api: Api, doctype: str, key: str = "name") -> dict[str, dict[str, Any]]:
    """Every document of ``doctype`` on one site, normalised for comparison, by ``key``."""
    tables = table_fields(api, doctype)
    rows = api.get_list(doctype, fields=["*"], order_by="name asc", limit_page_length=0)
    out: dict[str, dict[str, Any]] = {}
    duplicates = []
    for row in rows:
        doc = api.get(doctype, row["name"]) if tables else row
        ident = doc.get(key)
        if ident in out:
            duplicates.append(ident)
        out[str(ident)] = normalise(doc)
    assert not duplicates, f"{doctype}: several documents for {key} {duplicates[:5]}"
    return out


def normalise(doc: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in doc.items():
        if key in BOOKKEEPING:
            continue
        if isinstance(value, list):
            rows = [{k: v for k, v in r.items() if k not in BOOKKEEPING | CHILD_PARENT} for r in value
                    if isinstance(r, dict)]
            value = sorted(rows, key=lambda r: (r.get("idx") or 0, str(r.get("name"))))
        out[key] = value
    return out


def differences(a: dict[str, Any], b: dict[str, Any], ignore: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Fields both documents have (a field only one site has is schema, not data) and that differ."""
    return {k: (a[k], b[k]) for k in sorted(a.keys() & b.keys()) if k not in ignore and a[k] != b[k]}


def compare(producer: Api, consumer: Api, doctype: str, renamed: bool = False) -> list[str]:
    """Human-readable differences between the two sites' documents of ``doctype`` (empty: equal)."""
    theirs = documents(producer, doctype)
    ours = documents(consumer, doctype, key="remote_docname" if renamed else "name")
    if renamed:
        ours = {k: v for k, v in ours.items() if k not in ("None", "")}
    problems = []
    for name in sorted(theirs.keys() - ours.keys())[:10]:
        problems.append(f"{doctype} {name}: on the producer, missing on the consumer")
    for name in sorted(ours.keys() - theirs.keys())[:10]:
        problems.append(f"{doctype} {name}: on the consumer, not on the producer")
    for name in sorted(theirs.keys() & ours.keys()):
        diff = differences(theirs[name], ours[name], LOCAL_NAMING if renamed else frozenset())
        if diff:
            problems.append(f"{doctype} {name}: differs {diff}")
    return problems


def assert_converged(producer: Api, consumer: Api, doctypes: list[str], renamed: set[str] | frozenset[str] = frozenset()) -> None:
    problems = []
    for doctype in doctypes:
        problems += compare(producer, consumer, doctype, renamed=doctype in renamed)
    assert not problems, f"the sites differ ({len(problems)} problems):\n" + "\n".join(problems[:30])


def owed_sequences(producer: Api, consumer_url: str, doctypes: list[str], since: int = 0) -> set[int]:
    """The sequences of the producer's update logs that the change feed serves to this consumer."""
    logs = producer.get_list("Event Update Log", fields=["sequence", "ref_doctype", "origin", "target"],
                             filters=[["sequence", ">", since]], limit_page_length=0)
    return {int(log["sequence"]) for log in logs if log["ref_doctype"] in doctypes
            and (log.get("origin") or "") != consumer_url and log.get("target") in (None, "", consumer_url)}


def assert_applied_once(producer: Api, consumer: Api, producer_url: str, consumer_url: str,
                        doctypes: list[str], since: int = 0, allowed: frozenset[str] = frozenset({"Synced"})) -> None:
    """One Event Sync Log per (producer, sequence), for every event owed and no other, none twice."""
    logs = consumer.get_list("Event Sync Log", fields=["sequence", "status", "ref_doctype", "producer_doc",
                                                       "update_type", "error"],
                             filters={"event_producer": producer_url}, limit_page_length=0)
    logs = [log for log in logs if log["ref_doctype"] in doctypes]
    counts = Counter(int(log["sequence"]) for log in logs)
    twice = sorted(s for s, n in counts.items() if n > 1)
    assert not twice, f"events applied more than once (sequence: count): {[(s, counts[s]) for s in twice[:20]]}"
    owed = owed_sequences(producer, consumer_url, doctypes, since)
    got = {s for s in counts if s > since}
    assert not owed - got, f"events never applied: {sorted(owed - got)[:20]} (of {len(owed)})"
    assert not got - owed, f"sync logs for events the producer never served: {sorted(got - owed)[:20]}"
    bad = [log for log in logs if log["status"] not in allowed]
    assert not bad, f"sync logs not {sorted(allowed)}: {bad[:5]}"


__all__ = ["assert_applied_once", "assert_converged", "compare", "documents", "normalise", "owed_sequences"]
