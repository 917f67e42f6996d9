"""The storage interface: one contract, two backends (SQLite and PostgreSQL).

The model layer speaks SQL written with ``?`` placeholders and double-quoted
identifiers; each backend adapts that to its driver, owns its connections and
translates driver errors into the docstream exception tree at this boundary.

Transactions are per thread: ``with db.transaction():`` opens one (or joins the
one already open on this thread), and every ``db.sql`` inside runs in it. Outside one, a
read is sent on its own (one statement is atomic by itself: no BEGIN and COMMIT, which
are round trips on a server) and a write gets a transaction of its own.
``db.savepoint()`` lets a caller undo part of a transaction (the sync engine
applies each event of a page inside one).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

Row = dict[str, Any]
# a statement sent later (``Database.defer``): its text, its parameters, and who wants its rows
Deferred = tuple[str, Sequence[Any], Callable[[list[Row]], None] | None]


class _TxState(threading.local):
    def __init__(self) -> None:
        self.conn: Any = None
        self.depth = 0
        self.write = False
        self.savepoints = 0
        self.after_commit: list[Any] = []
        self.on_rollback: list[Any] = []
        self.deferred: list[Deferred] = []
        self.memo: dict[Any, Any] = {}


class Database(ABC):
    """A site's database. Thread-safe; one transaction per thread at a time."""

    dialect: str = ""
    # True when sending several statements at once saves round trips (a server, not a library)
    batches_statements: bool = False

    def __init__(self, url: str) -> None:
        self.url = url
        self._tx = _TxState()

    # -- connections -------------------------------------------------------
    @abstractmethod
    def _acquire(self, write: bool) -> Any: ...

    @abstractmethod
    def _release(self, conn: Any) -> None: ...

    @abstractmethod
    def _begin(self, conn: Any, write: bool) -> None: ...

    @abstractmethod
    def _run(self, conn: Any, query: str, params: Sequence[Any]) -> tuple[list[Row], int]: ...

    @abstractmethod
    def _run_many(self, conn: Any, query: str, seq: Iterable[Sequence[Any]]) -> None: ...

    @abstractmethod
    def _translate(self, exc: Exception) -> Exception | None: ...

    def configure(self, settings: dict[str, Any]) -> None:
        """The site's settings that concern its database (none, unless a backend says otherwise)."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def column_type(self, fieldtype: str) -> str: ...

    @abstractmethod
    def column_types(self, table: str) -> dict[str, str]:
        """Each column's type, written as ``column_type`` writes it, in lower case (for comparing);
        empty when there is no such table."""

    def table_columns(self, table: str) -> set[str]:
        return set(self.column_types(table))

    @abstractmethod
    def retype_column(self, table: str, column: str, sqltype: str) -> None:
        """Give ``column`` the type ``sqltype``, emptied (NULL in every row: the caller writes the
        converted values back). The table's other columns, its keys and its indexes stay."""

    @abstractmethod
    def lock_key(self, key: str, shared: bool = False, defer: bool = False) -> None:
        """Take a lock named ``key`` held until the current transaction ends; shared locks only
        exclude exclusive ones. With ``defer`` the lock is taken just before the transaction's
        next statement, sent together with it (see ``defer``)."""

    @abstractmethod
    def try_lock_key(self, key: str) -> bool:
        """Like lock_key, but return False at once when another holds it."""

    # -- transactions ------------------------------------------------------
    @property
    def in_transaction(self) -> bool:
        return self._tx.depth > 0

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[None]:
        tx = self._tx
        if tx.depth:
            if write and not tx.write:
                raise RuntimeError("a write inside a read-only transaction")
            tx.depth += 1
            try:
                yield
            finally:
                tx.depth -= 1
            return
        conn = self._acquire(write)
        tx.conn, tx.depth, tx.write, tx.after_commit, tx.on_rollback = conn, 1, write, [], []
        tx.deferred, tx.memo = [], {}
        committed = False
        try:
            self._guard(self._begin, conn, write)
            yield
            deferred = self._take_deferred()
            tx.depth, tx.conn = 0, None
            self._guard(self._commit, conn, deferred)
            committed = True
        finally:
            tx.depth, tx.conn, tx.deferred, tx.memo = 0, None, [], {}
            callbacks = tx.after_commit if committed else tx.on_rollback
            tx.after_commit, tx.on_rollback = [], []
            if not committed:
                _quiet_rollback(conn)
            self._release(conn)
            for callback in callbacks:
                callback()

    def _commit(self, conn: Any, deferred: list[Deferred]) -> None:
        """Run what was deferred, then commit. Servers override it to send both at once."""
        if deferred:
            self._run_batch(conn, deferred)
        conn.commit()

    @property
    def memo(self) -> dict[Any, Any]:
        """A dict that lives as long as the current transaction: for facts that can't change
        before it ends (because it holds the lock that guards them), looked up once per transaction.
        A rolled-back savepoint releases the locks taken inside it, so what was first memoised
        inside it is forgotten with it."""
        tx = self._tx  # a thread-local: each attribute read looks the thread up, so read it once
        if not tx.depth:
            raise RuntimeError("memo outside a transaction")
        return tx.memo

    def after_commit(self, callback: Any) -> None:
        """Run ``callback`` once the current transaction has committed (never on rollback)."""
        tx = self._tx
        if not tx.depth:
            callback()
            return
        if callback not in tx.after_commit:
            tx.after_commit.append(callback)

    def on_rollback(self, callback: Any) -> None:
        """Run ``callback`` if the current transaction is rolled back (to undo work done elsewhere)."""
        if self._tx.depth and callback not in self._tx.on_rollback:
            self._tx.on_rollback.append(callback)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        if not self._tx.depth:
            raise RuntimeError("savepoint outside a transaction")
        self._tx.savepoints += 1
        name = f"sp{self._tx.savepoints}"
        # SAVEPOINT and RELEASE travel with the statements around them (on a server, no round trip
        # of their own): the order is kept, so the savepoint exists before anything inside it runs
        self.defer(f"SAVEPOINT {name}")
        known = set(self._tx.memo)
        try:
            yield
        except BaseException:
            self.sql(f"ROLLBACK TO SAVEPOINT {name}")
            self.defer(f"RELEASE SAVEPOINT {name}")
            for key in set(self._tx.memo) - known:  # learnt under locks the rollback has released
                del self._tx.memo[key]
            raise
        else:
            self.defer(f"RELEASE SAVEPOINT {name}")

    # -- statements --------------------------------------------------------
    def defer(self, query: str, params: Sequence[Any] = (), on_rows: Callable[[list[Row]], None] | None = None) -> None:
        """Run ``query`` before the next statement of the current transaction, or before its
        commit. Where the database is a server the two travel in one round trip; otherwise it runs
        at once. Its errors surface at that next statement; its rows, if ``on_rows`` wants them,
        are handed to it once they have arrived (``flush`` sends what waits at once)."""
        tx = self._tx
        if not tx.depth:
            raise RuntimeError("defer outside a transaction")
        if not self.batches_statements:
            rows = self._execute(query, params)[0]
            if on_rows is not None:
                on_rows(rows)
            return
        tx.deferred.append((query, params, on_rows))

    def flush(self) -> None:
        """Send the deferred statements now (for a caller that needs their rows before any other
        statement of its own)."""
        if self._tx.depth and self._tx.deferred:
            self._guard(self._run_batch, self._tx.conn, self._take_deferred())

    def sql(self, query: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement; rows as dicts (empty for statements without rows)."""
        return self._execute(query, params)[0]

    def execute(self, query: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it touched."""
        return self._execute(query, params)[1]

    def value(self, query: str, params: Sequence[Any] = ()) -> Any:
        rows = self.sql(query, params)
        if not rows:
            return None
        return next(iter(rows[0].values()))

    def executemany(self, query: str, seq: Iterable[Sequence[Any]]) -> None:
        with self.transaction():
            if self._tx.deferred:
                self._guard(self._run_batch, self._tx.conn, self._take_deferred())
            self._guard(self._run_many, self._tx.conn, query, seq)

    def _execute(self, query: str, params: Sequence[Any]) -> tuple[list[Row], int]:
        tx = self._tx
        if tx.depth:
            if tx.deferred:
                return self._guard(self._run_batch, tx.conn, [*self._take_deferred(), (query, params, None)])
            return self._guard(self._run, tx.conn, query, params)
        if not _is_write(query):  # one read is atomic by itself: no BEGIN and COMMIT (two round trips on a server)
            conn = self._acquire(False)
            try:
                return self._guard(self._run, conn, query, params)
            finally:
                self._release(conn)
        with self.transaction():
            return self._guard(self._run, self._tx.conn, query, params)

    def _take_deferred(self) -> list[Deferred]:
        statements, self._tx.deferred = self._tx.deferred, []
        return statements

    def _run_batch(self, conn: Any, statements: list[Deferred]) -> tuple[list[Row], int]:
        """Run statements in order (their rows to whoever wants them); the last one's result.
        Servers override it to send them at once."""
        result: tuple[list[Row], int] = ([], -1)
        for query, params, on_rows in statements:
            result = self._run(conn, query, params)
            if on_rows is not None:
                on_rows(result[0])
        return result

    def _guard(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:
            translated = self._translate(exc)
            if translated is None:
                raise
            raise translated from exc


def _quiet_rollback(conn: Any) -> None:
    try:
        conn.rollback()
    except Exception:  # the connection may be gone: then there is nothing to undo
        pass


def _is_write(query: str) -> bool:
    head = query.lstrip().split(None, 1)[0].upper() if query.strip() else ""
    return head not in {"SELECT", "WITH", "PRAGMA", "EXPLAIN", "SHOW"}


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
