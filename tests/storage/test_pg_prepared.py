"""PostgreSQL: every statement is sent through ``pgbatch``, prepared at its second run on a
connection. What could make a prepared statement wrong — other parameter types, a table changed
on this connection or another, a batch that failed before a statement was prepared — must never
show: the answers are the same as unprepared ones, and a statement that went stale fails at most
once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timezone
from decimal import Decimal

import pytest

from docstream.errors import DuplicateEntryError, TransientError
from docstream.storage.postgres import PostgresDatabase
from tests.conftest import new_pg_url

pytestmark = pytest.mark.postgres


@pytest.fixture
def url(postgres: str) -> str:
    return new_pg_url()


@pytest.fixture
def db(url: str) -> Iterator[PostgresDatabase]:
    from docstream.storage.postgres import ensure_database

    ensure_database(url)
    database = PostgresDatabase(url, max_size=1)  # one connection: the one whose statements we read
    database.sql("CREATE TABLE probe (name TEXT PRIMARY KEY, n BIGINT NOT NULL DEFAULT 0)")
    database.sql("INSERT INTO probe (name, n) VALUES ('a', 1)")
    yield database
    database.close()


def prepared(db: PostgresDatabase) -> dict[str, str]:
    """The connection's prepared statements of ours (but this one): name → text."""
    rows = db.sql("SELECT name, statement FROM pg_prepared_statements WHERE name LIKE '\\_ds\\_%'")
    return {r["name"]: r["statement"] for r in rows if "pg_prepared_statements" not in r["statement"]}


def test_a_statement_is_prepared_at_its_second_run_and_run_by_name_after(db: PostgresDatabase) -> None:
    query = "SELECT n FROM probe WHERE name = ?"
    assert db.value(query, ("a",)) == 1
    assert "SELECT n FROM probe WHERE name = $1" not in prepared(db).values()  # once: unnamed
    assert db.value(query, ("a",)) == 1
    names = [n for n, text in prepared(db).items() if text == "SELECT n FROM probe WHERE name = $1"]
    assert len(names) == 1
    for _ in range(3):
        assert db.value(query, ("a",)) == 1
    assert [n for n, text in prepared(db).items() if text == "SELECT n FROM probe WHERE name = $1"] == names


def test_parameters_of_other_types_get_a_statement_of_their_own(db: PostgresDatabase) -> None:
    values = [1, 1, 2**40, 2**40, "x", "x", None, None, 1.5, 1.5, True, True]
    assert [db.value("SELECT ? AS v", (v,)) for v in values] == [
        1, 1, 2**40, 2**40, "x", "x", None, None, 1.5, 1.5, True, True]


def test_a_column_added_on_this_connection_forgets_its_statements(db: PostgresDatabase) -> None:
    for _ in range(2):
        assert db.sql("SELECT * FROM probe") == [{"name": "a", "n": 1}]
    stale = [n for n, text in prepared(db).items() if text == "SELECT * FROM probe"]
    assert stale
    db.sql("ALTER TABLE probe ADD COLUMN label TEXT")
    assert db.sql("SELECT * FROM probe") == [{"name": "a", "n": 1, "label": None}]
    assert not set(stale) & set(prepared(db))  # deallocated with the next statement sent outside a transaction


def test_a_column_added_by_another_connection_fails_a_prepared_statement_once(db: PostgresDatabase, url: str) -> None:
    for _ in range(2):
        db.sql("SELECT * FROM probe")
    other = PostgresDatabase(url, max_size=1)
    try:
        other.sql("ALTER TABLE probe ADD COLUMN label TEXT")
    finally:
        other.close()
    with pytest.raises(TransientError, match="try again"):
        db.sql("SELECT * FROM probe")
    for _ in range(3):  # unnamed, then prepared again, then by its new name
        assert db.sql("SELECT * FROM probe") == [{"name": "a", "n": 1, "label": None}]


def test_a_rollback_keeps_the_prepared_statements(db: PostgresDatabase) -> None:
    insert = "INSERT INTO probe (name, n) VALUES (?, ?)"
    db.sql(insert, ("b", 2))
    db.sql(insert, ("c", 3))
    before = prepared(db)
    with pytest.raises(DuplicateEntryError):
        with db.transaction():
            db.sql(insert, ("d", 4))
            db.sql(insert, ("a", 9))  # fails: the transaction rolls back
    assert prepared(db) == before
    db.sql(insert, ("d", 4))
    assert [r["name"] for r in db.sql("SELECT name FROM probe ORDER BY name")] == ["a", "b", "c", "d"]


def test_a_statement_whose_batch_failed_before_it_was_prepared_is_prepared_again(db: PostgresDatabase) -> None:
    query = "SELECT n + 1 AS m FROM probe WHERE name = ?"
    assert db.value(query, ("a",)) == 2  # seen once: its next run prepares it
    with pytest.raises(DuplicateEntryError):
        with db.transaction():
            db.defer("INSERT INTO probe (name) VALUES ('a')")  # fails: the PREPARE after it never runs
            db.value(query, ("a",))
    for _ in range(3):
        assert db.value(query, ("a",)) == 2


def test_a_statement_that_cannot_be_prepared_fails_with_its_own_error(db: PostgresDatabase) -> None:
    query = "SELECT n / ? AS q FROM probe WHERE name = 'a'"
    assert db.value(query, (1,)) == 1
    with pytest.raises(Exception, match="division by zero"):
        db.value(query, (0,))  # prepared at this run: the error is the statement's
    assert db.value(query, (1,)) == 1


def test_executemany_prepares_its_statement_once_for_all_rows(db: PostgresDatabase) -> None:
    db.executemany("INSERT INTO probe (name, n) VALUES (?, ?)", [(f"r{i}", i) for i in range(2500)])
    assert db.value("SELECT COUNT(*) AS c FROM probe") == 2501
    assert db.value("SELECT SUM(n) AS s FROM probe WHERE name LIKE 'r%'") == sum(range(2500))
    texts = list(prepared(db).values())
    assert texts.count("INSERT INTO probe (name, n) VALUES ($1, $2)") == 1


def test_the_oldest_statements_are_deallocated_beyond_the_capacity(db: PostgresDatabase) -> None:
    conn = db._pool.getconn()
    conn.docstream_statements.capacity = 2
    db._pool.putconn(conn)
    for i in range(4):
        for _ in range(2):
            assert db.value(f"SELECT {i} AS v FROM probe WHERE name = ?", ("a",)) == i
    db.sql("SELECT 1")  # outside a transaction: the retired ones go
    assert sorted(prepared(db).values()) == [f"SELECT {i} AS v FROM probe WHERE name = $1" for i in (2, 3)]


def test_a_connection_the_server_dropped_fails_its_statement_and_the_next_one_works(db: PostgresDatabase, url: str) -> None:
    query = "SELECT n FROM probe WHERE name = ?"
    for _ in range(2):
        assert db.value(query, ("a",)) == 1  # prepared on the connection the server will drop
    pid = db.value("SELECT pg_backend_pid() AS pid")
    other = PostgresDatabase(url, max_size=1)
    try:
        assert other.value("SELECT pg_terminate_backend(?) AS done", (pid,)) is True
    finally:
        other.close()
    with pytest.raises(TransientError):
        db.value(query, ("a",))
    for _ in range(3):  # a new connection, its statements prepared anew
        assert db.value(query, ("a",)) == 1
    assert db.value("SELECT pg_backend_pid() AS pid") != pid


def test_a_transaction_whose_connection_the_server_dropped_fails_and_changes_nothing(db: PostgresDatabase, url: str) -> None:
    insert = "INSERT INTO probe (name, n) VALUES (?, ?)"
    db.sql(insert, ("b", 2))
    db.sql(insert, ("c", 3))  # prepared
    other = PostgresDatabase(url, max_size=1)
    try:
        with pytest.raises(TransientError):
            with db.transaction():
                db.sql(insert, ("d", 4))
                pid = db.value("SELECT pg_backend_pid() AS pid")
                other.sql("SELECT pg_terminate_backend(?)", (pid,))
                db.sql(insert, ("e", 5))
    finally:
        other.close()
    with db.transaction():
        db.sql(insert, ("f", 6))
        db.sql(insert, ("g", 7))
    assert [r["name"] for r in db.sql("SELECT name FROM probe ORDER BY name")] == ["a", "b", "c", "f", "g"]


def test_a_value_that_cannot_be_sent_fails_its_statement_and_leaves_the_connection_as_it_was(db: PostgresDatabase) -> None:
    from docstream.errors import StorageError

    query = "SELECT n FROM probe WHERE name = ?"
    assert db.value(query, ("a",)) == 1  # seen once: the next run would prepare it
    pid = db.value("SELECT pg_backend_pid() AS pid")
    with pytest.raises(StorageError, match="adapt"):
        with db.transaction():
            db.defer(query, ("a",))
            db.sql("SELECT ? AS v", (object(),))
    for _ in range(3):
        assert db.value(query, ("a",)) == 1
    assert db.value("SELECT pg_backend_pid() AS pid") == pid


VALUES = [None, True, False, 0, 40000, 2**40, 2**70, 1.5, float("inf"), Decimal("1.25"),
          datetime(2024, 1, 2, 3, 4, 5, 6), datetime(2024, 1, 2, tzinfo=timezone.utc), date(2024, 1, 2),
          time(1, 2, 3), b"\x00\xff", "x?y%z", "", [1, 2], ["a"]]


def test_every_value_is_typed_and_answered_as_psycopg_does_unnamed_prepared_and_by_name(db: PostgresDatabase, url: str) -> None:
    """The same answers — or the same error — as psycopg's own ``execute``, at a statement's first
    run (unnamed), its second (prepared) and its third (by name). An untyped parameter the server
    cannot type fails its PREPARE: that error, never an empty answer."""
    import psycopg
    from psycopg.rows import dict_row

    from docstream.errors import StorageError

    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as reference:
        for value in VALUES:
            for _ in range(3):
                try:
                    got: object = db.sql("SELECT ? AS v, pg_typeof(?)::text AS t", (value, value))
                except StorageError as exc:
                    got = type(exc.__cause__).__name__
                try:
                    want: object = reference.execute("SELECT %s AS v, pg_typeof(%s)::text AS t", (value, value)).fetchall()
                except psycopg.Error as exc:
                    want = type(exc).__name__
                assert got == want, (value, got, want)


def test_a_column_retyped_by_another_connection_fails_a_prepared_statement_once(db: PostgresDatabase, url: str) -> None:
    """A parameter's type is fixed when its statement is prepared (a str is sent untyped, the
    server types it from the column): after another connection retypes the column, the statement
    fails once, is forgotten, and is prepared anew."""
    db.sql("CREATE TABLE dated (name TEXT PRIMARY KEY, due TEXT)")
    insert = "INSERT INTO dated (name, due) VALUES (?, ?)"
    db.sql(insert, ("e1", "2024-01-01"))
    db.sql(insert, ("e2", "2024-01-02"))  # prepared: $2 typed text
    other = PostgresDatabase(url, max_size=1)
    try:
        other.sql("ALTER TABLE dated ALTER COLUMN due TYPE DATE USING due::date")  # a Data field made a Date
    finally:
        other.close()
    with pytest.raises(TransientError, match="try again"):
        db.sql(insert, ("x0", "2024-03-01"))
    for i in range(1, 4):
        db.sql(insert, (f"x{i}", "2024-03-01"))
    assert db.value("SELECT COUNT(*) AS c FROM dated WHERE due = ?", (date(2024, 3, 1),)) == 3


def test_statements_prepared_in_a_transaction_whose_ddl_rolled_back_are_forgotten(db: PostgresDatabase) -> None:
    query = "SELECT name FROM probe WHERE n = ?"
    assert db.value(query, ("1",)) == "a"  # seen once
    with pytest.raises(RuntimeError):
        with db.transaction():
            db.sql("ALTER TABLE probe ALTER COLUMN n TYPE TEXT")
            for _ in range(2):  # prepared here, $1 typed text — for a column the rollback makes bigint again
                assert db.value(query, ("1",)) == "a"
            raise RuntimeError("a migration step failed")
    for _ in range(3):
        assert db.value(query, ("1",)) == "a"


def test_a_batch_that_failed_is_read_to_its_end_before_any_row_is_loaded(db: PostgresDatabase) -> None:
    """Its error is the server's (not a row that could not be loaded), and a statement whose
    PREPARE the failure skipped is not left named."""
    query = "SELECT n AS x FROM probe WHERE name = ?"
    assert db.value(query, ("a",)) == 1  # seen once: the next run prepares it
    with pytest.raises(DuplicateEntryError):
        with db.transaction():
            db.defer("SELECT 'infinity'::date AS d")  # a row Python cannot hold
            db.defer("INSERT INTO probe (name) VALUES ('a')")  # fails
            db.value(query, ("a",))
    for _ in range(3):
        assert db.value(query, ("a",)) == 1


def test_an_empty_statement_keeps_each_answer_with_its_own_statement(db: PostgresDatabase) -> None:
    seen: list = []
    with db.transaction():
        db.defer("", on_rows=seen.append)
        assert db.sql("SELECT 1 AS one") == [{"one": 1}]
    assert seen == [[]]
