"""Links to documents the consumer names itself (use same name off): the producer's names are
translated to the local ones exactly once, whichever way the linked document arrives."""

from __future__ import annotations

from tests.streaming.conftest import Pair

PERMS = [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1},
         {"role": "Sales User", "read": 1, "write": 1, "create": 1, "delete": 1}]


def _dunning_doctypes(api) -> None:
    """A reminder about invoices: a Link to one, and rows linking to others."""
    api.insert({"doctype": "DocType", "name": "Dunning Line", "module": "Custom", "istable": 1, "fields": [
        {"fieldname": "invoice", "fieldtype": "Link", "options": "Sales Invoice"},
        {"fieldname": "note", "fieldtype": "Data"}]})
    api.insert({"doctype": "DocType", "name": "Dunning", "module": "Custom", "autoname": "field:title",
                "permissions": PERMS, "fields": [
                    {"fieldname": "title", "fieldtype": "Data", "reqd": 1},
                    {"fieldname": "invoice", "fieldtype": "Link", "options": "Sales Invoice"},
                    {"fieldname": "lines", "fieldtype": "Table", "options": "Dunning Line"}]})


def _invoices(api, count: int, remarks: str) -> list[str]:
    """``count`` invoices; the site gets the customer and item they need."""
    if not api.get_list("Customer", filters={"name": "Names Buyer"}):
        api.insert({"doctype": "Customer", "customer_name": "Names Buyer"})
        api.insert({"doctype": "Item", "item_code": "NAMES-1", "standard_rate": 5})
    return [api.insert({"doctype": "Sales Invoice", "customer": "Names Buyer", "remarks": f"{remarks} {i}",
                        "items": [{"item_code": "NAMES-1", "qty": 1, "rate": 5}]})["name"] for i in range(count)]


def _copies(pair: Pair) -> dict[str, str]:
    """The producer's invoice name → the name of its copy on the consumer."""
    rows = pair.c.get_list("Sales Invoice", fields=["name", "remote_docname"])
    return {row["remote_docname"]: row["name"] for row in rows if row["remote_docname"]}


def test_an_update_translates_only_the_values_it_carries(pair: Pair) -> None:
    for api in (pair.p, pair.c):
        _dunning_doctypes(api)
    _invoices(pair.c, 2, "the consumer's own")  # so that its copies are numbered unlike the originals
    pair.subscribe([{"ref_doctype": "Sales Invoice", "use_same_name": 0}, {"ref_doctype": "ToDo", "use_same_name": 1},
                    {"ref_doctype": "Dunning", "use_same_name": 1}])
    p = pair.p
    first, second, third = _invoices(p, 3, "streamed")
    todo = p.insert({"doctype": "ToDo", "description": "chase", "reference_type": "Sales Invoice",
                     "reference_name": first})["name"]
    p.insert({"doctype": "Dunning", "title": "overdue", "invoice": first,
              "lines": [{"invoice": first, "note": "one"}, {"invoice": second, "note": "two"}]})
    pair.pull()
    copies = _copies(pair)
    assert copies[first] != first and copies[first] == third, "the test needs a local name that is a remote one"
    # changes that leave the links alone: a local name must not be read as the producer's again
    p.update("ToDo", todo, {"description": "chase, call Friday"})
    rows = p.get("Dunning", "overdue")["lines"]
    p.update("Dunning", "overdue", {"lines": [{**rows[0], "note": "first"}, {**rows[1], "invoice": third},
                                              {"invoice": second, "note": "added"}]})
    assert pair.pull()["failed"] == 0
    assert pair.c.get("ToDo", todo)["reference_name"] == copies[first]
    dunning = pair.c.get("Dunning", "overdue")
    assert dunning["invoice"] == copies[first]
    assert [(r["invoice"], r["note"]) for r in dunning["lines"]] == [
        (copies[first], "first"), (copies[third], "two"), (copies[second], "added")]


def test_a_nested_dependency_arrives_as_its_own_events_would_bring_it(serve) -> None:
    # only the test pulls: a worker notified of the invoice could pull it before its log is deleted
    pair = Pair(serve("hq.local"), serve("store.local", extra_args=["--no-worker"]))
    for api in (pair.p, pair.c):
        _dunning_doctypes(api)
    _invoices(pair.c, 2, "the consumer's own")
    # Dunning is not subscribed: the ToDo needs it, and it needs an invoice the consumer names itself
    pair.subscribe([{"ref_doctype": "Sales Invoice", "use_same_name": 0}, {"ref_doctype": "ToDo", "use_same_name": 1}])
    p = pair.p
    invoice = _invoices(p, 1, "streamed")[0]
    for log in p.get_list("Event Update Log", filters={"docname": invoice}):
        p.delete("Event Update Log", log["name"])  # the consumer hears of the invoice only through the ToDo
    p.insert({"doctype": "Dunning", "title": "nested", "invoice": invoice, "lines": [{"invoice": invoice}]})
    p.insert({"doctype": "ToDo", "description": "follow up", "reference_type": "Dunning", "reference_name": "nested"})
    assert pair.pull()["failed"] == 0
    (copy,) = [c for c in pair.c.get_list("Sales Invoice", fields=["*"]) if c["remote_docname"] == invoice]
    assert copy["name"] != invoice and copy["remote_site_name"] == pair.producer.url
    dunning = pair.c.get("Dunning", "nested")
    assert dunning["invoice"] == copy["name"] and dunning["lines"][0]["invoice"] == copy["name"]
    # the invoice's own later events find the copy
    p.update("Sales Invoice", invoice, {"remarks": "changed at the source"})
    pair.pull()
    assert [(log["update_type"], log["status"]) for log in pair.sync_logs(producer_doc=invoice)] == [("Update", "Synced")]
    assert pair.c.get("Sales Invoice", copy["name"])["remarks"] == "changed at the source"
    assert len(pair.c.get_list("Sales Invoice")) == 3


def test_documents_keep_their_names_when_the_checkbox_changes(pair: Pair) -> None:
    """Use same name applies to events from then on: a copy made under the producer's name is still
    found once the box is unticked, and a copy the consumer named is still found once it is ticked."""
    pair.subscribe([{"ref_doctype": "Note", "use_same_name": 1}, {"ref_doctype": "Item", "use_same_name": 1},
                    {"ref_doctype": "ToDo", "use_same_name": 0}])
    p, c = pair.p, pair.c
    note = p.insert({"doctype": "Note", "title": "kept"})["name"]
    p.insert({"doctype": "Item", "item_code": "KEPT-1"})
    todo = p.insert({"doctype": "ToDo", "description": "kept"})["name"]
    pair.pull()
    (todo_copy,) = [row["name"] for row in c.get_list("ToDo", fields=["name", "remote_docname"])
                    if row["remote_docname"] == todo]
    rows = c.get("Event Producer", pair.producer.url)["producer_doctypes"]
    for row in rows:
        row["use_same_name"] = int(not row["use_same_name"])
    c.update("Event Producer", pair.producer.url, {"producer_doctypes": rows})
    p.update("Note", note, {"content": "edited"})
    p.update("Item", "KEPT-1", {"item_name": "edited"})
    p.update("ToDo", todo, {"description": "edited"})
    pair.pull()  # the site's worker may have pulled them already
    assert pair.sync_logs(status="Failed") == []
    assert [(n["name"], n["content"]) for n in c.get_list("Note", fields=["name", "content"])] == [(note, "edited")]
    assert [(i["name"], i["item_name"]) for i in c.get_list("Item", fields=["name", "item_name"])] == [("KEPT-1", "edited")]
    assert [(t["name"], t["description"]) for t in c.get_list("ToDo", fields=["name", "description"])] == [
        (todo_copy, "edited")]
    assert todo_copy != todo


def test_a_failed_event_names_the_local_copy_when_there_is_one(pair: Pair) -> None:
    _invoices(pair.c, 2, "the consumer's own")
    pair.subscribe([{"ref_doctype": "Sales Invoice", "use_same_name": 0}])
    p, c = pair.p, pair.c
    kept = _invoices(p, 1, "streamed")[0]
    assert pair.pull()["failed"] == 0
    copy = _copies(pair)[kept]
    # every invoice saved here now needs a field the producer never sends
    c.insert({"doctype": "Custom Field", "dt": "Sales Invoice", "fieldname": "store_code", "label": "Store Code",
              "fieldtype": "Data", "reqd": 1})
    p.update("Sales Invoice", kept, {"remarks": "changed at the source"})
    new = _invoices(p, 1, "new")[0]
    pair.pull()
    (update,) = pair.sync_logs(producer_doc=kept, update_type="Update")
    (create,) = pair.sync_logs(producer_doc=new)
    assert (update["status"], update["docname"]) == ("Failed", copy), "the copy it failed to change"
    assert (create["status"], create["docname"]) == ("Failed", None), "no copy here yet: no local name"
