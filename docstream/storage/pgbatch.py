"""Statements sent to PostgreSQL in one message, each still its own statement, prepared once.

Why not psycopg's ``execute`` and pipeline mode: its pipeline flushes every statement to the
socket as it is queued, so the server wakes once per statement. Where a wake-up is dear (a virtual
machine, a database on another host) three statements in psycopg's pipeline cost two and a half
round trips; queued in libpq's pipeline and flushed once, they cost one (docs/performance.md).
Here the statements are queued through psycopg's own libpq wrapper (``conn.pgconn``; pipeline mode
needs libpq 14 or later, and ``psycopg[binary]`` brings its own), their parameters dumped by
psycopg's ``Transformer`` exactly as ``execute`` would dump them, and the answers read back in
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
- a statement this connection prepared fails at its next run when its result's columns changed (a
  ``SELECT *`` after a column was added: "cached plan must not change result type"): DDL run on this
  connection (DROP, ALTER) forgets them all at once, as psycopg does, and deallocates them with
  the next batch sent outside a transaction; a prepared statement that fails so (or because the
  server no longer knows it: a DISCARD or DEALLOCATE of someone else's) is forgotten, so DDL of
  another connection costs one failed statement per connection, as it did with psycopg's
  preparing (``TransientError``: try again);
- PostgreSQL re-plans a prepared statement itself when a table it reads changes, so a ROLLBACK
  needs nothing (psycopg forgets everything on one, for parameter types made in the rolled-back
  transaction; ours are built-in types only).

Prepared statements are not transactional: a ROLLBACK keeps them, and the name of one whose
PREPARE failed (in a failed batch) is never used.
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

Row = dict[str, Any]
Key = tuple[bytes, tuple[int, ...]]

_FAILED = (ExecStatus.FATAL_ERROR, ExecStatus.PIPELINE_ABORTED)
_NO_SUCH_STATEMENT = b"26000"
_STALE = frozenset({b"0A000", _NO_SUCH_STATEMENT})  # "cached plan must not change result type"; gone
_CHANGED_TABLES = re.compile(rb"^(?:DROP|ALTER)\b").match  # our statements may now be wrong: retire them
_GONE = re.compile(rb"^(?:DISCARD|DEALLOCATE)\b").match  # the server may have dropped them itself
_PREPARABLE = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"})


class Statements:
    """One connection's prepared statements: which (text, parameter types) has which name, what
    was seen once (to be prepared at its second run), and what to deallocate at the next batch."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self.names: OrderedDict[Key, bytes] = OrderedDict()
        self.seen: OrderedDict[Key, None] = OrderedDict()
        self.retired: list[bytes] = []  # prepared on the server, no longer named here
        self._next = 0

    def name_for(self, text: bytes, types: tuple[int, ...], eager: bool = False) -> tuple[bytes | None, bool]:
        """The name to run ``text`` by (None: unnamed), and whether to prepare it first (at its
        second run; at its first if ``eager``). A statement being prepared is named at once, so
        that the rest of its batch runs it by that name (``failed`` undoes that)."""
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

    def failed(self, text: bytes, types: tuple[int, ...], name: bytes, exists: bool) -> None:
        """The statement named ``name`` failed to be prepared (``exists`` False) or, prepared,
        is no longer right or no longer there: forget it (and deallocate it if it ``exists``)."""
        if self.names.get((text, types)) == name:
            del self.names[(text, types)]
        if exists:
            self.retired.append(name)

    def forget_all(self, deallocate: bool = True) -> None:
        """Forget every statement; ``deallocate`` them at the next batch (not when the server may
        have dropped them already: a DEALLOCATE of a name it does not know is an error)."""
        if deallocate:
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
    """A new connection of the pool: psycopg's preparing off, ours on (see the module's doc)."""
    conn.prepare_threshold = None
    conn.docstream_statements = Statements()


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
        sent: list[tuple[bytes, tuple[int, ...], bytes | None, bool]] = []  # text, types, name, preparing
        idle = pg.transaction_status == TransactionStatus.IDLE
        pg.enter_pipeline_mode()
        try:
            syncs = 1
            if cache.retired and idle:
                # outside a transaction, in a segment of their own: one that failed aborts nothing else
                for name in cache.take_retired():
                    pg.send_query_params(b"DEALLOCATE " + name, None)
                    sent.append((b"", (), None, False))
                pg.pipeline_sync()
                syncs = 2
            for text, values, types, formats in dumped:
                name, preparing = cache.name_for(text, types, eager)
                if preparing:
                    pg.send_prepare(name, text, param_types=types)
                    sent.append((text, types, name, True))
                if name is None:
                    pg.send_query_params(text, values, param_types=types, param_formats=formats)
                else:
                    pg.send_query_prepared(name, values, param_formats=formats)
                sent.append((text, types, name, False))
            pg.pipeline_sync()
            _flush(pg)
            answers = _answers(pg, syncs)
        finally:
            try:
                pg.exit_pipeline_mode()
            except Exception:  # answers left unread (broken off): the pool replaces a closed connection
                conn.close()
        out: list[tuple[list[Row], int]] = []
        failed = None
        for (text, types, name, preparing), res in zip(sent, answers):
            status = res.status
            if not text:  # a DEALLOCATE of ours: whatever it answered, the name is free
                continue
            if status in _FAILED:
                if preparing:  # never made (its batch failed before it, or it is wrong): never used
                    cache.failed(text, types, name, exists=False)
                elif name is not None and status == ExecStatus.FATAL_ERROR:
                    state = res.error_field(DiagnosticField.SQLSTATE)
                    if state in _STALE:  # prepared before its table changed, or gone from the server
                        cache.failed(text, types, name, exists=state != _NO_SUCH_STATEMENT)
                if failed is None and status == ExecStatus.FATAL_ERROR:
                    failed = res
                continue
            if preparing:
                continue
            command = res.command_status
            if command and (_CHANGED_TABLES(command) or _GONE(command)):
                cache.forget_all(deallocate=not _GONE(command))
            if keep_rows:
                out.append((_rows(tx, res), res.command_tuples if res.command_tuples is not None else -1))
        if failed is not None:
            raise errors.error_from_result(failed, encoding=conn.info.encoding)
        return out


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
