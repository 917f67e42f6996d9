"""``db.defer``: a statement that runs just before the transaction's next one (or its commit),
sent with it in one round trip on PostgreSQL — the same effects, in the same order, as running it
at once."""

from __future__ import annotations

import threading

import pytest

from docstream.errors import DuplicateEntryError
from docstream.storage import Database, open_database
from tests.conftest import new_pg_url


class Boom(Exception):
    pass


def test_a_deferred_statement_runs_before_the_next_one(db: Database, table: str) -> None:
    with db.transaction():
        db.defer(f'INSERT INTO "{table}" (name, n) VALUES (?, ?)', ("a", 1))
        db.defer(f'UPDATE "{table}" SET n = n + 1 WHERE name = ?', ("a",))
        assert db.value(f'SELECT n FROM "{table}" WHERE name = ?', ("a",)) == 2


def test_a_deferred_statement_runs_before_commit(db: Database, table: str) -> None:
    with db.transaction():
        db.sql(f'INSERT INTO "{table}" (name, n) VALUES (?, ?)', ("a", 1))
        db.defer(f'UPDATE "{table}" SET n = 5 WHERE name = ?', ("a",))
    assert db.value(f'SELECT n FROM "{table}" WHERE name = ?', ("a",)) == 5


def test_a_deferred_statement_goes_with_a_rolled_back_transaction(db: Database, table: str) -> None:
    with pytest.raises(Boom):
        with db.transaction():
            db.defer(f'INSERT INTO "{table}" (name, n) VALUES (?, ?)', ("a", 1))
            raise Boom()
    with db.transaction():
        db.defer(f'INSERT INTO "{table}" (name, n) VALUES (?, ?)', ("b", 1))
        with pytest.raises(Boom):
            with db.savepoint():
                db.defer(f'INSERT INTO "{table}" (name, n) VALUES (?, ?)', ("c", 1))
                raise Boom()
    assert [r["name"] for r in db.sql(f'SELECT name FROM "{table}"')] == ["b"]


def test_a_failing_deferred_statement_fails_the_next_one(db: Database, table: str) -> None:
    db.sql(f'INSERT INTO "{table}" (name, n) VALUES (?, ?)', ("a", 1))
    with pytest.raises(DuplicateEntryError):
        with db.transaction():
            db.defer(f'INSERT INTO "{table}" (name, n) VALUES (?, ?)', ("a", 2))
            db.sql(f'UPDATE "{table}" SET n = 9')
    assert db.value(f'SELECT n FROM "{table}" WHERE name = ?', ("a",)) == 1


def test_a_deferred_read_hands_its_rows_over_once_they_arrive(db: Database, table: str) -> None:
    """A read deferred with ``on_rows`` gets its rows as of its own place in the order: after the
    statements deferred before it, before the statement it travels with."""
    got: list[list[dict]] = []
    with db.transaction():
        db.defer(f'INSERT INTO "{table}" (name, n) VALUES (?, ?)', ("a", 1))
        db.defer(f'SELECT name, n FROM "{table}" ORDER BY name', on_rows=got.append)
        db.sql(f'INSERT INTO "{table}" (name, n) VALUES (?, ?)', ("b", 2))
        assert got == [[{"name": "a", "n": 1}]]
        db.defer(f'SELECT COUNT(*) AS c FROM "{table}"', on_rows=got.append)
        db.flush()  # sent now, nothing else with it
        assert got[1] == [{"c": 2}]
        db.defer(f'SELECT n FROM "{table}" WHERE name = ?', ("b",), on_rows=got.append)
    assert got[2] == [{"n": 2}]  # with the COMMIT
    with db.transaction():
        db.defer(f'UPDATE "{table}" SET n = 3 WHERE name = ?', ("a",), on_rows=got.append)
        db.flush()
    assert got[3] == []  # a statement without rows hands over none
    with db.transaction():
        db.flush()  # nothing waits: nothing is sent


def test_a_failed_batch_hands_over_no_rows(db: Database, table: str) -> None:
    db.sql(f'INSERT INTO "{table}" (name, n) VALUES (?, ?)', ("a", 1))
    got: list[list[dict]] = []
    with pytest.raises(DuplicateEntryError):
        with db.transaction():
            db.defer(f'INSERT INTO "{table}" (name, n) VALUES (?, ?)', ("a", 2))
            db.defer(f'SELECT n FROM "{table}"', on_rows=got.append)
            db.flush()
    assert got == []


def test_the_memo_lives_as_long_as_the_transaction_and_forgets_a_rolled_back_savepoint(db: Database) -> None:
    with pytest.raises(RuntimeError):
        db.memo  # noqa: B018 - outside a transaction there is none
    with db.transaction():
        db.memo["before"] = 1
        with db.savepoint():
            db.memo["kept"] = 2  # a savepoint that is released keeps what it learnt
        with pytest.raises(Boom):
            with db.savepoint():
                db.memo["inside"] = 3
                db.memo["before"] = 4  # known before: its lock is still held, kept
                raise Boom()
        assert db.memo == {"before": 4, "kept": 2}
    with db.transaction():
        assert db.memo == {}


def test_defer_needs_a_transaction(db: Database, table: str) -> None:
    with pytest.raises(RuntimeError):
        db.defer(f'DELETE FROM "{table}"')


def test_postgres_a_deferred_lock_is_held_from_the_next_statement(postgres: str) -> None:
    db = open_database(new_pg_url(), create=True)
    try:
        held, release = threading.Event(), threading.Event()

        def holder() -> None:
            with db.transaction():
                db.lock_key("deferred", defer=True)
                db.sql("SELECT 1")
                held.set()
                release.wait(10)

        thread = threading.Thread(target=holder)
        thread.start()
        assert held.wait(10)
        with db.transaction():
            taken_meanwhile = db.try_lock_key("deferred")
        release.set()
        thread.join()
        with db.transaction():
            taken_after = db.try_lock_key("deferred")
        assert (taken_meanwhile, taken_after) == (False, True)
    finally:
        db.close()
