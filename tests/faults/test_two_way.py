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
