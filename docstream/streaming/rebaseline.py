"""Re-baselining a consumer after this producer's update log was rewound.

A producer restored from a backup (or one that lost its last commits, as SQLite in WAL mode with
``synchronous=NORMAL`` may on a power cut) gives out again sequence numbers that its consumers
have already read, and for other changes: a consumer that carried on from its cursor would pass
over those changes without a sign. The change feed refuses such a cursor (``LogRewoundError``);
the consumer then asks for a new baseline: every document of each DocType it is subscribed to
(and allowed to see under its condition) is sent to it again as a Create, addressed to it alone,
after the head. A Create is applied as an upsert, so afterwards the consumer holds each of those
documents as the producer has it.

The consumer reads on not from the head but from where its history and this log part (``fork``):
the newest of the page ends it remembers (sequence and mark, the last 32) that this log still
holds as it was; without one, where ``docstream restore`` noted the log went back to; without
that, the beginning. So the changes made here after the fork reach it in order before the
baseline — a deletion above all, which no Create could carry — and what it reads again that it
had already applied changes nothing in the end: the baseline comes after it.

The baseline is appended a page (500 documents) per transaction, so that a large one does not
hold the site's writers up: each page reads its documents and appends their Creates holding the
sequence, so a change of a document is logged either before its Create (and is in it) or after
it (and follows it); a document deleted meanwhile is deleted on the consumer by its Delete. The
consumer names the cursor that was refused (``rewound_from`` and its mark), and the producer
remembers the answer it gave for it (``__rebaselines``, one row per consumer): asked again for
the same cursor once that baseline is complete — the consumer gave up waiting, or crashed before
it moved its cursor — it answers the same without sending everything twice.

What a baseline cannot do is take back what the consumer holds and the producer no longer has
(a document whose creation the rewind lost): it stays on the consumer.
"""

from __future__ import annotations

from typing import Any

from docstream.errors import ValidationError
from docstream.model.documents import Session
from docstream.model.query import parse_json_arg
from docstream.model.types import now
from docstream.streaming.changefeed import consumer_for, mark_at, whole_number
from docstream.streaming.consumers import backfill_page
from docstream.streaming.updatelog import lock_sequence, pruned_through, restored_head

MAX_KNOWN = 64
REBASELINES_DDL = (
    'CREATE TABLE IF NOT EXISTS "__rebaselines" (consumer TEXT PRIMARY KEY, rewound_from BIGINT NOT NULL, '
    'rewound_mark TEXT, "after" BIGINT NOT NULL, mark TEXT, documents INTEGER NOT NULL DEFAULT 0, '
    "complete INTEGER NOT NULL DEFAULT 0, made TEXT NOT NULL)"
)


def rebaseline(session: Session, event_consumer: str, rewound_from: Any = None, rewound_mark: Any = None,
               known: Any = None) -> dict[str, Any]:
    """Append a Create of every document ``event_consumer`` is subscribed to, addressed to it;
    ``{"after": sequence, "mark": …, "documents": n}``: the cursor to read on from — where the
    consumer's history and this log's part (see ``fork``), so that the changes made here since,
    deletions too, reach it before the baseline. With ``rewound_from`` (the cursor the feed refused,
    and ``rewound_mark`` its mark), the same request made again gets the same answer."""
    consumer = consumer_for(session, event_consumer)
    refused = -1 if rewound_from in (None, "") else whole_number(rewound_from, "rewound_from")
    if rewound_mark is not None and not isinstance(rewound_mark, str):
        raise ValidationError(f"rewound_mark must be text, not {rewound_mark!r}")
    page_ends = _page_ends(known)
    db, name = session.db, consumer["name"]
    with db.transaction():
        start = lock_sequence(session)  # the head: every Create of the baseline comes after it
        given = db.sql('SELECT * FROM "__rebaselines" WHERE consumer = ?', (name,))
        if given and given[0]["complete"] and int(given[0]["rewound_from"]) == refused >= 0 \
                and given[0]["rewound_mark"] == rewound_mark:
            return {"after": int(given[0]["after"]), "mark": given[0]["mark"], "documents": int(given[0]["documents"])}
        after, made = fork(session, page_ends, refused, start), now()  # ``made`` tells this baseline from another
        answer = {"after": after, "mark": mark_at(session, after), "documents": 0}
        db.sql('INSERT INTO "__rebaselines" (consumer, rewound_from, rewound_mark, "after", mark, made) '
               "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (consumer) DO UPDATE SET rewound_from = excluded.rewound_from, "
               'rewound_mark = excluded.rewound_mark, "after" = excluded."after", mark = excluded.mark, '
               "documents = 0, complete = 0, made = excluded.made",
               (name, refused, rewound_mark, after, answer["mark"], made))
    for row in consumer.get("consumer_doctypes") or []:
        if row.get("status") != "Approved" or row.get("unsubscribed"):
            continue
        page: str | None = ""  # the name each page starts after
        while page is not None:
            with db.transaction():
                lock_sequence(session)  # a document read and its Create appended with no change between
                sent, page = backfill_page(session, name, row, page)
            answer["documents"] += sent
    with db.transaction():
        db.sql('UPDATE "__rebaselines" SET documents = ?, complete = 1 WHERE consumer = ? AND "after" = ? AND made = ?',
               (answer["documents"], name, after, made))
    return answer


def fork(session: Session, page_ends: list[tuple[int, str]], refused: int, start: int) -> int:
    """Where the consumer's history and this log part: the newest page end it read (``page_ends``)
    that this log still holds as it was; else where a ``docstream restore`` took the log back to,
    if that is before the refused cursor; else the beginning (everything is read again: slow, but
    nothing is missed). Never below what retention pruned: those logs are gone, the baseline
    stands for them, and a cursor below them would be refused again."""
    return max(_fork(session, page_ends, refused, start), min(pruned_through(session.db), start))


def _fork(session: Session, page_ends: list[tuple[int, str]], refused: int, start: int) -> int:
    for sequence, mark in sorted(page_ends, reverse=True):
        if sequence <= start and mark_at(session, sequence) == mark:
            return sequence
    restored = restored_head(session.db)
    if restored is not None and (refused < 0 or restored < refused):
        return min(restored, start)
    return 0


def _page_ends(known: Any) -> list[tuple[int, str]]:
    pairs = parse_json_arg(known, "known") if known not in (None, "") else []
    if not isinstance(pairs, list) or len(pairs) > MAX_KNOWN or not all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], int) and p[0] >= 0 and isinstance(p[1], str)
            for p in pairs):
        raise ValidationError(f"known must be a list of at most {MAX_KNOWN} [sequence, mark] pairs")
    return [(p[0], p[1]) for p in pairs]
