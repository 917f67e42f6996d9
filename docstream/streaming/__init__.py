"""Event streaming: producers log changes, consumers pull and apply them.

    producer side: updatelog (hooks, same transaction) → changefeed (pages by sequence)
                   consumers (registration, approval, backfill), notify (after commit)
    consumer side: producers (Event Producer, registration), pull (pages, cursor),
                   apply (filter → map → dependencies → apply → sync log), resync, checkpoint
"""

from __future__ import annotations

from typing import Any

from docstream.streaming.pull import pull
from docstream.streaming.resync import resync, resync_all_failed
from docstream.streaming.status import status

from docstream.streaming.checkpoint import PROGRESS_DDL, STATE_DDL
from docstream.streaming.rebaseline import REBASELINES_DDL

SCHEMA = (
    STATE_DDL,
    PROGRESS_DDL,
    REBASELINES_DDL,
    'CREATE INDEX IF NOT EXISTS "idx_sync_log_doc" ON "tabEvent Sync Log" (event_producer, ref_doctype, producer_doc)',
    # sites made before the log was keyed by sequence had it; nothing reads by it now, every write paid for it
    'DROP INDEX IF EXISTS "idx_update_log_creation"',
)


def install(site: Any) -> None:
    from docstream.streaming import checkpoint, consumers, mapping, methods, producers, updatelog  # noqa: F401

    updatelog.install(site)
    mapping.install(site)
    consumers.install(site)
    producers.install(site)
    if site.metas.exists("Event Sync Log"):
        from docstream.bootstrap import ensure_schema

        ensure_schema(site)


__all__ = ["SCHEMA", "install", "pull", "resync", "resync_all_failed", "status"]
