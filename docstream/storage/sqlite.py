"""SQLite backend: WAL, a busy timeout, one writer at a time, BEGIN IMMEDIATE for writes."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from docstream.errors import DuplicateEntryError, StorageError, TransientError, ValidationError
from docstream.storage.base import Database, Row, quote

_TYPES = {
    "Int": "INTEGER",
    "Check": "INTEGER",
    "Float": "REAL",
    "Currency": "REAL",
    "Percent": "REAL",
}
BUSY_TIMEOUT_MS = 30_000


class SQLiteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, url: str, path: str) -> None:
        super().__init__(url)
        self.path = path
        self._local = threading.local()
        self._writer = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self.synchronous = "NORMAL"

    def configure(self, settings: dict[str, Any]) -> None:
        """``sqlite_synchronous``: how durable a commit is, for the connections opened from now on."""
        self.synchronous = str(settings.get("sqlite_synchronous") or "normal").upper()

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute(f"PRAGMA synchronous={'FULL' if self.synchronous == 'FULL' else 'NORMAL'}")
            conn.execute("PRAGMA foreign_keys=OFF")
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _acquire(self, write: bool) -> Any:
        if write:
            self._writer.acquire()
        self._local.writing = write
        return self._connection()

    def _release(self, conn: Any) -> None:
        if getattr(self._local, "writing", False):
            self._local.writing = False
            self._writer.release()

    def _begin(self, conn: Any, write: bool) -> None:
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def _run(self, conn: Any, query: str, params: Sequence[Any]) -> tuple[list[Row], int]:
        cur = conn.execute(query, tuple(params))
        rows = [dict(r) for r in cur.fetchall()] if cur.description else []
        return rows, cur.rowcount

    def _run_many(self, conn: Any, query: str, seq: Iterable[Sequence[Any]]) -> None:
        conn.executemany(query, seq)

    def _translate(self, exc: Exception) -> Exception | None:
        if isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc):
            return _duplicate(str(exc))
        if isinstance(exc, sqlite3.OperationalError):
            text = str(exc)
            if "locked" in text or "busy" in text:
                return TransientError(f"the database is busy, try again: {text}")
            return StorageError(f"database error: {text}")
        if isinstance(exc, sqlite3.Error):
            return StorageError(f"database error: {exc}")
        if isinstance(exc, OverflowError):  # a value the caller sent is out of SQLite's range
            return ValidationError(f"a value is out of range: {exc}")
        return None

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()

    def column_type(self, fieldtype: str) -> str:
        return _TYPES.get(fieldtype, "TEXT")

    def column_types(self, table: str) -> dict[str, str]:
        return {r["name"]: (r["type"] or "").lower() for r in self.sql(f"PRAGMA table_info({quote(table)})")}

    def retype_column(self, table: str, column: str, sqltype: str) -> None:
        """SQLite can't change a column's type in place: the table is made again, as SQLite's own
        documentation lays out — a new table with the same columns, keys, defaults and unique
        constraints, the rows copied (the retyped column left empty), the old table dropped, the
        new one renamed, its indexes made again. All inside the caller's transaction."""
        info = self.sql(f"PRAGMA table_info({quote(table)})")
        if column not in {r["name"] for r in info}:
            raise ValueError(f"{table} has no column {column!r}")
        unique = [tuple(r["name"] for r in self.sql(f"PRAGMA index_info({quote(index['name'])})"))
                  for index in self.sql(f"PRAGMA index_list({quote(table)})") if index["origin"] == "u"]
        indexes = [r["sql"] for r in self.sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,))]
        key = [r["name"] for r in sorted(info, key=lambda r: r["pk"]) if r["pk"]]
        definitions = []
        for r in info:
            parts = [quote(r["name"]), sqltype if r["name"] == column else r["type"] or ""]
            parts += ["NOT NULL"] if r["notnull"] else []
            parts += [f"DEFAULT {r['dflt_value']}"] if r["dflt_value"] is not None else []
            parts += ["PRIMARY KEY"] if key == [r["name"]] else []
            parts += ["UNIQUE"] if (r["name"],) in unique else []
            definitions.append(" ".join(p for p in parts if p))
        definitions += [f"PRIMARY KEY ({', '.join(map(quote, key))})"] if len(key) > 1 else []
        definitions += [f"UNIQUE ({', '.join(map(quote, cols))})" for cols in unique if len(cols) > 1]
        new = f"{table}__retyped"
        names = [quote(r["name"]) for r in info]
        copied = ["NULL" if r["name"] == column else quote(r["name"]) for r in info]
        self.sql(f"CREATE TABLE {quote(new)} ({', '.join(definitions)})")
        self.sql(f"INSERT INTO {quote(new)} ({', '.join(names)}) SELECT {', '.join(copied)} FROM {quote(table)}")
        self.sql(f"DROP TABLE {quote(table)}")
        self.sql(f"ALTER TABLE {quote(new)} RENAME TO {quote(table)}")
        for statement in indexes:
            self.sql(statement)

    def lock_key(self, key: str, shared: bool = False, defer: bool = False) -> None:
        # Writers are serialised already (BEGIN IMMEDIATE): holding the write
        # transaction is holding every lock. Record the key for readability.
        if not self.in_transaction:
            raise RuntimeError("lock_key outside a transaction")

    def try_lock_key(self, key: str) -> bool:
        """A lease row: held by this transaction until it ends (writers are serial)."""
        self.lock_key(key)
        return True


def _duplicate(text: str) -> Exception:
    match = re.search(r"UNIQUE constraint failed: ([^.]+)\.(\w+)", text)
    if match:
        table, column = match.group(1), match.group(2)
        doctype = table[3:] if table.startswith("tab") else table
        return DuplicateEntryError(
            f"{doctype} with this {column} already exists", doctype=doctype, field=column,
        )
    return DuplicateEntryError(f"duplicate entry: {text}")


def advisory_key(key: str) -> int:
    """A stable signed 64-bit number for a lock name (shared with PostgreSQL)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)
