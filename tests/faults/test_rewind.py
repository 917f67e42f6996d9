"""A producer restored from a backup (or one that lost its last commits) gives sequence numbers
again that its consumers have already read, to other changes. Read on from the cursor, those
changes would be passed over without a sign. The change feed refuses the cursor instead, and the
consumer takes a new baseline: every document it is subscribed to, sent again.

The restore is the real one a user makes: ``docstream backup`` while the producer is served,
later ``docstream restore`` of that backup with the producer stopped, and the producer started again.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import new_pg_url
from tests.faults.conftest import FaultPair, Sites, make_pair

ROWS = [{"ref_doctype": "ToDo", "use_same_name": 1},
        {"ref_doctype": "Note", "use_same_name": 1, "condition": "doc.public == 1"}]


def _todos(api) -> dict[str, tuple[str, str]]:
    return {d["name"]: (d["description"], d["status"])
            for d in api.get_list("ToDo", fields=["name", "description", "status"], limit_page_length=0)}


def _notes(api) -> set[str]:
    return {d["name"] for d in api.get_list("Note", fields=["name"], limit_page_length=0)}


def _new_todos(pair: FaultPair, tag: str, n: int) -> list[str]:
    return [pair.p.insert({"doctype": "ToDo", "description": f"{tag} {i}"})["name"] for i in range(n)]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
@pytest.mark.parametrize("after_restore", [0, 9], ids=["log-ends-before-cursor", "numbers-given-again"])
def test_a_producer_restored_from_a_backup_is_rebaselined_and_nothing_is_skipped(
        sites: Sites, request: pytest.FixtureRequest, backend: str, after_restore: int) -> None:
    if backend == "postgres":
        request.getfixturevalue("postgres")
    _restore_and_pull(make_pair(sites, f"rewind-{backend}-{after_restore}", consumer_worker=False,
                                producer_db=new_pg_url() if backend == "postgres" else None), after_restore)


@pytest.mark.parametrize("knows", ["the restore", "nothing"])
def test_where_the_consumer_remembers_no_page_end_it_reads_from_the_restore_or_the_start(
        sites: Sites, knows: str) -> None:
    """A consumer of an older version kept no page ends: it reads on from the head the restore
    noted, or, when the log was put back by hand (no note), from the beginning."""
    pair = make_pair(sites, f"rewind-{knows.split()[-1]}", consumer_worker=False)
    _restore_and_pull(pair, 9, forget_page_ends=True, by_hand=knows == "nothing")


def _restore_and_pull(pair: FaultPair, after_restore: int, forget_page_ends: bool = False,
                      by_hand: bool = False) -> None:
    pair.subscribe(ROWS)
    kept = _new_todos(pair, "before the backup", 6)
    pair.p.insert({"doctype": "Note", "title": "public before", "public": 1})
    assert pair.pull()["synced"] == 7

    backup = pair.producer.server.cli("backup").stdout.strip()
    lost = _new_todos(pair, "lost in the restore", 4)
    pair.p.update("ToDo", kept[0], {"description": "changed, then lost"})
    assert pair.pull()["synced"] == 5
    cursor = pair.state()["cursor"]

    pair.producer.server.stop()
    pair.producer.server.cli("restore", backup, "--yes")
    if by_hand:  # as if the file had been copied back: no note of where the log went back to
        pair.producer.db().sql('DELETE FROM "tabSeries" WHERE name = ?', ("docstream:restored-head",))
    if forget_page_ends:
        pair.consumer.db().sql('UPDATE "__sync_state" SET marks = NULL')
    pair.producer.start()
    assert pair.head() < cursor  # the log is back where the backup left it
    made = _new_todos(pair, "after the restore", after_restore)
    pair.p.update("ToDo", kept[1], {"status": "Closed"})
    pair.p.delete("ToDo", kept[2])  # a deletion: no baseline could carry it
    public = pair.p.insert({"doctype": "Note", "title": "public after", "public": 1})["name"]
    private = pair.p.insert({"doctype": "Note", "title": "private after", "public": 0})["name"]
    assert (pair.head() < cursor) == (after_restore == 0)  # or the numbers the consumer read are given again

    counts = pair.pull()
    assert counts["failed"] == 0
    producer, consumer = _todos(pair.p), _todos(pair.c)
    assert {name: consumer.get(name) for name in producer} == producer  # every ToDo as the producer has it now
    assert set(made) <= set(consumer) and consumer[kept[0]] == producer[kept[0]]
    assert consumer[kept[1]][1] == "Closed" and kept[2] not in consumer
    assert set(consumer) - set(producer) == set(lost)  # what the producer no longer has stays (see rebaseline.py)
    assert public in _notes(pair.c) and private not in _notes(pair.c)  # the baseline keeps to the condition
    state = pair.state()
    assert "rewound below sequence" in (state.get("rebaselined") or ""), state
    assert state["cursor"] == pair.head() and not state["last_error"]
    assert "re-baselined:" in pair.consumer.server.cli("sync", "status").stdout
    assert "Re-baselined:" in pair.c.http.get("/app/event-streaming").text

    # what the baseline could not take back is found by comparing the two sites
    compared = pair.consumer.server.cli("sync", "compare", pair.producer_url, "--json", check=False)
    assert compared.returncode == 1, compared.stderr  # they differ
    found = {d["doctype"]: d for d in json.loads(compared.stdout)}
    assert found["ToDo"]["only_here"] == sorted(lost) and found["ToDo"]["only_there"] == []
    assert found["Note"]["only_here"] == found["Note"]["only_there"] == []  # the private Note is not missing

    # and streaming goes on from the new baseline, the cursor checked against the log again
    later = _new_todos(pair, "later", 1)[0]
    assert pair.pull()["synced"] == 1 and later in _todos(pair.c)


def test_a_cursor_past_the_log_or_against_another_log_is_refused(sites: Sites) -> None:
    pair = make_pair(sites, "rewind-refused", consumer_worker=False)
    pair.subscribe(ROWS[:1])
    _new_todos(pair, "task", 3)
    subscriber = pair.producer.subscriber()
    head = pair.head()

    def page(**args) -> httpx.Response:
        return subscriber.http.post("/api/method/docstream.streaming.get_updates",
                                    json={"event_consumer": pair.consumer.public_url, **args})

    good = page(after=head - 1).json()["message"]
    assert len(good["events"]) == 1 and isinstance(good["last_mark"], str)
    assert page(after=head, after_mark=good["last_mark"]).status_code == 200
    for bad in (page(after=head + 1), page(after=head, after_mark="0" * 16)):
        assert bad.status_code == 409 and bad.json()["exc_type"] == "LogRewoundError", bad.text
        assert "rewound" in bad.json()["message"]
    assert page(after=head, after_mark=5).status_code == 417  # a mark is text
    before = pair.head()
    assert pair.c.http.post("/api/method/docstream.streaming.rebaseline",  # only the subscriber may ask
                            json={"event_consumer": pair.consumer.public_url}).status_code in (403, 404)
    assert pair.head() == before

    def rebaseline(**args) -> dict:
        r = subscriber.http.post("/api/method/docstream.streaming.rebaseline",
                                 json={"event_consumer": pair.consumer.public_url, **args})
        assert r.status_code == 200, r.text
        return r.json()["message"]

    known = [[head - 2, "f" * 16], [head, good["last_mark"]], [head + 5, "e" * 16]]  # the page ends it read
    first = rebaseline(rewound_from=head + 7, rewound_mark="0" * 16, known=known)
    assert first == {"after": head, "mark": good["last_mark"], "documents": 3}  # the newest that still holds
    assert pair.head() == before + 3
    assert rebaseline(rewound_from=head + 7, rewound_mark="0" * 16, known=known) == first  # again: the same
    assert pair.head() == before + 3  # and nothing sent twice
    again = rebaseline(rewound_from=head + 8)  # another refused cursor: a new baseline; nothing known: from the start
    assert again["after"] == 0 and again["documents"] == 3 and pair.head() == before + 6
    for bad in ([[1]], [["x", "y"]], "[[-1, \"m\"]]", [[1, "m"]] * 65):
        r = subscriber.http.post("/api/method/docstream.streaming.rebaseline",
                                 json={"event_consumer": pair.consumer.public_url, "known": bad})
        assert r.status_code == 417 and "known must be a list" in r.text, r.text
    assert pair.head() == before + 6
    subscriber.http.close()


def test_a_baseline_is_sent_a_page_per_transaction_and_complete(make_site, monkeypatch) -> None:
    from docstream.streaming import consumers, rebaseline

    monkeypatch.setattr(consumers, "BACKFILL_PAGE", 3)
    site = make_site("hq.local")
    session = site.session()
    session.insert({"doctype": "Event Consumer", "callback_url": "http://store.example", "user": "Administrator",
                    "api_key": "k", "api_secret": "s",
                    "consumer_doctypes": [{"ref_doctype": "ToDo", "status": "Approved"},
                                          {"ref_doctype": "Note", "status": "Approved", "condition": "doc.public == 1"},
                                          {"ref_doctype": "Item", "status": "Pending"}]})
    todos = {session.insert({"doctype": "ToDo", "description": f"t{i}"})["name"] for i in range(10)}
    public = {session.insert({"doctype": "Note", "title": f"n{i}", "public": i % 2})["name"] for i in range(5)}
    appended = []  # how many logs each transaction of the baseline appended
    real = site.db.transaction

    def top() -> int:
        return site.db.value('SELECT COALESCE(MAX(sequence), 0) FROM "tabEvent Update Log"')

    @contextmanager
    def counted(*args, **kwargs):
        if site.db.in_transaction:
            with real(*args, **kwargs) as inner:
                yield inner
            return
        before = top()
        with real(*args, **kwargs) as outer:
            yield outer
        appended.append(top() - before)

    monkeypatch.setattr(site.db, "transaction", counted)
    answer = rebaseline.rebaseline(session, "http://store.example", rewound_from=99, rewound_mark=None)
    monkeypatch.setattr(site.db, "transaction", real)
    assert answer["after"] == 0  # no page end known, never restored: the consumer reads everything again
    logs = session.get_list("Event Update Log", fields=["ref_doctype", "docname", "target", "update_type"],
                            filters={"target": "http://store.example"}, limit_page_length=0)
    assert {l["docname"] for l in logs if l["ref_doctype"] == "ToDo"} == todos
    notes = {l["docname"] for l in logs if l["ref_doctype"] == "Note"}
    assert len(notes) == 2 and notes <= public  # only those the condition lets through
    assert all(l["target"] == "http://store.example" and l["update_type"] == "Create" for l in logs)
    assert answer["documents"] == 12 == len(logs)
    pages = [n for n in appended if n]  # a page a transaction: the ToDos' 3+3+3+1, then the public Notes'
    assert pages[:4] == [3, 3, 3, 1] and sum(pages[4:]) == 2 and len(pages[4:]) <= 2
    assert rebaseline.rebaseline(session, "http://store.example", rewound_from=99) == answer


def test_the_state_of_a_site_made_before_marks_gets_their_columns(make_site, db_url_for, sites_dir: Path) -> None:
    from docstream.site import Site

    site = make_site("older.local", db_url=db_url_for("older.local"))
    for column in ("mark", "rebaselined"):  # as a site of the version before had it
        site.db.sql(f'ALTER TABLE "__sync_state" DROP COLUMN {column}')
    site.db.sql('INSERT INTO "__sync_state" (producer, cursor) VALUES (?, ?)', ("http://hq.example", 42))
    assert "mark" not in site.db.table_columns("__sync_state")
    site.close()
    reopened = Site.open("older.local", sites_dir)
    try:
        assert {"mark", "rebaselined"} <= reopened.db.table_columns("__sync_state")
        assert reopened.db.sql('SELECT cursor, mark FROM "__sync_state"') == [{"cursor": 42, "mark": None}]
    finally:
        reopened.close()


def test_compare_names_what_only_one_side_has(sites: Sites) -> None:
    pair = make_pair(sites, "compare", consumer_worker=False)
    pair.subscribe(ROWS)
    todos = _new_todos(pair, "task", 3)
    assert pair.pull()["synced"] == 3
    local = pair.c.insert({"doctype": "ToDo", "description": "the store's own"})["name"]  # never from the producer
    same = pair.consumer.server.cli("sync", "compare", pair.producer_url, check=False)
    assert same.returncode == 0 and "ToDo: the same" in same.stdout and "Note: the same" in same.stdout, same.stdout
    pair.c.delete("ToDo", todos[0])  # deleted by hand here: streaming won't bring it back until it changes there
    differs = pair.consumer.server.cli("sync", "compare", pair.producer_url, check=False)
    assert differs.returncode == 1 and "ToDo: differs" in differs.stdout
    assert f"only there (no copy here): 1: {todos[0]}" in differs.stdout and local not in differs.stdout
    pair.c.update("ToDo", todos[1], {"description": "changed here by hand"})

    # a new baseline asked for here brings both back as the producer has them, and keeps the store's own
    again = pair.consumer.server.cli("sync", "rebaseline", pair.producer_url)
    assert "synced 3, failed 0" in again.stdout and "a new baseline of" in again.stdout, again.stdout
    assert _todos(pair.p).items() <= _todos(pair.c).items() and local in _todos(pair.c)
    assert _todos(pair.c)[todos[1]][0] == "task 1"  # the change made here by hand is undone
    assert pair.consumer.server.cli("sync", "compare", pair.producer_url, check=False).returncode == 0
    missing = pair.consumer.server.cli("sync", "compare", "http://nowhere.example", check=False)
    assert missing.returncode == 1 and "no Event Producer http://nowhere.example" in missing.stderr


def test_a_backup_older_than_the_subscription_is_mended_by_registering_again(sites: Sites) -> None:
    pair = make_pair(sites, "rewind-unsubscribed", consumer_worker=False)
    backup = pair.producer.server.cli("backup").stdout.strip()  # before the consumer ever subscribed
    pair.subscribe(ROWS[:1])
    _new_todos(pair, "before the restore", 3)
    assert pair.pull()["synced"] == 3

    pair.producer.server.stop()
    pair.producer.server.cli("restore", backup, "--yes")
    pair.producer.start()
    made = _new_todos(pair, "after the restore", 2)
    refused = pair.pull_response()
    assert refused.status_code == 404 and "not registered as an Event Consumer" in refused.text, refused.text

    # as docs/howto/backups.md says: the producer's secret entered again registers the consumer again
    pair.c.update("Event Producer", pair.producer_url, {"api_secret": pair.producer.keys["api_secret"]})
    pair.approve("ToDo")
    counts = pair.pull()
    assert counts["failed"] == 0 and set(made) <= set(_todos(pair.c))
    assert _todos(pair.p).items() <= _todos(pair.c).items()
    assert "rewound below sequence" in (pair.state().get("rebaselined") or "")
