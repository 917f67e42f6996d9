"""Events the consumer can't apply: logged Failed with a readable error, the same document's later
events held behind them (logged, not applied), other documents flowing; resync replays the chain.

One producer/consumer pair for the module; the consumer runs no background worker, so each pull
below is the only one and its counts are exact. Each test ends converged, so the next starts clean.
"""

from __future__ import annotations

import importlib
import json

import pytest

from tests.faults.conftest import SUBSCRIBER, SUBSCRIBER_ROLES, FaultPair, Sites

ROWS = [{"ref_doctype": d, "use_same_name": 1} for d in ("Customer", "Item", "Supplier", "ToDo")]


@pytest.fixture(scope="module")
def pair(module_sites: Sites) -> FaultPair:
    producer = module_sites.make("hq-fail.local")
    # the consumer's Event Subscriber may not touch Suppliers (no Purchase User role) until a test grants it
    consumer = module_sites.make("store-fail.local", worker=False,
                                 roles=tuple(r for r in SUBSCRIBER_ROLES if r != "Purchase User"))
    module_sites.start(producer, consumer)
    made = FaultPair(producer, consumer)
    made.subscribe(ROWS)
    return made


def _logs(pair: FaultPair, docname: str) -> list[dict]:
    return pair.sync_logs(producer_doc=docname)


def _exists(api, doctype: str, name: str) -> bool:
    return bool(api.get_list(doctype, filters={"name": name}))


def _readable(error: str, *words: str) -> None:
    assert error and "Traceback" not in error and len(error) < 2000, error
    for word in words:
        assert word.lower() in error.lower(), f"{word!r} not in the error {error!r}"


def test_validation_error_fails_holds_the_document_and_lets_others_flow(pair: FaultPair) -> None:
    p, c = pair.p, pair.c
    # every Customer the consumer creates now needs a field the producer never sends
    c.insert({"doctype": "Custom Field", "dt": "Customer", "fieldname": "store_code", "label": "Store Code",
              "fieldtype": "Data", "reqd": 1})
    p.insert({"doctype": "Customer", "customer_name": "Val A", "territory": "T0"})
    p.insert({"doctype": "Item", "item_code": "VAL-1", "standard_rate": 1})
    p.update("Customer", "Val A", {"territory": "T1", "email_id": "a@example.com"})
    p.insert({"doctype": "Customer", "customer_name": "Val B"})
    p.update("Item", "VAL-1", {"standard_rate": 2})
    p.update("Customer", "Val A", {"territory": "T2"})

    assert pair.pull() == {"synced": 2, "failed": 2, "held": 2}

    created, first, second = _logs(pair, "Val A")
    assert (created["update_type"], created["status"]) == ("Create", "Failed")
    assert created["docname"] == "Val A", "use same name on: the failed log names the document"
    _readable(created["error"], "MandatoryError", "Store Code")
    # data: the event's document data (a Create's document, an Update's diff); event: the rest of it
    assert json.loads(created["data"])["customer_name"] == "Val A"
    assert json.loads(first["data"])["changed"] == {"territory": "T1", "email_id": "a@example.com"}
    envelope = json.loads(created["event"])
    assert "data" not in envelope and {"origin", "creation"} <= envelope.keys()
    assert (envelope["sequence"], envelope["docname"]) == (created["sequence"], "Val A")
    for held in (first, second):
        assert (held["update_type"], held["status"], held["held_by"]) == ("Update", "Held", created["name"])
        assert created["name"] in held["error"]
    assert not _exists(c, "Customer", "Val A"), "nothing of a failed document is applied"
    assert c.get("Item", "VAL-1")["standard_rate"] == 2, "other documents keep flowing"
    state = pair.state()
    assert (state["failed"], state["held"]) == (2, 2)

    c.delete("Custom Field", "Customer-store_code")
    # resync of one Event Sync Log replays its held chain, in order (T1 then T2)
    assert c.call("docstream.streaming.resync", sync_log=created["name"]) == "Synced"
    assert [(log["status"], log["held_by"]) for log in _logs(pair, "Val A")] == [("Synced", None)] * 3
    local = c.get("Customer", "Val A")
    assert (local["territory"], local["email_id"]) == ("T2", "a@example.com")

    # Val B is still failed: a new change of it is held behind it, until resync_all_failed
    p.update("Customer", "Val B", {"territory": "Late"})
    assert pair.pull() == {"synced": 0, "failed": 0, "held": 1}
    _as_older_versions_wrote(pair, _logs(pair, "Val B"))  # which resync still replays
    assert c.call("docstream.streaming.resync_all_failed") == {"synced": 1, "failed": 0}
    assert c.get("Customer", "Val B")["territory"] == "Late"
    pair.assert_converged()


def _as_older_versions_wrote(pair: FaultPair, logs: list[dict]) -> None:
    """Rewrite sync logs as versions before the ``event`` field wrote them: the whole event in ``data``."""
    from docstream.site import Site

    site = Site.open(pair.consumer.server.name, pair.consumer.server.sites_dir)
    try:
        with site.db.transaction():
            for log in logs:
                whole = {**json.loads(log["event"]), "data": json.loads(log["data"]) if log["data"] else None}
                site.db.sql('UPDATE "tabEvent Sync Log" SET data = ?, event = NULL WHERE name = ?',
                            (json.dumps(whole), log["name"]))
    finally:
        site.close()


def test_a_held_change_is_one_that_would_have_applied(pair: FaultPair) -> None:
    """The change behind a failure is held even though it would succeed alone."""
    p, c = pair.p, pair.c
    field = {"doctype": "Custom Field", "dt": "Item", "fieldname": "barcode", "label": "Barcode", "fieldtype": "Data"}
    p.insert(field)
    c.insert({**field, "unique": 1})
    c.insert({"doctype": "Item", "item_code": "LOCAL-1", "barcode": "B-1"})  # the consumer's own Item
    p.insert({"doctype": "Item", "item_code": "UNIQ-1", "item_name": "first"})
    assert pair.pull()["synced"] == 1
    p.update("Item", "UNIQ-1", {"barcode": "B-1"})  # clashes with the consumer's own Item
    p.update("Item", "UNIQ-1", {"item_name": "second"})  # harmless on its own
    p.insert({"doctype": "Supplier", "supplier_name": "Bystander"})  # fails too (no permission yet)
    p.insert({"doctype": "Customer", "customer_name": "Flows Anyway"})

    assert pair.pull() == {"synced": 1, "failed": 2, "held": 1}
    update, held = _logs(pair, "UNIQ-1")[1:]
    assert update["status"] == "Failed" and held["status"] == "Held"
    _readable(update["error"], "DuplicateEntryError", "barcode")
    assert c.get("Item", "UNIQ-1")["item_name"] == "first", "the held change was not applied"
    assert _exists(c, "Customer", "Flows Anyway")

    c.update("Item", "LOCAL-1", {"barcode": "B-LOCAL"})
    assert c.call("docstream.streaming.resync", sync_log=update["name"]) == "Synced"
    local = c.get("Item", "UNIQ-1")
    assert (local["barcode"], local["item_name"]) == ("B-1", "second")
    c.delete("Item", "LOCAL-1")  # the consumer's own document would count as a difference
    pair.assert_converged(["Customer", "Item", "ToDo"])


def test_missing_permission_then_resync_all_failed_from_the_cli(pair: FaultPair) -> None:
    p, c = pair.p, pair.c
    p.update("Supplier", "Bystander", {"supplier_group": "Services"})
    p.insert({"doctype": "Supplier", "supplier_name": "Perm S", "supplier_group": "Raw"})
    p.update("Supplier", "Perm S", {"supplier_group": "Hardware"})
    assert pair.pull() == {"synced": 0, "failed": 1, "held": 2}

    assert sorted(log["producer_doc"] for log in pair.sync_logs(status="Failed")) == ["Bystander", "Perm S"]
    (perm_failed,) = [log for log in _logs(pair, "Perm S") if log["status"] == "Failed"]
    _readable(perm_failed["error"], "PermissionError", "Supplier", SUBSCRIBER)

    user = c.get("User", SUBSCRIBER)
    c.update("User", SUBSCRIBER, {"roles": user["roles"] + [{"role": "Purchase User"}]})
    out = pair.consumer.server.cli("sync", "resync", "--all-failed").stdout
    assert "synced 2, still failed 0" in out
    assert c.get("Supplier", "Bystander")["supplier_group"] == "Services"
    assert c.get("Supplier", "Perm S")["supplier_group"] == "Hardware"
    assert pair.state()["failed"] == 0 and pair.state()["held"] == 0
    pair.assert_converged()


def test_dependency_the_producer_no_longer_has(pair: FaultPair) -> None:
    p, c = pair.p, pair.c
    # Company is not streamed: the consumer only meets it as a dependency of the ToDo
    p.insert({"doctype": "Company", "company_name": "Gone Co", "abbr": "GC"})
    todo = p.insert({"doctype": "ToDo", "description": "call them", "reference_type": "Company",
                     "reference_name": "Gone Co"})
    p.update("ToDo", todo["name"], {"reference_type": None, "reference_name": None, "description": "called"})
    p.delete("Company", "Gone Co")
    p.insert({"doctype": "Item", "item_code": "DEP-OTHER"})

    assert pair.pull() == {"synced": 1, "failed": 1, "held": 1}
    created, held = _logs(pair, todo["name"])
    assert created["status"] == "Failed" and held["status"] == "Held"
    _readable(created["error"], "Company Gone Co", "no longer")

    # resync while the producer still lacks it: fails again, and the chain stays held behind it
    assert c.call("docstream.streaming.resync_all_failed") == {"synced": 0, "failed": 1}
    assert [log["status"] for log in _logs(pair, todo["name"])] == ["Failed", "Held"]
    assert not _exists(c, "ToDo", todo["name"])

    p.insert({"doctype": "Company", "company_name": "Gone Co", "abbr": "GC"})
    assert c.call("docstream.streaming.resync_all_failed") == {"synced": 1, "failed": 0}
    local = c.get("ToDo", todo["name"])
    assert (local["description"], local["reference_name"]) == ("called", None)
    chain = _logs(pair, todo["name"])
    assert [log["status"] for log in chain] == ["Synced", "Synced"]
    assert chain[0]["sequence"] < chain[1]["sequence"]
    pair.assert_converged()


def test_a_field_of_another_shape_fails_its_event_only(pair: FaultPair) -> None:
    """Data on the producer, a Table here: the event is Failed with a clear error, not a stalled page."""
    p, c = pair.p, pair.c
    field = {"doctype": "Custom Field", "dt": "Customer", "fieldname": "extra", "label": "Extra"}
    p.insert({**field, "fieldtype": "Data"})
    c.insert({**field, "fieldtype": "Table", "options": "Note Seen By"})
    p.insert({"doctype": "Customer", "customer_name": "Odd One", "extra": "hello"})
    p.insert({"doctype": "Item", "item_code": "SHAPE-AFTER"})
    p.update("Customer", "Odd One", {"territory": "Later"})

    assert pair.pull() == {"synced": 1, "failed": 1, "held": 1}
    created, held = _logs(pair, "Odd One")
    assert (created["status"], held["status"], held["held_by"]) == ("Failed", "Held", created["name"])
    _readable(created["error"], "ValidationError", "Customer.extra", "Table", "same type")
    assert _exists(c, "Item", "SHAPE-AFTER"), "other documents keep flowing"
    assert pair.caught_up()

    c.delete("Custom Field", "Customer-extra")
    c.insert({**field, "fieldtype": "Data"})
    assert c.call("docstream.streaming.resync", sync_log=created["name"]) == "Synced"
    assert c.get("Customer", "Odd One")["territory"] == "Later"
    pair.assert_converged()


def test_an_unexpected_error_fails_its_event_and_an_unexpected_pull_error_backs_off(
        pair: FaultPair, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug (here: a hook of this site that raises) is that event's failure, said to be unexpected;
    a bug in the pull itself is the producer's last error, backed off like any failure."""
    from docstream.site import Site
    from docstream.streaming.schedule import due_producers

    pulling = importlib.import_module("docstream.streaming.pull")  # the package re-exports a function of that name

    p, c = pair.p, pair.c
    site = Site.open(pair.consumer.server.name, pair.consumer.server.sites_dir)
    try:
        @site.hooks.on("validate", "Customer")
        def _buggy(session, doc, old):  # noqa: ANN001, ANN202 - a hook with a bug in it
            if doc.get("customer_name") == "Buggy":
                raise RuntimeError("a bug in a hook")

        p.insert({"doctype": "Customer", "customer_name": "Buggy"})
        p.insert({"doctype": "Item", "item_code": "BUG-AFTER"})
        assert pulling.pull_producer(site, pair.producer_url) == {"synced": 1, "failed": 1, "held": 0}
        (failed,) = _logs(pair, "Buggy")
        assert failed["status"] == "Failed"
        _readable(failed["error"], "unexpected", "RuntimeError", "a bug in a hook")
        assert _exists(c, "Item", "BUG-AFTER") and pair.caught_up()

        def broken(*args: object) -> None:
            raise KeyError("surprise")

        monkeypatch.setattr(pulling, "_mirror", broken)
        p.insert({"doctype": "Item", "item_code": "BUG-LATER"})
        with pytest.raises(KeyError):
            pulling.pull_producer(site, pair.producer_url)
        state = pair.state()
        assert state["failures"] == 1 and state["next_attempt"]
        _readable(state["last_error"], "unexpected", "KeyError", "surprise")
        assert pair.producer_url not in due_producers(site), "backing off, not pulled again at the next tick"
    finally:
        site.close()
    assert pair.pull()["synced"] == 1
    assert c.call("docstream.streaming.resync", sync_log=failed["name"]) == "Synced"
    pair.assert_converged()


def test_an_update_of_a_document_the_producer_deleted_since_is_skipped(pair: FaultPair) -> None:
    """Not here (it predates the subscription, or was deleted here) and gone there: the Update has
    nothing to do, and holds nothing back — not its Delete, nor a new document of that name."""
    p, c = pair.p, pair.c
    p.insert({"doctype": "Customer", "customer_name": "Gone Since", "territory": "North"})
    assert pair.pull()["synced"] == 1
    c.delete("Customer", "Gone Since")  # as if it had existed before the subscription
    p.update("Customer", "Gone Since", {"territory": "East"})
    p.delete("Customer", "Gone Since")

    assert pair.pull() == {"synced": 2, "failed": 0, "held": 0}
    update, delete = _logs(pair, "Gone Since")[1:]
    assert (update["update_type"], update["status"]) == ("Update", "Skipped")
    _readable(update["error"], "Customer Gone Since", "deleted it since")
    assert (delete["update_type"], delete["status"]) == ("Delete", "Synced")
    assert (pair.state()["failed"], pair.state()["held"]) == (0, 0)

    p.insert({"doctype": "Customer", "customer_name": "Gone Since", "territory": "South"})
    assert pair.pull() == {"synced": 1, "failed": 0, "held": 0}
    assert c.get("Customer", "Gone Since")["territory"] == "South"
    pair.assert_converged(allowed=frozenset({"Synced", "Skipped"}))


def test_failures_of_an_ended_subscription_hold_nothing_of_the_next(pair: FaultPair) -> None:
    """Deleting the Event Producer closes its Failed and Held logs (Skipped, kept as history): a new
    subscription to the same producer, its initial sync included, is not held behind them."""
    p, c = pair.p, pair.c
    c.insert({"doctype": "Custom Field", "dt": "Customer", "fieldname": "store_code", "label": "Store Code",
              "fieldtype": "Data", "reqd": 1})
    p.insert({"doctype": "Customer", "customer_name": "Ended A", "territory": "North"})
    p.update("Customer", "Ended A", {"territory": "West"})
    assert pair.pull() == {"synced": 0, "failed": 1, "held": 1}

    c.delete("Event Producer", pair.producer_url)
    closed = _logs(pair, "Ended A")
    assert [log["status"] for log in closed] == ["Skipped", "Skipped"]
    _readable(closed[0]["error"], "subscription ended", "was Failed", "MandatoryError", "Store Code")
    _readable(closed[1]["error"], "subscription ended", "was Held", closed[0]["name"])

    c.update("Custom Field", "Customer-store_code", {"reqd": 0})
    pair.subscribe([{**row, "initial_sync": int(row["ref_doctype"] == "Customer")} for row in ROWS])
    p.update("Customer", "Ended A", {"territory": "South"})
    pair.pull()
    assert c.get("Customer", "Ended A")["territory"] == "South"
    assert [log["status"] for log in _logs(pair, "Ended A")[2:]] == ["Synced", "Synced"]  # the backfill, the update
    assert (pair.state()["failed"], pair.state()["held"]) == (0, 0)
    assert c.call("docstream.streaming.resync_all_failed") == {"synced": 0, "failed": 0}
    pair.assert_converged(allowed=frozenset({"Synced", "Skipped"}))


def test_a_consumer_not_migrated_yet_writes_its_sync_logs_as_before(sites: Sites) -> None:
    """Until ``docstream migrate`` gives the Event Sync Log its ``event`` field, a consumer of this
    version writes each log in the shape before it (the whole event in ``data``) — and can resync
    it — rather than failing every page on a field its DocType does not have yet."""
    from tests.faults.conftest import make_pair

    pair = make_pair(sites, "unmigrated", consumer_worker=False)
    pair.consumer.server.stop()
    pair.consumer.db().sql('DELETE FROM "tabDocField" WHERE parent = ? AND fieldname = ?', ("Event Sync Log", "event"))
    pair.consumer.start()
    pair.subscribe([{"ref_doctype": "Customer", "use_same_name": 1}])
    pair.p.insert({"doctype": "Customer", "customer_name": "Old Shape"})
    assert pair.pull() == {"synced": 1, "failed": 0, "held": 0}
    (log,) = pair.sync_logs(producer_doc="Old Shape")
    assert "event" not in log and json.loads(log["data"])["data"]["customer_name"] == "Old Shape"
    assert pair.c.call("docstream.streaming.resync", sync_log=log["name"]) in ("Synced", "Skipped")
