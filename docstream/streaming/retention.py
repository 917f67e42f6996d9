"""Pruning the update log: only what every consumer has applied, and only when older than the setting.

A consumer's progress is the cursor it says it has committed (``committed`` with its page
requests), never the ``after`` of a page fetched ahead: that page's events may be lost with a
crash of the consumer before it commits them, and must still be there to read again."""

from __future__ import annotations

import datetime as dt
from typing import Any

from docstream.model.types import DATETIME_FORMAT
from docstream.streaming.updatelog import keep_numbers, note_pruned


def prune(site: Any) -> int:
    """Delete update logs older than ``update_log_retention_days`` that every consumer has passed."""
    days = int(site.settings["update_log_retention_days"])
    if days <= 0:
        return 0
    db = site.db
    with db.transaction():
        consumers = [r["name"] for r in db.sql('SELECT name FROM "tabEvent Consumer"')]
        progress = {r["consumer"]: int(r["cursor"]) for r in db.sql('SELECT consumer, cursor FROM "__consumer_progress"')}
        floor = min((progress.get(c, 0) for c in consumers), default=None)
        if floor is None:
            floor = int(db.value('SELECT COALESCE(MAX(sequence), 0) FROM "tabEvent Update Log"'))
        cutoff = (dt.datetime.now() - dt.timedelta(days=days)).strftime(DATETIME_FORMAT)
        last = db.value('SELECT MAX(sequence) FROM "tabEvent Update Log" WHERE sequence <= ? AND creation < ?', (floor, cutoff))
        if last is None:
            return 0
        keep_numbers(db, int(last))  # the head may go too: its number must not be given again
        note_pruned(db, int(last))
        # every log up to the newest old one, so that the logs pruned are always a prefix: a consumer
        # below ``last`` is then missing logs for sure (the change feed asks it to re-baseline)
        return db.execute('DELETE FROM "tabEvent Update Log" WHERE sequence <= ?', (int(last),))
