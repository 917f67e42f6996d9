"""What streaming adds to a write's round trips on PostgreSQL: nothing. The subscribers read goes
with the row's own statement, and the log's append with the COMMIT."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import new_pg_url
from tests.support.roundtrips import RoundTrips

SUBSCRIBERS = 'FROM "tabEvent Consumer Document Type"'
APPEND = "docstream_event_update_log_seq"  # what only the update log's append names


@pytest.fixture
def pg_site(make_site, postgres):
    return make_site(db_url=new_pg_url())


def _write_todo(session: Any) -> None:
    name = session.insert({"doctype": "ToDo", "description": "counted"})["name"]
    session.update("ToDo", name, {"status": "Closed"})
    session.delete("ToDo", name)


def _counted_writes(site: Any) -> tuple[Any, RoundTrips]:
    """A ToDo inserted, updated and deleted (after a warm-up insert), each its own transaction,
    its round trips counted."""
    session = site.session()
    session.insert({"doctype": "ToDo", "description": "warm-up"})
    trips = RoundTrips(site.db)
    _write_todo(session)
    return session, trips


@pytest.mark.postgres
def test_a_write_nobody_subscribes_to_reads_its_subscribers_with_its_own_statement(pg_site) -> None:
    _, trips = _counted_writes(pg_site)
    reads = trips.carrying(SUBSCRIBERS)
    assert len(reads) == 3  # one per transaction: insert, update, delete
    for trip, statement in zip(reads, ('INSERT INTO "tabToDo"', 'UPDATE "tabToDo"', 'DELETE FROM "tabToDo"')):
        assert any(q.startswith(statement) for q in trip), trip  # never a round trip of its own
        assert any("pg_advisory_xact_lock_shared" in q for q in trip), trip  # the lock before the read
    assert not trips.carrying(APPEND)


@pytest.mark.postgres
def test_a_streamed_write_makes_the_round_trips_of_a_plain_one(pg_site) -> None:
    session, trips = _counted_writes(pg_site)
    plain = list(trips.trips)
    session.insert({
        "doctype": "Event Consumer", "callback_url": "http://127.0.0.1:9", "user": "Administrator",
        "api_key": "k", "api_secret": "s", "consumer_doctypes": [{"ref_doctype": "ToDo", "status": "Approved"}],
    })
    trips.trips.clear()
    _write_todo(session)
    assert len(trips.trips) == len(plain)
    appends = trips.carrying(APPEND)
    assert len(appends) == 3 and all(trip[-1] == "COMMIT" for trip in appends)
    logs = session.get_list("Event Update Log", fields=["update_type"], order_by="sequence asc")
    assert [r["update_type"] for r in logs] == ["Create", "Update", "Delete"]


class Refused(Exception):
    pass


@pytest.mark.postgres
def test_a_rolled_back_savepoint_gives_the_subscription_lock_back_and_the_read_is_made_again(pg_site) -> None:
    """The apply path writes each event in a savepoint. PostgreSQL releases a lock taken inside a
    savepoint that is rolled back, so the subscribers read under it must be forgotten too: the
    next write takes the lock and reads again (else an approval could slip in unseen)."""
    import psycopg

    from docstream.storage.postgres import advisory_key
    from docstream.streaming.updatelog import SUBSCRIPTION_LOCK

    session, db = pg_site.session(), pg_site.db
    trips = RoundTrips(db)
    with psycopg.connect(pg_site.db.url, autocommit=True) as other:
        with db.transaction():
            with pytest.raises(Refused):
                with db.savepoint():
                    session.insert({"doctype": "ToDo", "description": "given up"})
                    raise Refused()
            assert SUBSCRIPTION_LOCK not in db.memo
            free = other.execute("SELECT pg_try_advisory_lock(%s)", (advisory_key(SUBSCRIPTION_LOCK),)).fetchone()[0]
            assert free  # the lock went with the savepoint...
            other.execute("SELECT pg_advisory_unlock(%s)", (advisory_key(SUBSCRIPTION_LOCK),))
            with db.savepoint():
                session.insert({"doctype": "ToDo", "description": "kept"})
            taken = other.execute("SELECT pg_try_advisory_lock(%s)", (advisory_key(SUBSCRIPTION_LOCK),)).fetchone()[0]
            assert not taken  # ...and the next write took it again
    assert len(trips.carrying(SUBSCRIBERS)) == 2


@pytest.mark.postgres
def test_a_subscribers_read_lost_with_a_failed_statement_is_made_again(pg_site) -> None:
    """The read travels with the next statement; when that statement fails (inside a savepoint,
    as an event being applied may), the read's answer is lost with it. The next write of that
    DocType reads again instead of failing."""
    from docstream.errors import DocstreamError
    from docstream.streaming import updatelog

    session, db = pg_site.session(), pg_site.db
    with db.transaction():
        session.insert({"doctype": "ToDo", "description": "takes the subscription lock first"})
        with pytest.raises(DocstreamError):
            with db.savepoint():
                updatelog._before_write(session, {"doctype": "Note", "title": "x"}, None)
                db.sql("SELECT 1 / 0")  # the deferred read travels with this, and is lost with it
        note = session.insert({"doctype": "Note", "title": "written after the failure"})["name"]
    assert session.get("Note", note)["title"] == "written after the failure"


@pytest.mark.postgres
def test_a_savepoint_costs_no_round_trip_of_its_own(pg_site) -> None:
    """Each applied event runs in a savepoint: SAVEPOINT travels with the event's first statement
    and RELEASE with the next one (or the COMMIT); only a rollback is sent at once. BEGIN, too,
    travels with the transaction's first statement."""
    db = pg_site.db
    trips = RoundTrips(db)
    with db.transaction():
        for _ in range(2):
            with db.savepoint():
                db.sql('SELECT 1 AS one')
    assert trips.trips == [
        ["BEGIN", "SAVEPOINT sp1", "SELECT 1 AS one"], ["RELEASE SAVEPOINT sp1", "SAVEPOINT sp2", "SELECT 1 AS one"],
        ["RELEASE SAVEPOINT sp2", "COMMIT"]]


@pytest.mark.postgres
def test_a_batch_is_one_message_its_statements_still_their_own(pg_site) -> None:
    """A batch (BEGIN, deferred statements, the statement that sends them) goes in one message:
    each statement keeps its own rows and row count, its parameters typed as psycopg types them,
    and the first that fails fails the batch (its error, translated) and the transaction."""
    from docstream.errors import DuplicateEntryError

    db = pg_site.db
    db.sql("CREATE TABLE batch_probe (name TEXT PRIMARY KEY, n BIGINT, doc JSONB, at TIMESTAMP)")
    seen: list[list] = []
    with db.transaction():
        db.defer("INSERT INTO batch_probe VALUES (?, ?, ?::jsonb, ?::timestamp)", ("a", 2**40, '{"x": [1]}', "2026-11-27 10:00:00"))
        db.defer("UPDATE batch_probe SET n = n + ? WHERE name = ?", (1, "a"), on_rows=seen.append)
        assert db.execute("UPDATE batch_probe SET n = n + 1 WHERE name LIKE ?", ("%",)) == 1
        row = db.sql("SELECT name, n, doc, at FROM batch_probe")[0]
    assert seen == [[]]
    assert (row["name"], row["n"], row["doc"], row["at"].isoformat(" ")) == ("a", 2**40 + 2, {"x": [1]}, "2026-11-27 10:00:00")
    with pytest.raises(DuplicateEntryError):
        with db.transaction():
            db.defer("INSERT INTO batch_probe (name, n) VALUES (?, ?)", ("b", 1))
            db.defer("INSERT INTO batch_probe (name, n) VALUES (?, ?)", ("a", 1))  # fails: its batch with it
            db.sql("INSERT INTO batch_probe (name, n) VALUES (?, ?)", ("c", 1))
    assert [r["name"] for r in db.sql("SELECT name FROM batch_probe ORDER BY name")] == ["a"]
    # after a failed batch and its rollback the connection serves the next transaction as before
    with db.transaction():
        db.defer("INSERT INTO batch_probe (name, n) VALUES (?, ?)", ("d", 4))
    assert db.value("SELECT n FROM batch_probe WHERE name = ?", ("d",)) == 4
