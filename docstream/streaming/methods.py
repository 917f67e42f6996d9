"""The streaming methods of the HTTP API (``/api/method/docstream.streaming.*``)."""

from __future__ import annotations

from typing import Any

from docstream.api.methods import whitelist
from docstream.errors import PermissionError
from docstream.model.documents import Session
from docstream.streaming import changefeed, checkpoint, consumers, rebaseline as rebaselining
from docstream.streaming.pull import pull as run_pull
from docstream.streaming.resync import resync as resync_log, resync_all_failed as resync_every_failed
from docstream.streaming.status import status as streaming_status
from docstream.streaming.urls import normalise_url


# -- called by consumers on this site as a producer --------------------------
@whitelist("docstream.streaming.register_consumer", methods=("POST",))
def register_consumer(session: Session, event_consumer: str, api_key: str, api_secret: str,
                      consumer_doctypes: Any) -> dict[str, Any]:
    """Register (or re-register) the calling site as an Event Consumer; its rows start Pending."""
    return consumers.register_consumer(session, event_consumer, api_key, api_secret, consumer_doctypes)


@whitelist("docstream.streaming.unregister_consumer", methods=("POST",))
def unregister_consumer(session: Session, event_consumer: str) -> str:
    """End the calling consumer's subscription (its Event Consumer is deleted)."""
    return consumers.unregister_consumer(session, event_consumer)


@whitelist("docstream.streaming.get_updates")
def get_updates(session: Session, event_consumer: str, after: Any = 0, limit: Any = 200,
                after_mark: Any = None, committed: Any = None) -> dict[str, Any]:
    """The change feed: events after the sequence ``after`` that this consumer may see."""
    return changefeed.get_updates(session, event_consumer, after, limit, after_mark, committed)


@whitelist("docstream.streaming.rebaseline", methods=("POST",))
def rebaseline(session: Session, event_consumer: str, rewound_from: Any = None, rewound_mark: Any = None,
               known: Any = None) -> dict[str, Any]:
    """This site's log was rewound under the calling consumer: send it every document it is
    subscribed to again; the sequence to read on from — where its history and this log part, among
    the page ends it ``known``s — (the same answer for the same refused cursor)."""
    return rebaselining.rebaseline(session, event_consumer, rewound_from, rewound_mark, known)


@whitelist("docstream.streaming.get_documents")
def get_documents(session: Session, docs: Any) -> dict[str, Any]:
    """Several documents at once, for dependency syncing."""
    return changefeed.get_documents(session, docs)


# -- called on this site as a consumer -----------------------------------------
@whitelist("docstream.streaming.notify", methods=("POST",))
def notify(session: Session, event_producer: str) -> str:
    """A producer says it has new events: pull from it soon."""
    url = normalise_url(event_producer, "Producer URL")
    rows = session.db.sql('SELECT user FROM "tabEvent Producer" WHERE name = ?', (url,))
    if not rows:
        return "unknown producer"
    if rows[0]["user"] != session.user and not (session.roles & {"System Manager", "Administrator"}):
        raise PermissionError(f"{session.user} is not the Event Subscriber of {url}", doctype="Event Producer")
    checkpoint.mark_notified(session.db, url)
    worker = session.site.services.get("worker")
    if worker is not None:
        worker.wake()
    return "ok"


@whitelist("docstream.streaming.pull", methods=("POST",))
def pull(session: Session, event_producer: str | None = None) -> dict[str, int]:
    """Pull and apply now; returns when everything the producer had at the time is applied."""
    session.check("Event Producer", "write")
    counts = run_pull(session.site, event_producer or None)
    return {"synced": counts["synced"], "failed": counts["failed"], "held": counts["held"]}


@whitelist("docstream.streaming.resync", methods=("POST",))
def resync(session: Session, sync_log: str) -> str:
    """Retry one failed event (and those held behind it): "Synced", "Failed" or "Skipped"."""
    return resync_log(session, sync_log)


@whitelist("docstream.streaming.resync_all_failed", methods=("POST",))
def resync_all_failed(session: Session, event_producer: str | None = None) -> dict[str, int]:
    """Retry every failed event, oldest first."""
    return resync_every_failed(session, event_producer)


@whitelist("docstream.streaming.status")
def status(session: Session) -> dict[str, Any]:
    """Per producer: cursor, events behind, failed, last error; per consumer: its progress."""
    return streaming_status(session)
