"""Statements sent to PostgreSQL in one message, each still its own statement, prepared once.

Why not psycopg's ``execute`` and pipeline mode: its pipeline flushes every statement to the
socket as it is queued, so the server wakes once per statement. Where a wake-up is dear (a virtual
machine, a database on another host) three statements in psycopg's pipeline cost two and a half
round trips; queued in libpq's pipeline and flushed once, they cost one (docs/performance.md).
Here the statements are queued through psycopg's own libpq wrapper (``conn.pgconn``; pipeline
mode needs libpq 14, Close 17: ``psycopg[binary]`` 3.3 brings its own), their parameters dumped
by psycopg's ``Transformer`` exactly as ``execute`` would dump them, and the answers read back in
order.

**Prepared statements.** The server parses and plans an unnamed statement every time (~100 µs for
the update log's append on the VM of docs/performance.md, against ~20 µs to run it prepared). So a
statement seen a second time on a connection is prepared under a name, in the same message as its
first run as such, and run by name from then on (``Statements``: one per connection, as psycopg
keeps one). psycopg's own preparing is turned off on these connections (``prepare_threshold=None``):
it empties the server's statements (``DEALLOCATE ALL``) when it sees a ROLLBACK or DDL go by while
it holds some of its own, which would leave ours naming statements that are gone.

What can make a prepared statement wrong, and what is done about it:

- its parameters' types are fixed when it is prepared: the key is the text *and* the types psycopg
  gave the values (a str is sent untyped, an int as the smallest integer type that holds it), so a
  call with other types gets its own statement;
- the schema changes under it. DDL on this connection (CREATE, ALTER, DROP) forgets every
  statement at once, as psycopg does, and again when its transaction has ended (what was prepared
  after the DDL may fit a schema that a ROLLBACK took back). DDL on another connection shows as a
  prepared statement failing where it ran before — its result's columns changed ("cached plan must
  not change result type", 0A000), a column's type no longer fits a parameter's (class 42), or the
  server no longer knows the name (26000): that statement is forgotten and the error raised as
  ``StaleStatement`` (a ``TransientError``: try again), so DDL elsewhere costs one failed statement
  per connection and statement, as it did with psycopg's preparing;
- a forgotten statement is closed on the server with the next batch sent outside a transaction
  (libpq's Close, which is no error for a name the server does not know); one whose PREPARE never
  ran (its batch failed first) is never used.

A batch's answers are read to its end, the cache told what they say, and the server's error raised
before any row is loaded. Prepared statements are not transactional: a ROLLBACK keeps them.
"""

from __future__ import annotations

import functools
import re
import select
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

from psycopg import errors
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq import DiagnosticField, ExecStatus, TransactionStatus
from psycopg.types.json import set_json_loads

from docstream import deepjson

Row = dict[str, Any]
Key = tuple[bytes, tuple[int, ...]]

_FAILED = (ExecStatus.FATAL_ERROR, ExecStatus.PIPELINE_ABORTED)
# a named statement that fails so no longer fits the server: its plan's result changed ("cached plan
# must not change result type"), its name is gone, or a parameter type fixed when it was prepared no
# longer fits a column whose type changed ("operator does not exist: text = bigint")
_STALE_CLASSES = frozenset({b"0A", b"26", b"42"})
# DDL: our statements may no longer fit; DISCARD ALL, DEALLOCATE ALL: the server dropped them itself
_FORGET_ALL = re.compile(rb"^(?:CREATE|ALTER|DROP|DISCARD ALL|DEALLOCATE ALL)\b").match
_PREPARABLE = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"})
_CLOSE, _PREPARE, _RUN = 0, 1, 2  # what each queued command was


class StaleStatement(Exception):
    """A statement prepared on this connection failed because the schema changed under it since
    (by this connection or another): it is forgotten, and the next attempt prepares it anew."""


class Statements:
    """One connection's prepared statements: which (text, parameter types) has which name, what
    was seen once (to be prepared at its second run), and what to close on the server."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self.names: OrderedDict[Key, bytes] = OrderedDict()
        self.seen: OrderedDict[Key, None] = OrderedDict()
        self.retired: list[bytes] = []  # no longer named here; closed at the next batch outside a transaction
        self.ddl = False  # DDL went by: what was prepared in its transaction is forgotten when it ends
        self._next = 0

    def name_for(self, text: bytes, types: tuple[int, ...], eager: bool = False) -> tuple[bytes | None, bool]:
        """The name to run ``text`` by (None: unnamed), and whether to prepare it first (at its
        second run; at its first if ``eager``). A statement being prepared is named at once, so
        that the rest of its batch runs it by that name (``forget`` undoes that)."""
        key = (text, types)
        name = self.names.get(key)
        if name is not None:
            self.names.move_to_end(key)
            return name, False
        if not _preparable(text):
            return None, False
        if key not in self.seen and not eager:
            self.seen[key] = None
            if len(self.seen) > self.capacity:
                self.seen.popitem(last=False)
            return None, False
        self.seen.pop(key, None)
        self._next += 1
        name = self.names[key] = b"_ds_%d" % self._next
        if len(self.names) > self.capacity:
            self.retired.append(self.names.popitem(last=False)[1])
        return name, True

    def forget(self, text: bytes, types: tuple[int, ...], name: bytes) -> None:
        """The statement named ``name`` was never prepared (its batch failed first), or no longer
        fits: forget it, and close it on the server (closing a name the server does not know is no
        error, so either way is safe)."""
        if self.names.get((text, types)) == name:
            del self.names[(text, types)]
        self.retired.append(name)

    def forget_all(self) -> None:
        self.retired.extend(self.names.values())
        self.names.clear()
        self.seen.clear()

    def take_retired(self) -> list[bytes]:
        retired, self.retired = self.retired, []
        return retired


@functools.lru_cache(maxsize=512)
def _preparable(text: bytes) -> bool:
    head = text.lstrip().split(None, 1)
    return bool(head) and head[0].upper().decode() in _PREPARABLE


def configure(conn: Any) -> None:
    """A new connection of the pool: psycopg's preparing off, ours on (see the module's doc); JSON
    read at any depth (``deepjson.loads``: a value stored before the depth limit may be deeper
    than ``json.loads`` can go)."""
    conn.prepare_threshold = None
    conn.docstream_statements = Statements()
    set_json_loads(deepjson.loads, conn)


def run(conn: Any, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[tuple[list[Row], int]]:
    """Send ``statements`` (text with ``?`` placeholders, parameters) in one message and wait for
    every answer; each statement's rows and row count, in order. The first statement that fails
    raises its error once every answer is in (the server skips the statements after it, as it
    does in a transaction that failed)."""
    return _send(conn, ((_numbered(query), params) for query, params in statements), keep_rows=True)


def run_many(conn: Any, query: str, seq: Iterable[Sequence[Any]]) -> None:
    """One statement for each parameter set of ``seq``, in one message (prepared at once)."""
    text = _numbered(query)
    _send(conn, ((text, params) for params in seq), keep_rows=False, eager=True)


def _send(conn: Any, statements: Iterable[tuple[bytes, Sequence[Any]]], keep_rows: bool,
          eager: bool = False) -> list[tuple[list[Row], int]]:
    cache: Statements = conn.docstream_statements
    with conn.lock:
        pg = conn.pgconn
        tx = Transformer(conn)
        # every parameter dumped before anything is queued: a value psycopg cannot adapt raises here,
        # with nothing sent, no statement named and the connection as it was
        dumped = []
        for text, params in statements:
            if params:
                values = tx.dump_sequence(params, [PyFormat.AUTO] * len(params))
                dumped.append((text, values, tuple(tx.types), list(tx.formats)))
            else:
                dumped.append((text, None, (), None))
        sent: list[tuple[int, bytes, tuple[int, ...], bytes | None]] = []  # what, text, types, name
        if pg.transaction_status == TransactionStatus.IDLE:
            if cache.ddl:  # statements prepared in a transaction that ran DDL may fit a schema rolled back
                cache.forget_all()
                cache.ddl = False
            retired = cache.take_retired()
        else:
            retired = []
        pg.enter_pipeline_mode()
        try:
            syncs = 1
            if retired:  # outside a transaction, in a segment of their own
                for name in retired:
                    pg.send_close_prepared(name)
                    sent.append((_CLOSE, b"", (), name))
                pg.pipeline_sync()
                syncs = 2
            for text, values, types, formats in dumped:
                name, preparing = cache.name_for(text, types, eager)
                if preparing:
                    pg.send_prepare(name, text, param_types=types)
                    sent.append((_PREPARE, text, types, name))
                if name is None:
                    pg.send_query_params(text, values, param_types=types, param_formats=formats)
                else:
                    pg.send_query_prepared(name, values, param_formats=formats)
                sent.append((_RUN, text, types, name))
            pg.pipeline_sync()
            _flush(pg)
            answers = _answers(pg, syncs)
        finally:
            try:
                pg.exit_pipeline_mode()
            except Exception:  # answers left unread (broken off): the pool replaces a closed connection
                conn.close()
        # first what the answers tell the cache, then the error if any, then the rows: a row that
        # cannot be loaded must not leave the cache naming a statement the server does not have
        results, failed, stale = [], None, False
        for (what, text, types, name), res in zip(sent, answers):
            status = res.status
            if what == _CLOSE:
                continue
            if status in _FAILED:
                this_stale = False
                if what == _PREPARE:  # never made (its batch failed before it, or it is wrong)
                    cache.forget(text, types, name)
                elif name is not None and status == ExecStatus.FATAL_ERROR:
                    this_stale = (res.error_field(DiagnosticField.SQLSTATE) or b"")[:2] in _STALE_CLASSES
                    if this_stale:
                        cache.forget(text, types, name)
                if failed is None and status == ExecStatus.FATAL_ERROR:
                    failed, stale = res, this_stale
                elif failed is None:  # aborted with no error before it: never, but never silently
                    raise errors.InternalError(f"PostgreSQL skipped a statement of a batch: {text[:80]!r}")
                continue
            if what == _PREPARE:
                continue
            if _FORGET_ALL(res.command_status or b""):
                cache.forget_all()
                cache.ddl = True
            results.append(res)
        if failed is not None:
            error = errors.error_from_result(failed, encoding=conn.info.encoding)
            if stale:
                raise StaleStatement(str(error)) from error
            raise error
        if not keep_rows:
            return []
        return [(_rows(tx, res), res.command_tuples if res.command_tuples is not None else -1) for res in results]


@functools.lru_cache(maxsize=1024)
def _numbered(query: str) -> bytes:
    """``?`` placeholders as PostgreSQL's ``$1``, ``$2``, … (a ``?N`` placeholder as ``$N``)."""
    parts = query.split("?")
    out, n = [parts[0]], 0
    for part in parts[1:]:
        digits = len(part) - len(part.lstrip("0123456789"))
        if digits:
            out.append(f"${part[:digits]}{part[digits:]}")
        else:
            n += 1
            out.append(f"${n}{part}")
    return "".join(out).encode()


def _flush(pg: Any) -> None:
    """Send what libpq holds; while the socket is full, read what the server answers meanwhile (so
    that neither side waits for the other)."""
    poller = None
    while pg.flush():
        if poller is None:
            poller = select.poll()
            poller.register(pg.socket, select.POLLIN | select.POLLOUT)
        if any(event & select.POLLIN for _, event in poller.poll()):
            pg.consume_input()


def _answers(pg: Any, syncs: int) -> list[Any]:
    """Every result up to the pipeline's last sync point (of ``syncs``), in order."""
    out, poller = [], None
    while True:
        while pg.is_busy():
            if poller is None:
                poller = select.poll()
                poller.register(pg.socket, select.POLLIN)
            poller.poll()
            pg.consume_input()
        res = pg.get_result()
        if res is None:  # the end of one statement's results
            continue
        if res.status == ExecStatus.PIPELINE_SYNC:
            syncs -= 1
            if not syncs:
                return out
            continue
        out.append(res)


def _rows(tx: Transformer, res: Any) -> list[Row]:
    if res.status != ExecStatus.TUPLES_OK or not res.nfields:
        return []
    tx.set_pgresult(res)
    names = [res.fname(i).decode() for i in range(res.nfields)]
    return tx.load_rows(0, res.ntuples, lambda values: dict(zip(names, values)))
