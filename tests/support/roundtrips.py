"""Counting a site's round trips to its database (PostgreSQL: each statement or pipeline is one)."""

from __future__ import annotations

import threading
from typing import Any


class RoundTrips:
    """Every round trip the site's database makes for this thread (not the notifier's), as the
    list of statements it carried."""

    def __init__(self, db: Any) -> None:
        self.trips: list[list[str]] = []
        run, batch, commit = db._run, db._run_batch, db._commit
        mine = threading.get_ident()

        def note(statements: list[str]) -> None:
            if threading.get_ident() == mine:
                self.trips.append(statements)

        def _run(conn: Any, query: str, params: Any) -> Any:
            note([query])
            return run(conn, query, params)

        def _run_batch(conn: Any, statements: list) -> Any:
            note([q for q, _, _ in statements])
            return batch(conn, statements)

        def _commit(conn: Any, deferred: list) -> None:
            note([q for q, _, _ in deferred] + ["COMMIT"])
            commit(conn, deferred)

        self._db, self._originals = db, (run, batch, commit)
        db._run, db._run_batch, db._commit = _run, _run_batch, _commit

    def stop(self) -> None:
        """Count no more."""
        self._db._run, self._db._run_batch, self._db._commit = self._originals

    def carrying(self, text: str) -> list[list[str]]:
        return [trip for trip in self.trips if any(text in q for q in trip)]
