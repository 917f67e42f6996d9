"""The consumer's state per producer, in the database: cursor, lease, retry schedule, last results.

The cursor is advanced only inside the transaction that applies a page (compare-and-set on the
cursor the page was fetched from), so a crash leaves all or none of a page, and two pullers can
never apply one page twice. The lease only keeps two pullers from fetching the same page for
nothing; correctness never depends on it.
"""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
from typing import Any

from docstream.storage import Database

STATE_DDL = (
    'CREATE TABLE IF NOT EXISTS "__sync_state" ('
    "producer TEXT PRIMARY KEY, cursor BIGINT NOT NULL DEFAULT 0, head BIGINT NOT NULL DEFAULT 0, "
    "lease_owner TEXT, lease_until DOUBLE PRECISION, last_pull DOUBLE PRECISION, "
    "last_success TEXT, last_error TEXT, failures INTEGER NOT NULL DEFAULT 0, "
    "next_attempt DOUBLE PRECISION, notified INTEGER NOT NULL DEFAULT 0, mark TEXT, rebaselined TEXT, marks TEXT)"
)
# columns a later version added to the state table: added to an older site's when it is opened
STATE_ADDED = {"mark": "TEXT", "rebaselined": "TEXT", "marks": "TEXT"}
KEPT_MARKS = 32  # the last page ends (sequence, mark) a consumer remembers, to find where a rewound log forked
PROGRESS_DDL = (
    'CREATE TABLE IF NOT EXISTS "__consumer_progress" ('
    "consumer TEXT PRIMARY KEY, cursor BIGINT NOT NULL DEFAULT 0, last_seen TEXT)"
)
LEASE_SECONDS = 20.0


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def ensure(db: Database, producer: str, cursor: int = 0) -> None:
    db.sql('INSERT INTO "__sync_state" (producer, cursor) VALUES (?, ?) ON CONFLICT (producer) DO NOTHING',
           (producer, cursor))


def forget(db: Database, producer: str) -> None:
    db.sql('DELETE FROM "__sync_state" WHERE producer = ?', (producer,))


def state(db: Database, producer: str) -> dict[str, Any]:
    rows = db.sql('SELECT * FROM "__sync_state" WHERE producer = ?', (producer,))
    return rows[0] if rows else {}


def all_states(db: Database) -> list[dict[str, Any]]:
    return db.sql('SELECT * FROM "__sync_state" ORDER BY producer')


def _holder_is_dead(holder: str | None) -> bool:
    """A lease held by a process of this host that no longer exists (killed mid-pull)."""
    if not holder or holder.count(":") < 2:
        return False
    host, pid, _ = holder.rsplit(":", 2)
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def try_lease(db: Database, producer: str, owner: str) -> bool:
    now = time.time()
    holder = state(db, producer).get("lease_owner")
    if holder and holder != owner and _holder_is_dead(holder):
        db.sql('UPDATE "__sync_state" SET lease_owner = NULL, lease_until = NULL WHERE producer = ? AND lease_owner = ?',
               (producer, holder))
    with db.transaction():
        touched = db.execute(
            'UPDATE "__sync_state" SET lease_owner = ?, lease_until = ? '
            "WHERE producer = ? AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)",
            (owner, now + LEASE_SECONDS, producer, owner, now),
        )
    return touched == 1


def renew_lease(db: Database, producer: str, owner: str) -> None:
    db.sql('UPDATE "__sync_state" SET lease_until = ? WHERE producer = ? AND lease_owner = ?',
           (time.time() + LEASE_SECONDS, producer, owner))


def release_lease(db: Database, producer: str, owner: str) -> None:
    db.sql('UPDATE "__sync_state" SET lease_owner = NULL, lease_until = NULL WHERE producer = ? AND lease_owner = ?',
           (producer, owner))


def add_columns(db: Database) -> None:
    """Give the state table of a site made by an older version the columns it lacks."""
    have = db.table_columns("__sync_state")
    for column, kind in STATE_ADDED.items():
        if column not in have:
            db.sql(f'ALTER TABLE "__sync_state" ADD COLUMN {column} {kind}')


def advance(db: Database, producer: str, expected: int, cursor: int, head: int, mark: Any = ...) -> bool:
    """Move the cursor from ``expected`` to ``cursor`` (and to ``mark``, the producer's token for
    the log at ``cursor``, when given); False when another puller got there first."""
    if mark is ...:
        return db.execute(
            'UPDATE "__sync_state" SET cursor = ?, head = ? WHERE producer = ? AND cursor = ?',
            (cursor, max(head, cursor), producer, expected),
        ) == 1
    return db.execute(
        'UPDATE "__sync_state" SET cursor = ?, head = ?, mark = ? WHERE producer = ? AND cursor = ?',
        (cursor, max(head, cursor), mark, producer, expected),
    ) == 1


def remember_mark(db: Database, producer: str, cursor: int, mark: str | None) -> None:
    """Keep ``(cursor, mark)`` among the last KEPT_MARKS page ends (in the page's transaction, which
    holds the state row): if the producer's log is ever rewound, the newest of them it still holds
    is where the two histories part."""
    if mark is None:
        return
    kept = known_marks(db, producer)
    if kept and kept[-1][0] >= cursor:
        return
    kept = (kept + [[cursor, mark]])[-KEPT_MARKS:]
    db.sql('UPDATE "__sync_state" SET marks = ? WHERE producer = ?', (json.dumps(kept), producer))


def known_marks(db: Database, producer: str) -> list[list[Any]]:
    """The page ends remembered for ``producer``, oldest first: ``[[sequence, mark], …]``."""
    raw = state(db, producer).get("marks")
    try:
        kept = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [k for k in kept if isinstance(k, list) and len(k) == 2 and isinstance(k[0], int) and isinstance(k[1], str)]


def rebase(db: Database, producer: str, expected: int, cursor: int, mark: str | None, note: str) -> bool:
    """Put the cursor where a re-baseline starts (back, below a rewound producer's head), noting why."""
    return db.execute(
        'UPDATE "__sync_state" SET cursor = ?, head = ?, mark = ?, rebaselined = ?, marks = ? '
        "WHERE producer = ? AND cursor = ?",
        (cursor, cursor, mark, note, json.dumps([[cursor, mark]] if mark else []), producer, expected),
    ) == 1


def lock_producer(db: Database, producer: str) -> None:
    """Lock the producer's state row until this transaction ends (a page being applied holds it too)."""
    db.sql('UPDATE "__sync_state" SET cursor = cursor WHERE producer = ?', (producer,))


def mark_notified(db: Database, producer: str) -> bool:
    return db.execute('UPDATE "__sync_state" SET notified = 1 WHERE producer = ?', (producer,)) == 1


def record_success(db: Database, producer: str, stamp: str) -> None:
    db.sql('UPDATE "__sync_state" SET last_pull = ?, last_success = ?, failures = 0, next_attempt = NULL '
           "WHERE producer = ?", (time.time(), stamp, producer))


def record_failure(db: Database, producer: str, error: str, max_delay: float) -> float:
    """Exponential backoff with jitter; returns the delay before the next attempt."""
    current = state(db, producer)
    failures = int(current.get("failures") or 0) + 1
    delay = min(max_delay, 2.0 ** min(failures, 16)) * random.uniform(0.5, 1.0)
    db.sql('UPDATE "__sync_state" SET last_pull = ?, last_error = ?, failures = ?, next_attempt = ? '
           "WHERE producer = ?", (time.time(), error[:2000], failures, time.time() + delay, producer))
    return delay


def take_notified(db: Database, producer: str) -> None:
    db.sql('UPDATE "__sync_state" SET notified = 0 WHERE producer = ?', (producer,))


def record_consumer_progress(db: Database, consumer: str, cursor: int, stamp: str) -> None:
    db.sql(
        'INSERT INTO "__consumer_progress" (consumer, cursor, last_seen) VALUES (?, ?, ?) '
        "ON CONFLICT (consumer) DO UPDATE SET cursor = excluded.cursor, last_seen = excluded.last_seen",
        (consumer, cursor, stamp),
    )
