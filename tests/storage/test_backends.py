"""What each backend promises beyond the shared contract: SQLite's WAL and single writer,
PostgreSQL's database creation and advisory locks."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import psycopg
import pytest

from docstream.errors import StorageError, TransientError
from docstream.storage import open_database
from docstream.storage import sqlite as sqlite_backend
from docstream.storage.postgres import PostgresDatabase, ensure_database
from tests.conftest import new_pg_url
from tests.support.servers import PG_BASE


# -- SQLite ---------------------------------------------------------------------------

@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'nested' / 'site.db'}"


def test_sqlite_creates_the_folder_and_uses_wal_with_a_busy_timeout(sqlite_url: str) -> None:
    db = open_database(sqlite_url)
    try:
        assert db.dialect == "sqlite"
        assert db.value("PRAGMA journal_mode") == "wal"
        assert db.value("PRAGMA busy_timeout") == sqlite_backend.BUSY_TIMEOUT_MS
        assert Path(sqlite_url[len("sqlite:///"):]).exists()
    finally:
        db.close()


def test_sqlite_writes_begin_immediate_so_a_second_writer_waits(sqlite_url: str) -> None:
    """Two Database objects on one file behave like two processes: the second writer waits for
    the first to commit (BEGIN IMMEDIATE + busy timeout), and never fails or interleaves."""
    first, second = open_database(sqlite_url), open_database(sqlite_url)
    try:
        first.sql('CREATE TABLE "tabLog" (name TEXT PRIMARY KEY, at REAL)')
        entered = threading.Event()
        order: list[str] = []

        def other() -> None:
            entered.wait(10)
            with second.transaction():  # blocks in BEGIN IMMEDIATE until `first` commits
                order.append("second began")
                second.sql('INSERT INTO "tabLog" (name) VALUES (?)', ("second",))

        thread = threading.Thread(target=other)
        thread.start()
        with first.transaction():
            first.sql('INSERT INTO "tabLog" (name) VALUES (?)', ("first",))
            entered.set()
            time.sleep(0.3)
            order.append("first commits")
        thread.join(10)
        assert order == ["first commits", "second began"]
        assert second.value('SELECT COUNT(*) FROM "tabLog"') == 2
    finally:
        first.close()
        second.close()


def test_sqlite_busy_beyond_the_timeout_is_a_transient_error(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sqlite_backend, "BUSY_TIMEOUT_MS", 100)
    first, second = open_database(sqlite_url), open_database(sqlite_url)
    try:
        first.sql('CREATE TABLE "tabX" (name TEXT)')
        with first.transaction():
            first.sql('INSERT INTO "tabX" VALUES (?)', ("held",))
            with pytest.raises(TransientError) as info:
                second.sql('INSERT INTO "tabX" VALUES (?)', ("late",))
            assert info.value.http_status == 503
            assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        second.sql('INSERT INTO "tabX" VALUES (?)', ("retried",))  # works once the writer is done
        assert second.value('SELECT COUNT(*) FROM "tabX"') == 2
    finally:
        first.close()
        second.close()


def test_sqlite_one_writer_at_a_time_within_a_process(sqlite_url: str) -> None:
    db = open_database(sqlite_url)
    try:
        db.sql('CREATE TABLE "tabX" (name TEXT)')
        active, peak = [0], [0]
        lock = threading.Lock()

        def write() -> None:
            for _ in range(10):
                with db.transaction():
                    with lock:
                        active[0] += 1
                        peak[0] = max(peak[0], active[0])
                    db.sql('INSERT INTO "tabX" VALUES (?)', ("x",))
                    time.sleep(0.001)
                    with lock:
                        active[0] -= 1

        threads = [threading.Thread(target=write) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert peak[0] == 1
        assert db.value('SELECT COUNT(*) FROM "tabX"') == 40
    finally:
        db.close()


# -- PostgreSQL -----------------------------------------------------------------------

@pytest.fixture
def pg(postgres: str) -> str:
    return postgres


def _database_exists(name: str) -> bool:
    with psycopg.connect(PG_BASE + "/postgres", autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def test_postgres_creates_a_missing_database_once(pg: str) -> None:
    url = new_pg_url()
    name = url.rsplit("/", 1)[1]
    assert not _database_exists(name)
    db = open_database(url, create=True)
    try:
        assert _database_exists(name)
        assert db.dialect == "postgres"
        ensure_database(url)  # again: nothing to do, no error
        assert db.value("SELECT current_database()") == name
    finally:
        db.close()


def test_postgres_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(StorageError, match="cannot reach PostgreSQL"):
        ensure_database("postgresql://postgres@127.0.0.1:1/nothing")


def test_postgres_url_needs_a_database_name() -> None:
    with pytest.raises(StorageError, match="no database name"):
        ensure_database("postgresql://postgres@127.0.0.1:5432")


def test_postgres_try_lock_key_fails_at_once_while_another_holds_it(pg: str) -> None:
    db = open_database(new_pg_url(), create=True)
    assert isinstance(db, PostgresDatabase)
    try:
        held, release = threading.Event(), threading.Event()
        results: list[bool] = []

        def holder() -> None:
            with db.transaction():
                db.lock_key("pull:http://hq")
                held.set()
                release.wait(10)

        thread = threading.Thread(target=holder)
        thread.start()
        assert held.wait(10)
        with db.transaction():
            results.append(db.try_lock_key("pull:http://hq"))
            results.append(db.try_lock_key("pull:http://other"))
        release.set()
        thread.join()
        with db.transaction():  # released with the holder's transaction
            results.append(db.try_lock_key("pull:http://hq"))
        assert results == [False, True, True]
    finally:
        db.close()
