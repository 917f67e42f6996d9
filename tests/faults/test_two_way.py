"""Two sites streaming the same DocTypes to each other (use_same_name on both) converge, and no
change is echoed back to where it came from: the origin never logs an Event Sync Log for its own change.

Each site writes its own documents and, in turns, edits documents that came from the other — one
side per document per round, as people on two sites editing the same record at the same moment is
a conflict this design does not resolve (see docs/testing.md).
"""

from __future__ import annotations

import random
import threading

import pytest

from tests.faults.conftest import FaultPair, Sites, scale
from tests.faults.convergence import assert_applied_once, assert_converged

DOCTYPES = ("Customer", "Item")
ROWS = [{"ref_doctype": d, "use_same_name": 1} for d in DOCTYPES]


def _edits(pair: FaultPair, rng: random.Random, prefix: str, theirs: list[str], mine: list[str]) -> None:
    """One site's turn: new documents of its own, and edits of some that came from the other site."""
    api = pair.p
    for _ in range(scale(6)):
        name = f"{prefix} {len(mine):04d}"
        api.insert({"doctype": "Customer", "customer_name": name, "territory": rng.choice("NSEW")})
        mine.append(name)
    api.insert({"doctype": "Item", "item_code": f"{prefix}-ITEM-{len(mine)}", "standard_rate": rng.randrange(99)})
    for name in rng.sample(theirs, min(len(theirs), scale(4))):
        api.update("Customer", name, {"territory": rng.choice("NSEW"), "email_id": f"{prefix}{rng.randrange(999)}@x.org"})


@pytest.mark.slow
def test_two_way_streams_converge_without_echo(sites: Sites, rng) -> None:
    a = sites.make("site-a.local")
    b = sites.make("site-b.local")
    sites.start(a, b)
    a_from_b, b_from_a = FaultPair(b, a), FaultPair(a, b)  # FaultPair(producer, consumer)
    a_from_b.subscribe(ROWS)
    b_from_a.subscribe(ROWS)
    mine_a: list[str] = []
    mine_b: list[str] = []
    for _ in range(scale(3)):
        # both sites write at once: each its own documents, plus edits of the other's (from the last round)
        turns = [threading.Thread(target=_edits, args=(b_from_a, random.Random(rng.random()), "A", list(mine_b), mine_a)),
                 threading.Thread(target=_edits, args=(a_from_b, random.Random(rng.random()), "B", list(mine_a), mine_b))]
        for turn in turns:
            turn.start()
        for turn in turns:
            turn.join(timeout=120)
        b_from_a.wait_caught_up()
        a_from_b.wait_caught_up()
    heads = (b_from_a.head(), a_from_b.head())
    threading.Event().wait(2.5)  # two poll intervals: an echo would make the logs grow on their own
    assert (b_from_a.head(), a_from_b.head()) == heads, "changes keep bouncing between the sites"

    assert_converged(a.api, b.api, list(DOCTYPES))
    for pair in (b_from_a, a_from_b):  # each consumer applied each of the other's own changes once
        assert_applied_once(pair.p, pair.c, pair.producer_url, pair.consumer.url, list(DOCTYPES))
    for origin, other in ((a, b), (b, a)):
        own = {log["sequence"] for log in origin.api.get_list(
            "Event Update Log", fields=["sequence", "origin"]) if not log.get("origin")}
        echoed = other.api.get_list("Event Update Log", fields=["sequence", "docname"],
                                    filters={"origin": origin.url})
        came_back = origin.api.get_list("Event Sync Log", fields=["sequence", "producer_doc"],
                                        filters={"event_producer": other.url,
                                                 "sequence": ["in", [e["sequence"] for e in echoed] or [-1]]})
        assert own, f"{origin.url} made changes of its own"
        assert came_back == [], f"{origin.url} applied its own changes back from {other.url}: {came_back[:5]}"


def test_a_third_sites_change_does_not_go_round_two_sites_streaming_both_ways(sites: Sites) -> None:
    """A feeds B; B and C stream to each other. A's changes reach C through B, carrying A as their
    origin — which is neither B nor C: what keeps them from going back to B, and round the two for
    ever, is that C never sends a change back to the producer it was applied from."""
    a, b, c = (sites.make(f"ring-{n}.local", worker=False) for n in "abc")
    sites.start(a, b, c)
    b_from_a, c_from_b, b_from_c = FaultPair(a, b), FaultPair(b, c), FaultPair(c, b)
    for pair in (b_from_a, c_from_b, b_from_c):
        pair.subscribe([{"ref_doctype": "Customer", "use_same_name": 1}])
    a.api.insert({"doctype": "Customer", "customer_name": "Round", "territory": "T0"})
    a.api.update("Customer", "Round", {"territory": "T1"})
    a.api.update("Customer", "Round", {"territory": "T2"})
    c.api.insert({"doctype": "Customer", "customer_name": "From C", "territory": "C0"})
    assert b_from_a.pull()["synced"] == 3
    assert c_from_b.pull()["synced"] == 3  # A's three changes, through B
    assert b_from_c.pull()["synced"] == 1  # C's own Customer; A's changes are not sent back
    assert c_from_b.pull()["synced"] == 0  # nor is C's sent back to C
    heads = (b_from_a.head(), c_from_b.head(), b_from_c.head())
    for pair in (b_from_a, c_from_b, b_from_c):
        assert pair.pull()["synced"] == 0
    assert (b_from_a.head(), c_from_b.head(), b_from_c.head()) == heads, "changes keep going round"
    for site in (a, b, c):
        assert site.api.get("Customer", "Round")["territory"] == "T2"
    assert b.api.get("Customer", "From C")["territory"] == "C0"
    logs = c.api.get_list("Event Update Log", fields=["docname", "origin", "source"], filters={"docname": "Round"})
    assert len(logs) == 3 and all(log["origin"] == a.url and log["source"] == b.url for log in logs), logs


def test_a_change_to_a_copy_named_by_its_site_goes_back_to_the_original(sites: Sites) -> None:
    """Two sites streaming ToDos both ways, each naming its copies itself (use same name off): B's
    edits of its copy of A's ToDo reach A as changes of B's name for it, and are applied to A's
    original — not to a second ToDo — which keeps no remote fields of its own."""
    a, b = (sites.make(f"own-names-{n}.local", worker=False) for n in "ab")
    sites.start(a, b)
    b_from_a, a_from_b = FaultPair(a, b), FaultPair(b, a)
    for pair in (b_from_a, a_from_b):
        pair.subscribe([{"ref_doctype": "ToDo", "use_same_name": 0}])
    original = a.api.insert({"doctype": "ToDo", "description": "made at A"})["name"]
    assert b_from_a.pull()["synced"] == 1
    (copy,) = b.api.get_list("ToDo", fields=["name", "remote_docname", "remote_site_name"])
    assert copy["name"] != original and (copy["remote_docname"], copy["remote_site_name"]) == (original, a.url)
    for description in ("edited at B", "edited at B again"):  # the second finds the original by its sync log
        b.api.update("ToDo", copy["name"], {"description": description})
        assert a_from_b.pull() == {"synced": 1, "failed": 0, "held": 0}
        assert [(t["name"], t["description"], t["remote_docname"], t["remote_site_name"]) for t in a.api.get_list(
            "ToDo", fields=["name", "description", "remote_docname", "remote_site_name"])] == [
            (original, description, None, None)]
    assert b_from_a.pull()["synced"] == 0  # nothing comes back to B
    a.api.update("ToDo", original, {"description": "edited at A"})
    assert b_from_a.pull()["synced"] == 1
    assert [(t["name"], t["description"], t["remote_docname"]) for t in b.api.get_list(
        "ToDo", fields=["name", "description", "remote_docname"])] == [(copy["name"], "edited at A", original)]
    b.api.delete("ToDo", copy["name"])
    assert a_from_b.pull()["synced"] == 1
    assert a.api.get_list("ToDo") == []


def test_the_log_of_a_site_made_before_its_source_column_gets_it(make_site, db_url_for, sites_dir) -> None:
    from docstream.site import Site
    from docstream.streaming.updatelog import append_log

    site = make_site("older-log.local", db_url=db_url_for("older-log.local"))
    site.db.sql('ALTER TABLE "tabEvent Update Log" DROP COLUMN source')  # as a site of the version before had it
    site.close()
    reopened = Site.open("older-log.local", sites_dir)
    try:
        assert "source" in reopened.db.table_columns("tabEvent Update Log")
        log = append_log(reopened.session(), {"update_type": "Delete", "ref_doctype": "ToDo", "docname": "x",
                                              "source": "http://b.example"})
        assert reopened.db.value('SELECT source FROM "tabEvent Update Log" WHERE sequence = ?',
                                 (log["sequence"],)) == "http://b.example"
    finally:
        reopened.close()
