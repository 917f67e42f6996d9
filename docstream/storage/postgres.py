"""PostgreSQL backend: a connection pool, typed columns, advisory locks."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from docstream.errors import DuplicateEntryError, StorageError, TransientError, ValidationError
from docstream.storage import pgbatch
from docstream.storage.base import Database, Deferred, Row, quote
from docstream.storage.sqlite import advisory_key

_TYPES = {
    "Int": "BIGINT",
    "Check": "SMALLINT",
    "Float": "DOUBLE PRECISION",
    "Currency": "DOUBLE PRECISION",
    "Percent": "DOUBLE PRECISION",
    "Date": "DATE",
    "Datetime": "TIMESTAMP(6)",
    "Time": "TIME(6)",
    "JSON": "JSONB",
}


def ensure_database(url: str) -> None:
    """Create the database named in ``url`` when it does not exist yet."""
    parts = urlsplit(url)
    dbname = parts.path.lstrip("/")
    if not dbname:
        raise StorageError(f"no database name in {url}")
    admin = urlunsplit(parts._replace(path="/postgres"))
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{dbname}"')
    except psycopg.Error as exc:
        raise StorageError(f"cannot reach PostgreSQL at {parts.hostname}: {exc}") from exc


def server_reachable(base: str, timeout: int = 3) -> bool:
    """Whether a PostgreSQL server answers at ``base`` (a URL without a database name)."""
    try:
        with psycopg.connect(base.rstrip("/") + "/postgres", connect_timeout=timeout):
            return True
    except psycopg.Error:
        return False


def drop_database(url: str) -> None:
    parts = urlsplit(url)
    dbname = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


class PostgresDatabase(Database):
    dialect = "postgres"
    batches_statements = True

    def __init__(self, url: str, max_size: int = 10) -> None:
        super().__init__(url)
        self._pool = ConnectionPool(
            url, min_size=1, max_size=max_size, open=True,
            kwargs={"autocommit": True, "row_factory": dict_row}, timeout=60, configure=pgbatch.configure,
        )

    def _acquire(self, write: bool) -> Any:
        try:
            return self._pool.getconn()
        except Exception as exc:
            raise TransientError(f"no PostgreSQL connection available: {exc}") from exc

    def _release(self, conn: Any) -> None:
        self._pool.putconn(conn)

    def _begin(self, conn: Any, write: bool) -> None:
        # a read transaction sees one snapshot throughout (as SQLite's do), so that a document and
        # its child rows, read by separate statements, belong together
        # sent with the transaction's first statement, in its message: no round trip of its own
        self.defer("BEGIN" if write else "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    # Every statement goes through ``pgbatch``: one message per batch, each statement prepared at
    # its second run on a connection (its module's doc says why not psycopg's execute and pipeline).
    def _run(self, conn: Any, query: str, params: Sequence[Any]) -> tuple[list[Row], int]:
        return pgbatch.run(conn, ((query, params),))[0]

    def _run_batch(self, conn: Any, statements: list[Deferred]) -> tuple[list[Row], int]:
        """The statements in one message, each still its own statement; the rows of each to
        whoever deferred it wanting them."""
        return _send(conn, statements)

    def _commit(self, conn: Any, deferred: list[Deferred]) -> None:
        """The deferred statements and the COMMIT in one message: a change's last statements (the
        update log's append) cost no round trip of their own. A failed statement aborts the
        transaction, so the COMMIT that follows it commits nothing. (``_send``, not
        ``_run_batch``: the round-trip tests count each.)"""
        _send(conn, [*deferred, ("COMMIT", (), None)])

    def _run_many(self, conn: Any, query: str, seq: Iterable[Sequence[Any]]) -> None:
        rows = iter(seq)
        while chunk := list(itertools.islice(rows, _MANY_PER_MESSAGE)):
            pgbatch.run_many(conn, query, chunk)

    def _translate(self, exc: Exception) -> Exception | None:
        if isinstance(exc, pgbatch.StaleStatement):  # forgotten: the next attempt prepares it anew
            return TransientError(f"a table changed under a prepared statement, try again: {exc}")
        if isinstance(exc, pg_errors.UniqueViolation):
            return _duplicate(exc)
        if isinstance(exc, (pg_errors.SerializationFailure, pg_errors.DeadlockDetected,
                            psycopg.OperationalError)):
            return TransientError(f"database busy or unreachable, try again: {exc}")
        if isinstance(exc, psycopg.DataError):  # a value the caller sent: bad date, number out of range, …
            return ValidationError(f"invalid value: {str(exc).splitlines()[0]}")
        if isinstance(exc, psycopg.Error):
            return StorageError(f"database error: {exc}")
        return None

    def close(self) -> None:
        self._pool.close()

    def column_type(self, fieldtype: str) -> str:
        return _TYPES.get(fieldtype, "TEXT")

    def column_types(self, table: str) -> dict[str, str]:
        rows = self.sql(
            "SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute "
            "WHERE attrelid = to_regclass(?) AND attnum > 0 AND NOT attisdropped", (quote(table),),
        )
        return {r["name"]: r["type"].replace(" without time zone", "").lower() for r in rows}

    def retype_column(self, table: str, column: str, sqltype: str) -> None:
        self.sql(f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(column)} TYPE {sqltype} USING NULL")

    def lock_key(self, key: str, shared: bool = False, defer: bool = False) -> None:
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        if defer:
            self.defer(f"SELECT {function}(?)", (advisory_key(key),))
        else:
            self.sql(f"SELECT {function}(?)", (advisory_key(key),))

    def try_lock_key(self, key: str) -> bool:
        return bool(self.value("SELECT pg_try_advisory_xact_lock(?)", (advisory_key(key),)))


_MANY_PER_MESSAGE = 1000  # executemany's rows per message: its answers are held until all are in


def _send(conn: Any, statements: list[Deferred]) -> tuple[list[Row], int]:
    """``statements`` in one message; each one's rows to whoever deferred it wanting them; the
    last one's rows and row count."""
    results = pgbatch.run(conn, [(q, p) for q, p, _ in statements])
    for (_, _, on_rows), (rows, _) in zip(statements, results):
        if on_rows is not None:
            on_rows(rows)
    return results[-1]


def _duplicate(exc: Exception) -> Exception:
    diag = getattr(exc, "diag", None)
    table = getattr(diag, "table_name", None) or ""
    detail = getattr(diag, "message_detail", None) or str(exc)
    match = re.search(r"Key \(([^)]+)\)", detail)
    column = match.group(1).strip('"') if match else None
    doctype = table[3:] if table.startswith("tab") else table
    return DuplicateEntryError(
        f"{doctype} with this {column or 'value'} already exists", doctype=doctype or None, field=column,
    )
