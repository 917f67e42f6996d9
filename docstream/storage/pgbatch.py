"""Several statements sent to PostgreSQL in one message, each still its own statement.

Why not psycopg's pipeline mode, which sends several statements without waiting for each answer:
it flushes every statement to the socket as it is queued, so the server wakes once per statement.
Where a wake-up is dear (a virtual machine, a database on another host) three statements in
psycopg's pipeline cost two and a half round trips; queued in libpq's pipeline and flushed once,
they cost one (docs/performance.md). Here the statements are queued through psycopg's own libpq
wrapper (``conn.pgconn``), their parameters dumped by psycopg's ``Transformer`` exactly as
``execute`` would dump them, and the answers read back in order.

Each statement is sent unnamed: the server parses and plans it every time (~50 µs for a ToDo
INSERT on the VM of docs/performance.md), where psycopg's ``execute`` prepares a statement it has
run five times. Named statements would need a cache per connection kept true to the server, and
psycopg empties the server's (``DEALLOCATE ALL``) when it sees a ROLLBACK or DDL go by while it
holds prepared statements of its own: a cache of ours would then name statements that are gone.
"""

from __future__ import annotations

import functools
import select
from collections.abc import Sequence
from typing import Any

from psycopg import errors
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq import ExecStatus

Row = dict[str, Any]


def run(conn: Any, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[tuple[list[Row], int]]:
    """Send ``statements`` (text with ``?`` placeholders, parameters) in one message and wait for
    every answer; each statement's rows and row count, in order. The first statement that fails
    raises its error once every answer is in (the server skips the statements after it, as it
    does in a transaction that failed)."""
    with conn.lock:
        pg = conn.pgconn
        tx = Transformer(conn)
        pg.enter_pipeline_mode()
        try:
            for query, params in statements:
                if params:
                    values = tx.dump_sequence(params, [PyFormat.AUTO] * len(params))
                    pg.send_query_params(_numbered(query), values, param_types=tx.types, param_formats=tx.formats)
                else:
                    pg.send_query_params(_numbered(query), None)
            pg.pipeline_sync()
            _flush(pg)
            answers = _answers(pg)
        finally:
            try:
                pg.exit_pipeline_mode()
            except Exception:  # a broken connection: the pool drops it; the error that broke it is raised
                pass
        out: list[tuple[list[Row], int]] = []
        for res in answers:
            if res.status == ExecStatus.FATAL_ERROR:
                raise errors.error_from_result(res, encoding=conn.info.encoding)
            out.append((_rows(tx, res), res.command_tuples if res.command_tuples is not None else -1))
        return out


@functools.lru_cache(maxsize=1024)
def _numbered(query: str) -> bytes:
    """``?`` placeholders as PostgreSQL's ``$1``, ``$2``, …"""
    parts = query.split("?")
    return "".join(part + (f"${i}" if i < len(parts) else "") for i, part in enumerate(parts, 1)).encode()


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


def _answers(pg: Any) -> list[Any]:
    """Every result up to the pipeline's sync point, in order."""
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
            return out
        out.append(res)


def _rows(tx: Transformer, res: Any) -> list[Row]:
    if res.status != ExecStatus.TUPLES_OK or not res.nfields:
        return []
    tx.set_pgresult(res)
    names = [res.fname(i).decode() for i in range(res.nfields)]
    return tx.load_rows(0, res.ntuples, lambda values: dict(zip(names, values)))
