"""Which producers are due for a pull: notified, poll interval passed, or a retry due."""

from __future__ import annotations

import time
from typing import Any


def due_producers(site: Any) -> list[str]:
    now = time.time()
    rows = site.db.sql(
        'SELECT s.producer, s.notified, s.last_pull, s.failures, s.next_attempt, p.poll_interval '
        'FROM "__sync_state" s JOIN "tabEvent Producer" p ON p.name = s.producer'
    )
    default = float(site.settings["poll_interval"])
    out = []
    for row in rows:
        if row["failures"] and row["next_attempt"] and now < row["next_attempt"]:
            continue
        interval = float(row["poll_interval"] or default)
        if row["notified"] or row["failures"] or not row["last_pull"] or now - row["last_pull"] >= interval:
            out.append(row["producer"])
    return out
