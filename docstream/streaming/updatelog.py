"""The producer's update log: every change of a streamed DocType, in the change's own transaction.

Create logs the whole document, Update the diff, Delete only the name. The log is an append-only
table keyed by ``sequence`` (on SQLite the rowid: one B-tree takes each append) and a log's name
is its sequence, and a number is never given twice. On SQLite the next is one more than the
highest there is (or ever was: a deleted head leaves its number behind in a floor row of
``tabSeries``), and a rolled-back change gives its number back; on PostgreSQL it comes from a
sequence, and a rolled-back change leaves a gap that nothing fills. Appends are serialised until
commit — SQLite has one writer at a time, PostgreSQL takes an exclusive transaction lock first —
so commit order is sequence order and a reader never sees a gap that a running transaction could
fill later.

What a streamed write costs beyond the same write unstreamed is one row appended (to the log's
table alone: a name is found by its key, so it has no index) and, on PostgreSQL, no round trip:
the append travels with the COMMIT.
"""

from __future__ import annotations

import functools
import itertools
import operator
from typing import Any

from docstream.errors import ExpressionError
from docstream.expressions import compile_expression
from docstream.model.diff import diff, is_empty
from docstream.model.documents import Session
from docstream.model.types import now
from docstream.storage import Database, quote
from docstream.storage.postgres import advisory_key
from docstream.streaming import notify, records

SEQUENCE_KEY = "docstream:event-update-log"  # the append lock, and the floor row in tabSeries
RESTORED_KEY = "docstream:restored-head"  # tabSeries: where the log went back to at the last restore
PRUNED_KEY = "docstream:pruned-through"  # tabSeries: retention deleted every log up to this sequence
# writers hold it shared while they decide whether a change is streamed; an approval holds it
# exclusively, so a change is either logged or already visible to the approval's backfill
SUBSCRIPTION_LOCK = "docstream:subscriptions"
SUBSCRIPTION_DOCTYPES = frozenset({"Event Consumer", "Event Consumer Document Type"})
NOT_STREAMED = frozenset({
    "DocType", "DocField", "DocPerm", "Custom Field", "Event Producer", "Event Producer Document Type",
    "Event Update Log", "Event Sync Log",
    "Document Type Mapping", "Document Type Field Mapping", "User", "Has Role", "Role",
}) | SUBSCRIPTION_DOCTYPES
LOG_FIELDS = ("update_type", "ref_doctype", "docname", "data", "origin", "target", "routing", "snapshot", "source")
_LOG_FIELD_SET = frozenset(LOG_FIELDS)
_TABLE = "tabEvent Update Log"


def install(site: Any) -> None:
    site.hooks.on("validate")(_before_write)  # before the row's INSERT or UPDATE
    site.hooks.on("on_trash")(_before_write)  # before its DELETE
    site.hooks.on("after_insert")(_on_insert)
    site.hooks.on("on_update")(_on_update)
    site.hooks.on("after_delete")(_on_delete)
    site.hooks.on("on_trash", "Event Update Log")(_on_trash_log)


def _on_insert(session: Session, doc: dict[str, Any], old: Any) -> None:
    _log(session, "Create", doc, None)


def _on_update(session: Session, doc: dict[str, Any], old: dict[str, Any] | None) -> None:
    if old is not None:
        _log(session, "Update", doc, old)


def _on_delete(session: Session, doc: dict[str, Any], old: Any) -> None:
    _log(session, "Delete", None, doc)


def _on_trash_log(session: Session, doc: dict[str, Any], old: Any) -> None:
    keep_numbers(session.db, int(doc["sequence"]))


def _before_write(session: Session, doc: dict[str, Any], old: Any) -> None:
    """A document of a DocType that may be streamed is about to be written: its subscribers are
    read with the write's own statement (in one round trip on PostgreSQL), so that asking for
    them after the write costs nothing."""
    doctype = doc.get("doctype")
    db = session.db
    if doctype in NOT_STREAMED or not db.in_transaction or session.meta(doctype).istable:
        return
    memo = db.memo.setdefault(SUBSCRIPTION_LOCK, {})
    if doctype not in memo:
        _read_subscribers(db, memo, doctype)


def subscribers(session: Session, doctype: str) -> list[dict[str, Any]]:
    """The approved, subscribed consumer rows of ``doctype``, read once per transaction: the
    transaction holds the subscription lock shared from the first read, so no approval or
    unsubscribe of another can change them before it ends (its own changes forget them)."""
    db = session.db
    memo = db.memo.setdefault(SUBSCRIPTION_LOCK, {})
    if doctype not in memo:
        _read_subscribers(db, memo, doctype)
    if memo[doctype] is _PENDING:  # read before the write, with nothing sent since
        db.flush()
    if memo[doctype] is _PENDING:
        # its answer was lost with a statement that failed in a savepoint since rolled back (the
        # lock, taken before that savepoint with the memo's first read, is still held): read again
        memo[doctype] = db.sql(_SUBSCRIBERS_SQL, (doctype,))
    return memo[doctype]


_PENDING: list[dict[str, Any]] = []  # a read deferred and not yet answered (compared by identity)


def _read_subscribers(db: Database, memo: dict[str, Any], doctype: str) -> None:
    """Defer the read of ``doctype``'s subscribers (and, the transaction's first, the shared
    subscription lock before it): it travels with the next statement; its rows land in ``memo``."""
    if not memo:
        db.lock_key(SUBSCRIPTION_LOCK, shared=True, defer=True)
    memo[doctype] = _PENDING
    db.defer(_SUBSCRIBERS_SQL, (doctype,), on_rows=functools.partial(memo.__setitem__, doctype))


_SUBSCRIBERS_SQL = ('SELECT parent AS consumer, "condition" FROM "tabEvent Consumer Document Type" '
                    "WHERE ref_doctype = ? AND status = 'Approved' AND COALESCE(unsubscribed, 0) = 0")


def forget_subscribers(db: Database) -> None:
    """This transaction changed subscriptions: read them again at the next change."""
    if db.in_transaction:
        db.memo.pop(SUBSCRIPTION_LOCK, None)


def _log(session: Session, update_type: str, new: dict | None, old: dict | None) -> None:
    doctype = (new or old or {})["doctype"]
    if doctype in NOT_STREAMED:
        if doctype in SUBSCRIPTION_DOCTYPES:
            forget_subscribers(session.db)
        return
    if session.meta(doctype).istable:
        return
    rows_ = subscribers(session, doctype)
    if not rows_:
        return
    if update_type == "Update":
        data: Any = diff(old, new)
        if is_empty(data):
            return
    else:
        data = new if update_type == "Create" else None
    routing = _routing(update_type, new, old, rows_)
    if routing and all(v == "skip" for v in routing.values()) and len(routing) == len(rows_):
        return
    db, stamp, user = session.db, now(), session.user
    snapshot = records.dumps(new) if routing and "create" in routing.values() else None
    db.defer(*_append(db.dialect, False, user, stamp, [  # LOG_FIELDS
        update_type, doctype, (new or old)["name"], records.dumps(data) if data is not None else None,
        session.flags.get("origin"), None, records.dumps(routing) if routing else None, snapshot,
        session.flags.get("source")]))
    notify.after_commit(session.site, {r["consumer"] for r in rows_ if routing.get(r["consumer"]) != "skip"})


def append_log(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    """Append one log (``values``: some of LOG_FIELDS) with the next sequence, at once; the log
    as stored. (A change's own log is appended by ``_log``: deferred to the commit.)"""
    unknown = values.keys() - _LOG_FIELD_SET
    if unknown:
        raise ValueError(f"an update log has no field {sorted(unknown)[0]!r}")
    db, stamp, user = session.db, now(), session.user
    statement, params = append_statement(db.dialect, user, stamp, values, returning=True)
    with db.transaction():
        sequence = int(db.value(statement, params))
    return {"doctype": "Event Update Log", "name": str(sequence), "sequence": sequence,
            "owner": user, "creation": stamp, "modified": stamp, "modified_by": user, "docstatus": 0, "idx": 0,
            **{k: values.get(k) for k in LOG_FIELDS}}


def append_statement(dialect: str, user: str, stamp: str, values: dict[str, Any],
                     returning: bool = False) -> tuple[str, list[Any]]:
    """The statement that appends one log, and its parameters (``_log`` sends the same, built
    inline; the benchmarks' raw floor uses it too)."""
    routing = values.get("routing")
    fields = [records.dumps(routing) if k == "routing" and routing is not None else values.get(k) for k in LOG_FIELDS]
    return _append(dialect, returning, user, stamp, fields)


_COLUMNS = ("sequence", "name", "owner", "creation", "modified", "modified_by", "docstatus", "idx", *LOG_FIELDS)
# PostgreSQL numbers appends from a sequence, taken under the exclusive lock in the append's own
# statement (the lock in the innermost subquery, ``nextval`` in the one around it: the executor
# produces the locked row before it numbers it). Reading the log's highest number and the floor
# row under the lock cost ~70 µs of a write, and a second statement or a function call more; sent
# with the COMMIT, a streamed write now pays little more than the row (docs/performance.md).
SEQUENCE = "docstream_event_update_log_seq"
_RETIRED = ("DROP FUNCTION IF EXISTS docstream_append_update_log_v1",)  # the append of earlier versions
_PG_TYPES = {"owner": "text", "creation": "timestamp", "modified": "timestamp", "modified_by": "text",
             "update_type": "text", "ref_doctype": "text", "docname": "text", "data": "text", "origin": "text",
             "target": "text", "routing": "jsonb", "snapshot": "text", "source": "text"}


def _append(dialect: str, returning: bool, user: str, stamp: str, fields: list[Any]) -> tuple[str, list[Any]]:
    """The append and its parameters: owner, creation, modified, modified_by (on SQLite the user
    and the stamp once each, numbered parameters serving twice), then the values of
    LOG_FIELDS that are not None (``fields``: all of them, in order; a None is written as NULL in
    the statement's text, not bound: binding None costs Python's sqlite3 an exception raised and
    swallowed, ~0.7 µs each, and most logs have four)."""
    present = tuple(map(operator.is_not, fields, _NONES))  # map and compress: no Python frame per field
    stamps = (user, stamp, stamp, user) if dialect == "postgres" else (user, stamp)  # SQLite: ?1 and ?2 twice
    return _append_sql(dialect, returning, present), [*stamps, *itertools.compress(fields, present)]


_NONES = (None,) * len(LOG_FIELDS)


@functools.lru_cache(maxsize=64)
def _append_sql(dialect: str, returning: bool, present: tuple[bool, ...]) -> str:
    """The append: one statement, whose only value (``returning``: on SQLite the value costs a
    row to fetch) is the new log's sequence; NULL for each of LOG_FIELDS not ``present``, its
    parameters as ``_append`` orders them."""
    insert = f"INSERT INTO {quote(_TABLE)} ({', '.join(quote(c) for c in _COLUMNS)}) "
    back = " RETURNING sequence" if returning else ""
    if dialect == "postgres":
        values = ", ".join(["v", "CAST(v AS TEXT)", *[f"?::{_PG_TYPES[c]}" for c in _COLUMNS[2:6]], "0", "0",
                            *[f"{'?' if given else 'NULL'}::{_PG_TYPES[c]}" for c, given in zip(LOG_FIELDS, present)]])
        return (f"{insert}SELECT {values} FROM (SELECT nextval('{SEQUENCE}') AS v FROM "
                f"(SELECT pg_advisory_xact_lock({advisory_key(SEQUENCE_KEY)})) AS locked) AS following{back}")
    # VALUES with the next number as a scalar subquery, not INSERT … SELECT: SQLite runs an INSERT
    # whose SELECT reads the table it inserts into through a temporary table, which cost a third of
    # the append (docs/performance.md). The floor row's key, a constant, is written in the text.
    numbers = itertools.count(3)
    fields = [f"?{next(numbers)}" if given else "NULL" for given in present]
    following = "(" + _next_sql(dialect).replace("?", "'" + SEQUENCE_KEY.replace("'", "''") + "'") + ")"
    values = ", ".join([following, f"CAST({following} AS TEXT)", "?1", "?2", "?2", "?1", "0", "0", *fields])
    return f"{insert}VALUES ({values}){back}"


def schema(db: Database) -> tuple[str, ...]:
    """What the append needs in the database besides the log's table as it was first made (then
    ``sync_sequence``): the columns added since (a site of an earlier version, before ``migrate``
    adds their fields), and on PostgreSQL the sequence."""
    have = db.table_columns(_TABLE)
    added = tuple(f"ALTER TABLE {quote(_TABLE)} ADD COLUMN {quote(column)} TEXT" for column in _ADDED
                  if have and column not in have)
    if db.dialect != "postgres":
        return added
    return (*added, f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE} AS bigint MINVALUE 0 START 1", *_RETIRED)


_ADDED = ("source",)  # columns of the log added after its first version


def sync_sequence(db: Database) -> None:
    """PostgreSQL: bring the append's sequence up to the log's head (the highest number there is,
    or ever was: the floor row counts), never back — after the sequence was first made on a site
    of an earlier version, or logs were written with their numbers by other means (a bulk load,
    a restore of a data-only dump). Holds the append lock while it does."""
    if db.dialect != "postgres":
        return
    with db.transaction():
        db.lock_key(SEQUENCE_KEY)
        db.sql(f"SELECT setval('{SEQUENCE}', GREATEST(({_next_sql(db.dialect)}) - 1, "
               f"(SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM {SEQUENCE})), true)",
               (SEQUENCE_KEY,))


def _next_sql(dialect: str) -> str:
    greatest = "MAX" if dialect == "sqlite" else "GREATEST"
    return (f'SELECT {greatest}(COALESCE((SELECT MAX(sequence) FROM {quote(_TABLE)}), 0), '
            'COALESCE((SELECT current FROM "tabSeries" WHERE name = ?), 0)) + 1 AS v')


def lock_sequence(session: Session) -> int:
    """Hold the sequence until this transaction ends (no append can slip in); the current head."""
    session.db.lock_key(SEQUENCE_KEY)  # the lock the PostgreSQL append function takes
    return head(session)


def head(session: Session) -> int:
    """The highest sequence given out (what a consumer that has everything has seen)."""
    return log_head(session.db)


def log_head(db: Database) -> int:
    return int(db.value(_next_sql(db.dialect), (SEQUENCE_KEY,))) - 1


def note_restore(db: Database) -> int:
    """The database was just restored from a backup: note the head its log went back to (a
    consumer that had read further forked from this log there, or before); the head."""
    top = log_head(db)
    db.sql('INSERT INTO "tabSeries" (name, current) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET current = excluded.current',
           (RESTORED_KEY, top))
    return top


def restored_head(db: Database) -> int | None:
    """The head the log went back to at the last restore (None: never restored with docstream)."""
    value = db.value('SELECT current FROM "tabSeries" WHERE name = ?', (RESTORED_KEY,))
    return None if value is None else int(value)


def pruned_through(db: Database) -> int:
    """The highest sequence retention has pruned (every log up to it is gone; 0: none pruned)."""
    value = db.value('SELECT current FROM "tabSeries" WHERE name = ?', (PRUNED_KEY,))
    return 0 if value is None else int(value)


def note_pruned(db: Database, through: int) -> None:
    """Retention is deleting every log up to ``through``: a consumer whose cursor is below it can't
    read on (the change feed asks it to re-baseline), and a new baseline starts reading there."""
    keep_numbers(db, through, PRUNED_KEY)


def keep_numbers(db: Database, deleted_up_to: int, key: str = SEQUENCE_KEY) -> None:
    """Logs up to ``deleted_up_to`` are being deleted: their numbers must never be given again."""
    greatest = "MAX" if db.dialect == "sqlite" else "GREATEST"
    db.sql(f'INSERT INTO "tabSeries" (name, current) VALUES (?, ?) ON CONFLICT (name) '
           f'DO UPDATE SET current = {greatest}("tabSeries".current, excluded.current)', (key, deleted_up_to))


def _routing(update_type: str, new: dict | None, old: dict | None, rows_: list[dict]) -> dict[str, str]:
    """Per consumer with a condition: send, skip, or send the whole document as a Create."""
    out = {}
    for row in rows_:
        if (row.get("condition") or "").strip():
            out[row["consumer"]] = _verdict(update_type, row["condition"], new, old)
    return out


def _verdict(update_type: str, condition: str, new: dict | None, old: dict | None) -> str:
    after = condition_holds(condition, new) if new is not None else False
    before = condition_holds(condition, old) if old is not None else False
    if update_type == "Create":
        return "send" if after else "skip"
    if update_type == "Delete":
        return "send" if before else "skip"
    if after and not before:
        return "create"
    return "send" if before else "skip"


def condition_holds(condition: str, doc: dict[str, Any]) -> bool:
    try:
        return bool(compile_expression(condition).evaluate({"doc": doc}))
    except ExpressionError:
        return False
