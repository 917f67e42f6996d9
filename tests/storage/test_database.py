"""The storage contract, written once and run on SQLite and PostgreSQL (the ``db`` fixture)."""

from __future__ import annotations

import threading
import time

import pytest

from docstream.errors import DocstreamError, DuplicateEntryError, StorageError, ValidationError
from docstream.storage import Database, open_database, quote


class Boom(Exception):
    pass


def names(db: Database, table: str) -> list[str]:
    return [r["name"] for r in db.sql(f'SELECT name FROM "{table}" ORDER BY name')]


# -- statements ------------------------------------------------------------------

def test_sql_returns_rows_as_dicts(db: Database, table: str) -> None:
    db.sql(f'INSERT INTO "{table}" (name, n, label) VALUES (?, ?, ?)', ("a", 1, "x"))
    assert db.sql(f'SELECT name, n, label FROM "{table}"') == [{"name": "a", "n": 1, "label": "x"}]
    assert db.sql(f'UPDATE "{table}" SET n = 2') == []


def test_execute_counts_rows_and_value_reads_one(db: Database, table: str) -> None:
    db.executemany(f'INSERT INTO "{table}" (name, n) VALUES (?, ?)', [("a", 1), ("b", 2), ("c", 3)])
    assert db.execute(f'UPDATE "{table}" SET label = ? WHERE n >= ?', ("big", 2)) == 2
    assert db.value(f'SELECT COUNT(*) FROM "{table}"') == 3
    assert db.value(f'SELECT n FROM "{table}" WHERE name = ?', ("zzz",)) is None


def test_percent_and_question_marks_in_literals_and_params(db: Database, table: str) -> None:
    db.sql(f'INSERT INTO "{table}" (name, label) VALUES (?, ?)', ("a", "100% sure?"))
    assert db.value(f"SELECT label FROM \"{table}\" WHERE label LIKE '100%'") == "100% sure?"
    assert db.value(f'SELECT name FROM "{table}" WHERE label = ?', ("100% sure?",)) == "a"


def test_quote_escapes_identifiers(db: Database) -> None:
    odd = 'tab"odd name'
    db.sql(f"CREATE TABLE IF NOT EXISTS {quote(odd)} (name TEXT)")
    db.sql(f"INSERT INTO {quote(odd)} (name) VALUES (?)", ("x",))
    assert db.value(f"SELECT name FROM {quote(odd)}") == "x"


# -- transactions -----------------------------------------------------------------

def test_transaction_commits(db: Database, table: str) -> None:
    with db.transaction():
        db.sql(f'INSERT INTO "{table}" (name) VALUES (?)', ("a",))
        assert db.in_transaction
    assert not db.in_transaction
    assert names(db, table) == ["a"]


def test_failed_transaction_leaves_nothing(db: Database, table: str) -> None:
    with pytest.raises(Boom):
        with db.transaction():
            db.sql(f'INSERT INTO "{table}" (name) VALUES (?)', ("a",))
            db.sql(f'UPDATE "{table}" SET n = 5')
            raise Boom
    assert names(db, table) == []


def test_nested_transactions_join_the_outer_one(db: Database, table: str) -> None:
    with pytest.raises(Boom):
        with db.transaction():
            with db.transaction():
                db.sql(f'INSERT INTO "{table}" (name) VALUES (?)', ("inner",))
            db.sql(f'INSERT INTO "{table}" (name) VALUES (?)', ("outer",))
            raise Boom
    assert names(db, table) == []


def test_no_write_inside_a_read_transaction(db: Database) -> None:
    with db.transaction(write=False):
        with pytest.raises(RuntimeError):
            with db.transaction():
                pass


def test_savepoint_undoes_only_its_part(db: Database, table: str) -> None:
    with db.transaction():
        db.sql(f'INSERT INTO "{table}" (name) VALUES (?)', ("kept",))
        with pytest.raises(Boom):
            with db.savepoint():
                db.sql(f'INSERT INTO "{table}" (name) VALUES (?)', ("undone",))
                raise Boom
        with db.savepoint():
            db.sql(f'INSERT INTO "{table}" (name) VALUES (?)', ("also kept",))
    assert names(db, table) == ["also kept", "kept"]


def test_savepoint_after_a_driver_error_keeps_the_transaction_usable(db: Database, table: str) -> None:
    with db.transaction():
        db.sql(f'INSERT INTO "{table}" (name) VALUES (?)', ("a",))
        with pytest.raises(DuplicateEntryError):
            with db.savepoint():
                db.sql(f'INSERT INTO "{table}" (name) VALUES (?)', ("a",))
        db.sql(f'INSERT INTO "{table}" (name) VALUES (?)', ("b",))
    assert names(db, table) == ["a", "b"]


def test_savepoint_needs_a_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError):
        with db.savepoint():
            pass


def test_after_commit_runs_after_commit_and_never_on_rollback(db: Database, table: str) -> None:
    seen: list[str] = []

    def visible() -> None:
        # runs after the commit, so another thread (another connection) sees the row
        result: list[list[str]] = []
        worker = threading.Thread(target=lambda: result.append(names(db, table)))
        worker.start()
        worker.join()
        seen.append(",".join(result[0]))

    with db.transaction():
        db.sql(f'INSERT INTO "{table}" (name) VALUES (?)', ("a",))
        db.after_commit(visible)
        db.after_commit(visible)  # registered once
        assert seen == []
    assert seen == ["a"]

    with pytest.raises(Boom):
        with db.transaction():
            db.after_commit(lambda: seen.append("rolled back"))
            raise Boom
    assert seen == ["a"]

    db.after_commit(lambda: seen.append("now"))  # outside a transaction: at once
    assert seen == ["a", "now"]


def test_a_read_on_its_own_is_one_statement_and_a_write_its_own_transaction(
    db: Database, table: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Outside a transaction a read is atomic by itself: it is sent alone, with no BEGIN and no
    COMMIT (two round trips saved on PostgreSQL); a write still gets a transaction of its own."""
    begun: list[bool] = []
    begin = db._begin  # noqa: SLF001 - counting what reaches the driver
    monkeypatch.setattr(db, "_begin", lambda conn, write: begun.append(write) or begin(conn, write))
    assert db.value(f'SELECT COUNT(*) AS c FROM "{table}"') == 0
    assert begun == []
    db.sql(f'INSERT INTO "{table}" (name, n) VALUES (?, ?)', ("a", 1))
    assert begun == [True]
    assert db.sql(f'SELECT name, n FROM "{table}"') == [{"name": "a", "n": 1}] and begun == [True]
    with pytest.raises(StorageError):
        db.sql(f'SELECT nothing FROM "{table}"')
    assert db.value(f'SELECT n FROM "{table}" WHERE name = ?', ("a",)) == 1  # the connection is still good


def test_uncommitted_writes_are_invisible_to_other_threads(db: Database, table: str) -> None:
    inside = threading.Event()
    release = threading.Event()
    seen: list[list[str]] = []

    def writer() -> None:
        with db.transaction():
            db.sql(f'INSERT INTO "{table}" (name) VALUES (?)', ("pending",))
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    assert inside.wait(10)
    seen.append(names(db, table))  # readers are not blocked by the writer
    release.set()
    thread.join()
    assert seen == [[]]
    assert names(db, table) == ["pending"]


def test_a_read_transaction_sees_one_snapshot(db: Database, table: str) -> None:
    counts: list[int] = []
    with db.transaction(write=False):
        counts.append(db.value(f'SELECT COUNT(*) FROM "{table}"'))
        writer = threading.Thread(target=lambda: db.sql(f'INSERT INTO "{table}" (name) VALUES (?)', ("new",)))
        writer.start()
        writer.join()
        counts.append(db.value(f'SELECT COUNT(*) FROM "{table}"'))
    counts.append(db.value(f'SELECT COUNT(*) FROM "{table}"'))
    assert counts == [0, 0, 1]


def test_a_thread_recovers_after_a_failed_statement(db: Database, table: str) -> None:
    db.sql(f'INSERT INTO "{table}" (name) VALUES (?)', ("a",))
    with pytest.raises(DuplicateEntryError):
        with db.transaction():
            db.sql(f'INSERT INTO "{table}" (name) VALUES (?)', ("b",))
            db.sql(f'INSERT INTO "{table}" (name) VALUES (?)', ("a",))
    assert not db.in_transaction
    db.sql(f'INSERT INTO "{table}" (name) VALUES (?)', ("c",))
    assert names(db, table) == ["a", "c"]


def test_concurrent_writers_lose_no_update(db: Database, table: str) -> None:
    """Read-modify-write under lock_key from many threads: every increment survives."""
    db.sql(f'INSERT INTO "{table}" (name, n) VALUES (?, 0)', ("counter",))
    errors: list[BaseException] = []

    def bump(times: int) -> None:
        try:
            for _ in range(times):
                with db.transaction():
                    db.lock_key("counter")
                    n = db.value(f'SELECT n FROM "{table}" WHERE name = ?', ("counter",))
                    time.sleep(0.0005)
                    db.sql(f'UPDATE "{table}" SET n = ? WHERE name = ?', (n + 1, "counter"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=bump, args=(25,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert db.value(f'SELECT n FROM "{table}" WHERE name = ?', ("counter",)) == 150


def test_lock_key_needs_no_table_and_try_lock_key_takes_a_free_lock(db: Database) -> None:
    with db.transaction():
        db.lock_key("some job")
        assert db.try_lock_key("another job") is True


# -- errors are translated at the boundary --------------------------------------------

def test_unique_violation_becomes_duplicate_entry(db: Database, table: str) -> None:
    db.sql(f'INSERT INTO "{table}" (name) VALUES (?)', ("a",))
    with pytest.raises(DuplicateEntryError) as info:
        db.sql(f'INSERT INTO "{table}" (name) VALUES (?)', ("a",))
    err = info.value
    assert err.http_status == 409
    assert err.doctype == table[3:]
    assert err.field == "name"
    assert err.__cause__ is not None and type(err.__cause__).__module__.split(".")[0] in ("sqlite3", "psycopg")


@pytest.mark.parametrize("statement", [
    "SELEC nonsense",
    'SELECT * FROM "tabNo Such Table"',
    'SELECT no_such_column FROM "__probe"',
])
def test_driver_errors_become_storage_errors(db: Database, statement: str) -> None:
    db.sql('CREATE TABLE IF NOT EXISTS "__probe" (name TEXT)')
    with pytest.raises(StorageError) as info:
        db.sql(statement)
    assert isinstance(info.value, DocstreamError)
    assert info.value.http_status == 500
    assert info.value.__cause__ is not None
    assert db.value('SELECT COUNT(*) FROM "__probe"') == 0  # and the database still works


def test_table_columns(db: Database, table: str) -> None:
    assert db.table_columns(table) == {"name", "n", "label"}
    assert db.table_columns("tabNothing Here") == set()


def test_column_types_are_typed(db: Database) -> None:
    expected = {
        "sqlite": {"Int": "INTEGER", "Check": "INTEGER", "Float": "REAL", "Currency": "REAL", "Data": "TEXT"},
        "postgres": {"Int": "BIGINT", "Check": "SMALLINT", "Float": "DOUBLE PRECISION", "Date": "DATE",
                     "Datetime": "TIMESTAMP(6)", "Time": "TIME(6)", "JSON": "JSONB", "Data": "TEXT"},
    }[db.dialect]
    assert {ft: db.column_type(ft) for ft in expected} == expected


def test_a_column_reads_back_the_type_it_was_made_with(db: Database) -> None:
    kinds = ("Int", "Check", "Float", "Date", "Datetime", "Time", "JSON", "Data")
    db.sql('DROP TABLE IF EXISTS "tabTyped"')
    db.sql('CREATE TABLE "tabTyped" (' + ", ".join(f'"{k.lower()}" {db.column_type(k)}' for k in kinds) + ")")
    assert db.column_types("tabTyped") == {k.lower(): db.column_type(k).lower() for k in kinds}
    assert db.column_types("tabNothing Here") == {}


def test_retype_column_empties_one_column_and_keeps_everything_else(db: Database) -> None:
    """A new type for one column, left NULL for the caller to fill; the other columns' values, the
    primary key, NOT NULL and defaults, unique constraints and indexes all stay."""
    db.sql('DROP TABLE IF EXISTS "tabRetyped"')
    db.sql('CREATE TABLE "tabRetyped" (name TEXT NOT NULL PRIMARY KEY, code TEXT UNIQUE, '
           "n BIGINT NOT NULL DEFAULT 7, qty TEXT, label TEXT)")
    db.sql('CREATE INDEX "idx_retyped_label" ON "tabRetyped" (label)')
    db.executemany('INSERT INTO "tabRetyped" (name, code, qty, label) VALUES (?, ?, ?, ?)',
                   [("a", "A", "10", "x"), ("b", "B", "9", "y")])
    with db.transaction():
        db.retype_column("tabRetyped", "qty", db.column_type("Int"))
        db.executemany('UPDATE "tabRetyped" SET qty = ? WHERE name = ?', [(10, "a"), (9, "b")])
    assert db.column_types("tabRetyped")["qty"] == db.column_type("Int").lower()
    assert db.sql('SELECT name, code, n, qty, label FROM "tabRetyped" ORDER BY qty') == [
        {"name": "b", "code": "B", "n": 7, "qty": 9, "label": "y"}, {"name": "a", "code": "A", "n": 7, "qty": 10, "label": "x"}]
    db.sql('INSERT INTO "tabRetyped" (name, code) VALUES (?, ?)', ("c", "C"))
    assert db.value('SELECT n FROM "tabRetyped" WHERE name = ?', ("c",)) == 7  # the default
    for row in (("a", "Z"), ("z", "A")):  # the primary key, the unique code
        with pytest.raises(DuplicateEntryError):
            db.sql('INSERT INTO "tabRetyped" (name, code) VALUES (?, ?)', row)
    with pytest.raises(StorageError):
        db.sql('INSERT INTO "tabRetyped" (name, n) VALUES (?, ?)', ("d", None))  # NOT NULL
    if db.dialect == "sqlite":
        indexed = {r["name"] for r in db.sql('PRAGMA index_list("tabRetyped")') if r["origin"] == "c"}
    else:
        indexed = {r["indexname"] for r in db.sql("SELECT indexname FROM pg_indexes WHERE tablename = 'tabRetyped'")}
    assert "idx_retyped_label" in indexed


def test_a_retype_rolled_back_leaves_the_table_as_it_was(db: Database) -> None:
    db.sql('DROP TABLE IF EXISTS "tabRetypedBack"')
    db.sql('CREATE TABLE "tabRetypedBack" (name TEXT PRIMARY KEY, qty TEXT)')
    db.sql('INSERT INTO "tabRetypedBack" (name, qty) VALUES (?, ?)', ("a", "ten"))
    with pytest.raises(Boom):
        with db.transaction():
            db.retype_column("tabRetypedBack", "qty", db.column_type("Int"))
            raise Boom()
    assert db.column_types("tabRetypedBack")["qty"] == "text"
    assert db.sql('SELECT name, qty FROM "tabRetypedBack"') == [{"name": "a", "qty": "ten"}]


# -- opening --------------------------------------------------------------------------

def test_unsupported_url_is_refused() -> None:
    with pytest.raises(ValidationError, match="unsupported database URL"):
        open_database("mysql://localhost/x")
