"""The engine's own records are stored exactly as the Document layer's normalising path would
store them, and update logs take consecutive sequence numbers on either backend."""

from __future__ import annotations

import pytest

from docstream.errors import UnknownFieldError
from docstream.model import rows, validation
from docstream.streaming import records
from docstream.streaming.updatelog import SEQUENCE_KEY, append_log, head

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


def test_update_logs_take_consecutive_sequences_and_a_rollback_gives_its_number_back(make_site, db_url_for) -> None:
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
    assert [first["sequence"], second["sequence"], third["sequence"]] == [1, 2, 3]
    stored = site.db.sql('SELECT sequence, update_type, routing FROM "tabEvent Update Log" ORDER BY sequence')
    assert [(r["sequence"], r["update_type"]) for r in stored] == [(1, "Create"), (2, "Update"), (3, "Delete")]
    assert rows.to_doc(session.meta("Event Update Log"), stored[1])["routing"] == {"http://store:8000": "skip"}
    assert head(session) == 3 == site.db.value('SELECT current FROM "tabSeries" WHERE name = ?', (SEQUENCE_KEY,))
