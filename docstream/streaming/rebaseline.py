"""Re-baselining a consumer after this producer's update log was rewound.

A producer restored from a backup (or one that lost its last commits, as SQLite in WAL mode with
``synchronous=NORMAL`` may on a power cut) gives out again sequence numbers that its consumers
have already read, and for other changes: a consumer that carried on from its cursor would pass
over those changes without a sign. The change feed refuses such a cursor (``LogRewoundError``);
the consumer then asks for a new baseline: every document of each DocType it is subscribed to
(and allowed to see under its condition) is sent to it again as a Create, addressed to it alone,
right after the head it is to read from. A Create is applied as an upsert, so afterwards the
consumer holds each of those documents as the producer has it now.

What a baseline cannot do is take back what the consumer holds and the producer no longer has
(a document whose creation the rewind lost, or deleted since): it stays on the consumer.
"""

from __future__ import annotations

from typing import Any

from docstream.model.documents import Session
from docstream.streaming.changefeed import consumer_for, mark_at
from docstream.streaming.consumers import backfill
from docstream.streaming.updatelog import SUBSCRIPTION_LOCK, lock_sequence


def rebaseline(session: Session, event_consumer: str) -> dict[str, Any]:
    """Append a Create of every document ``event_consumer`` is subscribed to, addressed to it;
    ``{"after": sequence, "mark": …, "documents": n}``: the cursor to read on from."""
    consumer = consumer_for(session, event_consumer)
    db = session.db
    with db.transaction():
        db.lock_key(SUBSCRIPTION_LOCK)  # no approval or unsubscribe of this consumer meanwhile
        start = lock_sequence(session)  # and no other change between the head and the baseline
        sent = 0
        for row in consumer.get("consumer_doctypes") or []:
            if row.get("status") == "Approved" and not row.get("unsubscribed"):
                sent += backfill(session, consumer["name"], row)
        return {"after": start, "mark": mark_at(session, start), "documents": sent}
