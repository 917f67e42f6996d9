"""The user guide's flow, end to end between two real served sites."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.streaming.conftest import STANDARD_ROWS, SUBSCRIBER, Pair, wait_for


def test_update_log_has_three_shapes(streaming) -> None:
    p = streaming.p
    p.insert({"doctype": "Supplier", "supplier_name": "Shape Co", "supplier_group": "Raw"})
    p.update("Supplier", "Shape Co", {"supplier_group": "Services"})
    p.delete("Supplier", "Shape Co")
    logs = p.get_list("Event Update Log", fields=["*"], filters={"docname": "Shape Co"}, order_by="sequence asc")
    assert [log["update_type"] for log in logs] == ["Create", "Update", "Delete"]
    create, update, delete = logs
    assert json.loads(create["data"])["supplier_group"] == "Raw"
    assert json.loads(update["data"])["changed"] == {"supplier_group": "Services"}
    assert delete["data"] in (None, "")
    assert create["sequence"] < update["sequence"] < delete["sequence"]


def test_insert_update_delete_reach_the_consumer(streaming) -> None:
    p, c = streaming.p, streaming.c
    p.insert({"doctype": "Customer", "customer_name": "Flow Ltd", "territory": "North"})
    streaming.pull()
    assert c.get("Customer", "Flow Ltd")["territory"] == "North"
    p.update("Customer", "Flow Ltd", {"territory": "South"})
    streaming.pull()
    assert c.get("Customer", "Flow Ltd")["territory"] == "South"
    p.delete("Customer", "Flow Ltd")
    streaming.pull()
    assert c.get_list("Customer", filters={"name": "Flow Ltd"}) == []
    logs = streaming.sync_logs(producer_doc="Flow Ltd")
    assert [(log["update_type"], log["status"]) for log in logs] == [
        ("Create", "Synced"), ("Update", "Synced"), ("Delete", "Synced")]
    assert logs[0]["event_producer"] == streaming.producer.url
    assert logs[0]["use_same_name"] == 1
    assert json.loads(logs[0]["data"])["customer_name"] == "Flow Ltd"  # the document data, as the guide says


def test_several_doctypes_in_one_pull(serve) -> None:
    # the consumer runs no background worker: only the manual pull applies anything
    quiet = Pair(serve("hq-quiet.local"), serve("store-quiet.local", extra_args=["--no-worker"]))
    quiet.subscribe(STANDARD_ROWS)
    p, c = quiet.p, quiet.c
    p.insert({"doctype": "Customer", "customer_name": "Multi One"})
    p.insert({"doctype": "Item", "item_code": "MULTI-1", "standard_rate": 3})
    p.insert({"doctype": "Supplier", "supplier_name": "Multi Supply"})
    assert c.get_list("Customer", filters={"name": "Multi One"}) == []
    counts = quiet.pull()
    assert counts == {"synced": 3, "failed": 0, "held": 0}
    assert c.get("Item", "MULTI-1")["standard_rate"] == 3
    assert c.get("Supplier", "Multi Supply")
    assert c.get("Customer", "Multi One")


def test_invoice_brings_customer_and_items_first_and_gets_a_local_name(streaming) -> None:
    p, c = streaming.p, streaming.c
    # the customer and items are created on the producer but the consumer only hears of the invoice:
    # they must be fetched as dependencies (Items through the child rows)
    p.insert({"doctype": "Company", "company_name": "Seed Corp", "abbr": "SC"})
    p.insert({"doctype": "Customer", "customer_name": "Seed Buyer"})
    for code in ("SEED-A", "SEED-B"):
        p.insert({"doctype": "Item", "item_code": code, "standard_rate": 10})
    streaming.p.delete("Event Update Log", _log_of(p, "Seed Buyer"))  # as if subscribed after they existed
    invoice = p.insert({"doctype": "Sales Invoice", "customer": "Seed Buyer", "company": "Seed Corp",
                        "items": [{"item_code": "SEED-A", "qty": 2, "rate": 10},
                                  {"item_code": "SEED-B", "qty": 1, "rate": 5}]})
    streaming.pull()
    local = c.get_list("Sales Invoice", fields=["*"], filters={"remote_docname": invoice["name"]})
    assert len(local) == 1, local
    local_doc = c.get("Sales Invoice", local[0]["name"])
    assert local_doc["remote_site_name"] == streaming.producer.url
    assert local_doc["grand_total"] == 25
    assert sorted(r["item_code"] for r in local_doc["items"]) == ["SEED-A", "SEED-B"]
    assert c.get("Company", "Seed Corp")["abbr"] == "SC"
    assert c.get("Customer", "Seed Buyer")


def _log_of(api, docname: str) -> str:
    logs = api.get_list("Event Update Log", filters={"docname": docname})
    return logs[0]["name"]


def test_local_naming_never_confuses_a_local_document_of_the_same_name(streaming) -> None:
    p, c = streaming.p, streaming.c
    p.insert({"doctype": "Customer", "customer_name": "Twin Buyer"})
    streaming.pull()
    remote = p.insert({"doctype": "Sales Invoice", "customer": "Twin Buyer", "remarks": "from hq",
                       "items": [{"item_code": _item(p, "TWIN-1"), "qty": 1, "rate": 1}]})
    streaming.pull()
    # the consumer makes its own invoice, which takes the same series number on its own site
    mine = c.insert({"doctype": "Sales Invoice", "customer": "Twin Buyer", "remarks": "local",
                     "items": [{"item_code": "TWIN-1", "qty": 1, "rate": 1}]})
    p.update("Sales Invoice", remote["name"], {"remarks": "changed at hq"})
    streaming.pull()
    assert c.get("Sales Invoice", mine["name"])["remarks"] == "local"
    synced = c.get_list("Sales Invoice", fields=["name", "remarks"], filters={"remote_docname": remote["name"]})
    assert [s["remarks"] for s in synced] == ["changed at hq"]
    # comparing the sites matches copies by remote_docname: the local invoice of the same name is no copy
    compared = streaming.consumer.cli("sync", "compare", streaming.producer.url, "--json", check=False)
    invoices = next(d for d in json.loads(compared.stdout) if d["doctype"] == "Sales Invoice")
    assert invoices["only_here"] == invoices["only_there"] == [], invoices
    c.delete("Sales Invoice", synced[0]["name"])  # the copy deleted here by hand
    compared = streaming.consumer.cli("sync", "compare", streaming.producer.url, "--json", check=False)
    invoices = next(d for d in json.loads(compared.stdout) if d["doctype"] == "Sales Invoice")
    assert compared.returncode == 1 and invoices["only_there"] == [remote["name"]] and invoices["only_here"] == []


def _item(api, code: str) -> str:
    api.insert({"doctype": "Item", "item_code": code, "standard_rate": 1})
    return code


def test_submit_cancel_and_child_rows(streaming) -> None:
    p, c = streaming.p, streaming.c
    p.insert({"doctype": "Customer", "customer_name": "Rows Buyer"})
    for code in ("ROW-A", "ROW-B", "ROW-C"):
        _item(p, code)
    inv = p.insert({"doctype": "Sales Invoice", "customer": "Rows Buyer",
                    "items": [{"item_code": "ROW-A", "qty": 1, "rate": 1}, {"item_code": "ROW-B", "qty": 1, "rate": 2}]})
    streaming.pull()
    rows = p.get("Sales Invoice", inv["name"])["items"]
    changed = [{**rows[0], "qty": 5}, {"item_code": "ROW-C", "qty": 1, "rate": 3}]  # B removed, C added
    p.update("Sales Invoice", inv["name"], {"items": changed})
    streaming.pull()
    local_name = c.get_list("Sales Invoice", filters={"remote_docname": inv["name"]})[0]["name"]
    local = c.get("Sales Invoice", local_name)
    assert [(r["item_code"], r["qty"]) for r in local["items"]] == [("ROW-A", 5.0), ("ROW-C", 1.0)]
    assert local["items"][0]["name"] == rows[0]["name"], "a changed row keeps its name"
    assert local["grand_total"] == 8
    p.call("docstream.submit", doctype="Sales Invoice", name=inv["name"])
    streaming.pull()
    assert c.get("Sales Invoice", local_name)["docstatus"] == 1
    p.call("docstream.cancel", doctype="Sales Invoice", name=inv["name"])
    streaming.pull()
    assert c.get("Sales Invoice", local_name)["docstatus"] == 2


def test_submitted_document_arrives_submitted(streaming) -> None:
    p, c = streaming.p, streaming.c
    p.insert({"doctype": "Customer", "customer_name": "Direct Buyer"})
    inv = p.insert({"doctype": "Sales Invoice", "customer": "Direct Buyer", "docstatus": 1,
                    "items": [{"item_code": _item(p, "DIRECT-1"), "qty": 1, "rate": 1}]})
    streaming.pull()
    local = c.get_list("Sales Invoice", fields=["docstatus"], filters={"remote_docname": inv["name"]})
    assert local == [{"docstatus": 1}]


def test_dynamic_and_nested_dependencies(streaming) -> None:
    p, c = streaming.p, streaming.c
    p.insert({"doctype": "Customer", "customer_name": "Nested Buyer"})
    inv = p.insert({"doctype": "Sales Invoice", "customer": "Nested Buyer",
                    "items": [{"item_code": _item(p, "NEST-1"), "qty": 1, "rate": 1}]})
    # only the ToDo reaches the consumer first: its Dynamic Link needs the invoice, which needs the rest
    for name in ("Nested Buyer", "NEST-1", inv["name"]):
        for log in p.get_list("Event Update Log", filters={"docname": name}):
            p.delete("Event Update Log", log["name"])
    todo = p.insert({"doctype": "ToDo", "description": "follow up", "reference_type": "Sales Invoice",
                     "reference_name": inv["name"]})
    streaming.pull()
    # the invoice is named by the consumer (use same name off): the ToDo links to the local name,
    # never to an unrelated local invoice that happens to carry the producer's name
    (local_inv,) = c.get_list("Sales Invoice", fields=["name", "customer"], filters={"remote_docname": inv["name"]})
    assert local_inv["customer"] == "Nested Buyer"
    assert c.get("ToDo", todo["name"])["reference_name"] == local_inv["name"]
    assert c.get("Item", "NEST-1")


def test_condition_streams_only_matching_documents(streaming) -> None:
    p, c = streaming.p, streaming.c
    private = p.insert({"doctype": "Note", "title": "private", "public": 0})
    public = p.insert({"doctype": "Note", "title": "public", "public": 1})
    streaming.pull()
    assert c.get_list("Note", filters={"name": private["name"]}) == []
    assert c.get("Note", public["name"])["title"] == "public"
    p.update("Note", private["name"], {"public": 1, "content": "now shared"})
    streaming.pull()
    arrived = c.get("Note", private["name"])
    assert arrived["content"] == "now shared" and arrived["title"] == "private", "arrives whole"


def test_unsubscribe_and_add_a_doctype_later(streaming) -> None:
    p, c = streaming.p, streaming.c
    producer = c.get("Event Producer", streaming.producer.url)
    rows = producer["producer_doctypes"] + [{"ref_doctype": "Company", "use_same_name": 1}]
    for row in rows:
        if row["ref_doctype"] == "Supplier":
            row["unsubscribe"] = 1
    c.update("Event Producer", streaming.producer.url, {"producer_doctypes": rows})
    consumer = p.get("Event Consumer", streaming.consumer.url)
    by_type = {r["ref_doctype"]: r for r in consumer["consumer_doctypes"]}
    assert by_type["Company"]["status"] == "Pending"
    assert by_type["Supplier"]["unsubscribed"] == 1
    assert by_type["Customer"]["status"] == "Approved"
    p.insert({"doctype": "Supplier", "supplier_name": "After Unsubscribe"})
    p.insert({"doctype": "Company", "company_name": "Pending Co", "abbr": "PC"})
    streaming.pull()
    assert c.get_list("Supplier", filters={"name": "After Unsubscribe"}) == []
    assert c.get_list("Company", filters={"name": "Pending Co"}) == []
    streaming.approve("Company")
    p.insert({"doctype": "Company", "company_name": "Approved Co", "abbr": "AC"})
    streaming.pull()
    assert c.get("Company", "Approved Co")["abbr"] == "AC"
    statuses = {r["ref_doctype"]: r["status"] for r in c.get("Event Producer", streaming.producer.url)["producer_doctypes"]}
    assert statuses["Company"] == "Approved"


def test_notification_drives_sync_without_a_manual_pull(streaming) -> None:
    streaming.p.insert({"doctype": "Customer", "customer_name": "Notified Ltd"})
    wait_for(lambda: streaming.c.get_list("Customer", filters={"name": "Notified Ltd"}), timeout=30,
             what="the notification-driven pull")


def test_status_reports_cursor_and_failures(streaming) -> None:
    streaming.pull()
    status = streaming.c.call("docstream.streaming.status")
    (producer,) = status["producers"]
    assert producer["producer_url"] == streaming.producer.url
    assert producer["cursor"] > 0 and producer["behind"] == 0
    consumer_view = streaming.p.call("docstream.streaming.status")["consumers"]
    assert consumer_view[0]["callback_url"] == streaming.consumer.url
    assert SUBSCRIBER


def _status_text(site, columns: int) -> str:
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([sys.executable, "-m", "docstream", "--sites-dir", str(site.sites_dir), "--site", site.name,
                           "sync", "status"], capture_output=True, text=True, env=env, timeout=60, check=True).stdout


def test_status_text_never_cuts_a_url_or_a_timestamp(streaming) -> None:
    streaming.pull()
    (producer,) = streaming.c.call("docstream.streaming.status")["producers"]
    for columns in (80, 400):  # piped or an 80-column terminal: one block per producer; wide: a table
        text = _status_text(streaming.consumer, columns)
        assert streaming.producer.url in text and producer["last_success"] in text, text
        assert ("┃ producer" in text) == (columns == 400), text
    assert streaming.consumer.url in _status_text(streaming.producer, 80), "the consumers' URLs too"


def test_a_json_value_deeper_than_the_limit_stored_before_it_does_not_stick_the_feed(serve) -> None:
    """A value nested past today's limit (100 levels) but stored before the limit existed, in the
    document and in its Create log: the producer still answers it and the feed still carries it;
    the consumer refuses it (417's ValidationError) and logs that one event Failed, and the
    documents after it keep streaming."""
    from docstream import deepjson
    from docstream.site import Site

    pair = Pair(serve("hq-deep.local"), serve("store-deep.local", extra_args=["--no-worker"]))
    for api in (pair.p, pair.c):
        api.insert({"doctype": "Custom Field", "dt": "Note", "fieldname": "payload", "fieldtype": "JSON",
                    "label": "Payload"})
    pair.subscribe([{"ref_doctype": "Note", "use_same_name": 1}])
    legacy = pair.p.insert({"doctype": "Note", "title": "legacy", "payload": []})
    deep = "[" * 3000 + "]" * 3000  # past what json itself can read or write
    site = Site.open("hq-deep.local", pair.producer.sites_dir)
    try:
        with site.db.transaction():  # as an older version stored it
            site.db.sql('UPDATE "tabNote" SET payload = ? WHERE name = ?', (deep, legacy["name"]))
            log = site.db.sql('SELECT sequence, data FROM "tabEvent Update Log" WHERE docname = ?', (legacy["name"],))[0]
            data = json.loads(log["data"])
            data["payload"] = "@deep@"
            site.db.sql('UPDATE "tabEvent Update Log" SET data = ? WHERE sequence = ?',
                        (json.dumps(data).replace('"@deep@"', deep), log["sequence"]))
    finally:
        site.close()
    after = pair.p.insert({"doctype": "Note", "title": "after", "payload": {"a": [1]}})

    answer = pair.p.http.get(f"/api/resource/Note/{legacy['name']}")
    assert answer.status_code == 200 and deepjson.depth(deepjson.loads(answer.content)) == 3002
    feed = pair.p.http.post("/api/method/docstream.streaming.get_updates",
                            json={"event_consumer": pair.consumer.url, "after": 0})
    assert feed.status_code == 200, feed.text[:300]
    assert [e["docname"] for e in deepjson.loads(feed.content)["message"]["events"]] == [legacy["name"], after["name"]]

    assert pair.pull() == {"synced": 1, "failed": 1, "held": 0}
    logs = {log["producer_doc"]: log for log in pair.sync_logs()}
    assert logs[legacy["name"]]["status"] == "Failed"
    assert "Payload: a JSON value may be nested at most 100 levels deep" in logs[legacy["name"]]["error"]
    assert logs[after["name"]]["status"] == "Synced"
    assert pair.c.get("Note", after["name"])["payload"] == {"a": [1]}
    later = pair.p.insert({"doctype": "Note", "title": "later"})
    assert pair.pull() == {"synced": 1, "failed": 0, "held": 0}
    assert pair.c.get("Note", later["name"])["title"] == "later"
