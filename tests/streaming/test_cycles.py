"""Dependencies that link back to each other arrive whole, in one event's transaction."""

from __future__ import annotations

from tests.streaming.conftest import Pair

PERMS = [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1},
         {"role": "Sales User", "read": 1, "write": 1, "create": 1, "delete": 1}]


def _doctypes(api) -> None:
    api.insert({"doctype": "DocType", "name": "Cycle A", "autoname": "field:title", "permissions": PERMS,
                "fields": [{"fieldname": "title", "fieldtype": "Data", "reqd": 1}]})
    api.insert({"doctype": "DocType", "name": "Cycle B", "autoname": "field:title", "permissions": PERMS,
                "fields": [{"fieldname": "title", "fieldtype": "Data", "reqd": 1},
                           {"fieldname": "partner", "fieldtype": "Link", "options": "Cycle A"}]})
    # A links to B and B links to A: a cycle
    api.update("DocType", "Cycle A", {"fields": [
        {"fieldname": "title", "fieldtype": "Data", "reqd": 1},
        {"fieldname": "partner", "fieldtype": "Link", "options": "Cycle B"}]})
    api.insert({"doctype": "DocType", "name": "Cycle Root", "autoname": "field:title", "permissions": PERMS,
                "fields": [{"fieldname": "title", "fieldtype": "Data", "reqd": 1},
                           {"fieldname": "start", "fieldtype": "Link", "options": "Cycle A"}]})


def test_a_cycle_of_dependencies_is_synced_in_one_go(pair: Pair) -> None:
    _doctypes(pair.p)
    _doctypes(pair.c)
    pair.subscribe([{"ref_doctype": "Cycle Root", "use_same_name": 1}])
    p = pair.p
    p.insert({"doctype": "Cycle A", "title": "a1"})
    p.insert({"doctype": "Cycle B", "title": "b1", "partner": "a1"})
    p.update("Cycle A", "a1", {"partner": "b1"})
    p.insert({"doctype": "Cycle Root", "title": "root", "start": "a1"})
    pair.pull()
    assert pair.c.get("Cycle Root", "root")["start"] == "a1"
    assert pair.c.get("Cycle A", "a1")["partner"] == "b1"
    assert pair.c.get("Cycle B", "b1")["partner"] == "a1"
    assert [log["status"] for log in pair.sync_logs(producer_doc="root")] == ["Synced"]
