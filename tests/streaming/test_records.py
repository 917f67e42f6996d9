"""The engine's own records are stored exactly as the Document layer's normalising path would
store them, and update logs take consecutive sequence numbers on either backend."""

from __future__ import annotations

import pytest

from docstream.errors import UnknownFieldError
from docstream.model import rows, validation
from docstream.streaming import records
from docstream.streaming import retention
from docstream.streaming.updatelog import append_log, head

STAMPS = ("name", "creation", "modified")
UPDATE_LOG = {"update_type": "Update", "ref_doctype": "ToDo", "docname": "abc", "data": '{"changed":{}}',
              "origin": None, "routing": {"http://store:8000": "create"}, "snapshot": "{}"}
SYNC_LOG = {"update_type": "Create", "ref_doctype": "ToDo", "status": "Failed", "event_producer": "http://hq:8000",
            "producer_doc": "abc", "docname": None, "use_same_name": 1, "mapping": None, "sequence": 7,
            "data": "{}", "error": "ValidationError: no", "held_by": None}


@pytest.mark.parametrize("doctype, values", [("Event Update Log", UPDATE_LOG), ("Event Sync Log", SYNC_LOG),
                                             ("Event Update Log", {"update_type": "Create", "ref_doctype": "ToDo"})])
def test_a_record_is_the_row_normalising_would_store(make_site, doctype: str, values: dict) -> None:
    site = make_site()
    session = site.session()
    meta = session.meta(doctype)
    built = records.build(session, doctype, values)
    reference = validation.normalise(meta, {"doctype": doctype, **values}, session.meta, fill_defaults=True)
    reference.update(owner=session.user, modified_by=session.user, **{k: built[k] for k in STAMPS})
    assert built == reference
    assert rows.values(meta, built) == [rows.to_db_value(meta, c, reference.get(c)) for c in meta.columns]


def test_a_record_with_an_unknown_field_is_refused(make_site) -> None:
    session = make_site().session()
    with pytest.raises(UnknownFieldError):
        records.build(session, "Event Sync Log", {"status": "Synced", "nonsense": 1})


def test_update_logs_take_consecutive_sequences_and_a_rollback_leaves_nothing(make_site, db_url_for) -> None:
    """A rolled-back append leaves no log: on SQLite its number is given to the next change (no
    reader saw it); PostgreSQL takes numbers from a sequence, which leaves it unused, a gap."""
    site = make_site(db_url=db_url_for("site1"))
    session = site.session()
    with site.db.transaction():
        first = append_log(session, {"update_type": "Create", "ref_doctype": "ToDo", "docname": "a"})
        second = append_log(session, {"update_type": "Update", "ref_doctype": "ToDo", "docname": "a",
                                      "routing": {"http://store:8000": "skip"}})
    with pytest.raises(KeyError):
        with site.db.transaction():
            append_log(session, {"update_type": "Delete", "ref_doctype": "ToDo", "docname": "a"})
            raise KeyError("rolled back")
    third = append_log(session, {"update_type": "Delete", "ref_doctype": "ToDo", "docname": "a"})
    after_gap = 3 if site.db.dialect == "sqlite" else 4
    assert [first["sequence"], second["sequence"], third["sequence"]] == [1, 2, after_gap]
    stored = site.db.sql('SELECT name, sequence, update_type, routing FROM "tabEvent Update Log" ORDER BY sequence')
    assert [(r["sequence"], r["update_type"]) for r in stored] == [(1, "Create"), (2, "Update"), (after_gap, "Delete")]
    assert rows.to_doc(session.meta("Event Update Log"), stored[1])["routing"] == {"http://store:8000": "skip"}
    assert head(session) == after_gap
    assert [r["name"] for r in stored] == ["1", "2", str(after_gap)]  # a log is named by its sequence


def test_an_append_writes_none_as_null_and_each_value_in_its_column(make_site, db_url_for) -> None:
    """The append writes a None field as NULL in its text and binds only the others (numbered
    parameters on SQLite): whichever fields a log has, each lands in its own column."""
    from docstream.streaming.updatelog import LOG_FIELDS

    site = make_site(db_url=db_url_for("site1"))
    session = site.session()
    full = {"update_type": "Update", "ref_doctype": "ToDo", "docname": "a", "data": '{"changed":{"x":1}}',
            "origin": "http://hq:8000", "target": "http://store:8000", "routing": {"http://store:8000": "create"},
            "snapshot": '{"x":1}', "source": "http://other:8000"}
    optional = [k for k in LOG_FIELDS if k not in ("update_type", "ref_doctype", "docname")]
    shapes = [set(), set(optional), set(optional[::2]), set(optional[1::2]), {"routing"}, {"snapshot", "origin"}]
    appended = [append_log(session, {k: v for k, v in full.items() if k not in optional or k in shape}) for shape in shapes]
    for log, shape in zip(appended, shapes):
        stored = session.get("Event Update Log", log["name"])
        assert {k: stored[k] for k in LOG_FIELDS} == {k: full[k] if k not in optional or k in shape else None
                                                      for k in LOG_FIELDS}
        assert (stored["owner"], stored["modified_by"], stored["creation"]) == (session.user, session.user, log["creation"])
        assert stored["modified"] == stored["creation"] and stored["name"] == str(stored["sequence"])
    assert [log["sequence"] for log in appended] == list(range(1, len(shapes) + 1))


def test_a_deleted_head_leaves_its_number_behind(make_site, db_url_for) -> None:
    """Consumers hold cursors by sequence: a number given once must never be given again, even
    when the newest logs are deleted (by hand, or by retention once every consumer has them)."""
    site = make_site(db_url=db_url_for("site1"))
    session = site.session()
    for _ in range(3):
        append_log(session, {"update_type": "Create", "ref_doctype": "ToDo", "docname": "a"})
    session.delete("Event Update Log", "3")
    assert head(session) == 3
    assert append_log(session, {"update_type": "Delete", "ref_doctype": "ToDo", "docname": "a"})["sequence"] == 4
    site.db.sql('UPDATE "tabEvent Update Log" SET creation = ?', ("2000-01-01 00:00:00",))
    site.settings["update_log_retention_days"] = 1  # no consumer: every log is passed
    assert retention.prune(site) == 3
    assert site.db.value('SELECT COUNT(*) FROM "tabEvent Update Log"') == 0
    assert append_log(session, {"update_type": "Create", "ref_doctype": "ToDo", "docname": "b"})["sequence"] == 5


def test_postgres_sequence_catches_up_with_the_log_it_did_not_number(make_site, postgres) -> None:
    """PostgreSQL numbers appends from a sequence: a log numbered otherwise — a site made before the
    sequence existed, logs loaded in bulk, a deleted head's floor — must never have its numbers
    given again. Opening the site brings the sequence up to the head, and never back."""
    from docstream.bootstrap import ensure_schema
    from docstream.streaming.updatelog import SEQUENCE, sync_sequence
    from tests.conftest import new_pg_url

    site = make_site(db_url=new_pg_url())
    session = site.session()
    for _ in range(3):
        append_log(session, {"update_type": "Create", "ref_doctype": "ToDo", "docname": "a"})
    # as a site of the previous version was: no sequence, and its append function
    site.db.sql(f"DROP SEQUENCE {SEQUENCE}")
    site.db.sql("CREATE FUNCTION docstream_append_update_log_v1() RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint'")
    ensure_schema(site)  # what opening the site runs
    assert append_log(session, {"update_type": "Create", "ref_doctype": "ToDo", "docname": "b"})["sequence"] == 4
    # logs written with their numbers by other means (a bulk load, a restore of a data-only dump)
    site.db.sql('INSERT INTO "tabEvent Update Log" (sequence, name, update_type, ref_doctype, docname, docstatus, idx) '
                "VALUES (90, '90', 'Create', 'ToDo', 'c', 0, 0)")
    sync_sequence(site.db)
    assert append_log(session, {"update_type": "Create", "ref_doctype": "ToDo", "docname": "d"})["sequence"] == 91
    # the head deleted: its floor row still counts; and the sequence never goes back
    session.delete("Event Update Log", "91")
    site.db.sql(f"SELECT setval('{SEQUENCE}', 5)")
    sync_sequence(site.db)
    assert append_log(session, {"update_type": "Delete", "ref_doctype": "ToDo", "docname": "d"})["sequence"] == 92
    site.db.sql(f"SELECT setval('{SEQUENCE}', 500)")
    sync_sequence(site.db)
    assert append_log(session, {"update_type": "Create", "ref_doctype": "ToDo", "docname": "e"})["sequence"] == 501
    assert site.db.value("SELECT COUNT(*) FROM pg_proc WHERE proname LIKE 'docstream_append_update_log%'") == 0


def test_the_log_is_keyed_by_sequence_with_no_other_index(make_site, db_url_for) -> None:
    site = make_site(db_url=db_url_for("site1"))
    if site.db.dialect == "sqlite":
        indexes = {r["name"] for r in site.db.sql("PRAGMA index_list(\"tabEvent Update Log\")")}
        pk = [r["name"] for r in site.db.sql("PRAGMA table_info(\"tabEvent Update Log\")") if r["pk"]]
    else:
        indexes = {r["indexname"] for r in site.db.sql("SELECT indexname FROM pg_indexes WHERE tablename = ?", ("tabEvent Update Log",))}
        pk = [r["attname"] for r in site.db.sql(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = '\"tabEvent Update Log\"'::regclass AND i.indisprimary")]
    assert pk == ["sequence"]
    assert len(indexes) == (0 if site.db.dialect == "sqlite" else 1)  # (the primary key's); a name is found by its key
    session = site.session()
    log = append_log(session, {"update_type": "Create", "ref_doctype": "ToDo", "docname": "a"})
    assert session.get("Event Update Log", log["name"])["docname"] == "a"
    assert [r["name"] for r in session.get_list("Event Update Log", filters={"name": log["name"]})] == [log["name"]]
    session.delete("Event Update Log", log["name"])
    assert not session.exists("Event Update Log", log["name"])


@pytest.mark.parametrize("backend_url", ["sqlite", "postgres"])
def test_a_change_s_own_log_has_every_field_in_its_column(make_site, backend_url, request) -> None:
    """``_log`` builds the append's parameters inline: each value lands in its own column — the
    data, the origin, the routing and the snapshot of a change that starts to meet a condition."""
    import json

    if backend_url == "postgres":
        request.getfixturevalue("postgres")
    from tests.conftest import new_pg_url

    site = make_site(db_url=new_pg_url() if backend_url == "postgres" else None)
    session = site.session()
    session.insert({"doctype": "Event Consumer", "callback_url": "http://127.0.0.1:9", "user": "Administrator",
                    "api_key": "k", "api_secret": "s", "consumer_doctypes": [
                        {"ref_doctype": "ToDo", "status": "Approved", "condition": "doc.status == 'Closed'"}]})
    name = session.insert({"doctype": "ToDo", "description": "watched"})["name"]
    site.session(origin="http://hq:8000").update("ToDo", name, {"status": "Closed"})
    logs = session.get_list("Event Update Log", fields=["*"], order_by="sequence asc")
    # the Create was skipped by the only consumer's condition: no log; the change that meets it is sent as a Create
    assert [(log["update_type"], log["docname"], log["ref_doctype"]) for log in logs] == [("Update", name, "ToDo")]
    (update,) = logs
    assert update["routing"] == {"http://127.0.0.1:9": "create"} and update["origin"] == "http://hq:8000"
    assert json.loads(update["data"])["changed"] == {"status": "Closed"}
    snapshot = json.loads(update["snapshot"])
    assert (snapshot["status"], snapshot["description"]) == ("Closed", "watched") and update["target"] is None
    assert update["name"] == str(update["sequence"])


def test_an_update_log_leaves_out_the_column_of_a_deleted_custom_field(make_site, db_url_for) -> None:
    """The column of a deleted Custom Field is no part of the document: an update's diff is the
    change made, not a removal of that field for every consumer."""
    import json

    site = make_site(db_url=db_url_for("site1"))
    session = site.session()
    session.insert({"doctype": "Event Consumer", "callback_url": "http://127.0.0.1:9", "user": "Administrator",
                    "api_key": "k", "api_secret": "s", "consumer_doctypes": [{"ref_doctype": "ToDo", "status": "Approved"}]})
    session.insert({"doctype": "Custom Field", "dt": "ToDo", "fieldname": "extra", "fieldtype": "Data"})
    todo = session.insert({"doctype": "ToDo", "description": "first", "extra": "kept"})
    session.delete("Custom Field", "ToDo-extra")
    session.update("ToDo", todo["name"], {"description": "second"})
    session.save({**session.get("ToDo", todo["name"]), "description": "third"})
    logs = session.get_list("Event Update Log", fields=["update_type", "data"], order_by="sequence asc")
    assert [(log["update_type"], json.loads(log["data"])["changed"]) for log in logs[1:]] == [
        ("Update", {"description": "second"}), ("Update", {"description": "third"})]
