"""Telling consumers to pull, after the producer's transaction commits.

Never for a rolled-back change (the enqueue is an after-commit callback), coalesced (one call
per consumer per burst), retried with backoff, and never on the writer's thread: a daemon
thread per site sends them. A lost notification costs only latency: consumers also poll.

Coalescing: the first change after a quiet spell is announced at once; changes that follow
within ``COALESCE_SECONDS`` of the last call to that consumer are announced together by one call
when that interval is up. A busy site therefore calls each consumer at most ~40 times a second,
however many writes it commits, while a single write still reaches the consumer without delay.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from typing import Any

from docstream.errors import DocstreamError
from docstream.streaming.remote import KeptAlive

log = logging.getLogger("docstream.notify")
MAX_ATTEMPTS = 6
COALESCE_SECONDS = 0.025
REMOTE_TTL = 5.0


class Notifier:
    def __init__(self, site: Any) -> None:
        self.site = site
        self._pending: dict[str, int] = {}
        self._due: dict[str, float] = {}
        self._last_sent: dict[str, float] = {}
        self._cond = threading.Condition()
        self._stopped = False
        self._transport = KeptAlive()  # the notifier thread's own connections
        self._remotes: dict[str, tuple[float, Any]] = {}  # consumer → (when read, its client)
        self._thread = threading.Thread(target=self._run, name=f"notify:{site.name}", daemon=True)
        self._thread.start()

    def enqueue(self, consumers: set[str]) -> None:
        pending = self._pending
        if all(consumer in pending for consumer in consumers):
            # each is due already: the call that carries it is still to come (the thread takes a
            # consumer off ``_pending`` before it calls), so the common case of a busy site —
            # a call due within COALESCE_SECONDS — needs no lock and no wake-up
            return
        with self._cond:
            added = False
            for consumer in consumers:
                if consumer in self._pending:  # already due (or retrying): this call will carry it
                    continue
                self._pending[consumer] = 0
                self._due[consumer] = self._last_sent.get(consumer, -COALESCE_SECONDS) + COALESCE_SECONDS
                added = True
            if added:
                self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and not self._ready():
                    self._cond.wait(timeout=self._wait())
                if self._stopped:
                    self._transport.close()
                    return
                batch = [c for c in self._pending if self._due[c] <= time.monotonic()]
                attempts = {c: self._pending.pop(c) for c in batch}
                for c in batch:
                    self._due.pop(c, None)
            for consumer, attempt in attempts.items():
                self._last_sent[consumer] = time.monotonic()
                if not self._send(consumer):
                    self._retry(consumer, attempt + 1)

    def _ready(self) -> bool:
        now = time.monotonic()
        return any(due <= now for due in self._due.values())

    def _wait(self) -> float | None:
        if not self._due:
            return None
        return max(0.01, min(self._due.values()) - time.monotonic())

    def _retry(self, consumer: str, attempt: int) -> None:
        if attempt >= MAX_ATTEMPTS:
            log.warning("giving up notifying %s after %d attempts (it will still pull on its timer)", consumer, attempt)
            return
        delay = min(self.site.settings["retry_max_delay"], 0.5 * 2 ** attempt) * random.uniform(0.5, 1.0)
        with self._cond:
            if consumer not in self._pending:
                self._pending[consumer] = attempt
                self._due[consumer] = time.monotonic() + delay
            self._cond.notify()

    def _send(self, consumer: str) -> bool:
        try:
            remote = self._remote(consumer)
            if remote is None:
                return True
            remote.call("docstream.streaming.notify", event_producer=self.site.url)
            return True
        except DocstreamError as exc:
            self._remotes.pop(consumer, None)  # the keys may have changed: read them again
            log.info("notifying %s failed: %s", consumer, exc.message)
            return False
        except Exception:  # a bug must not kill the notifier thread
            self._remotes.pop(consumer, None)
            log.exception("notifying %s failed", consumer)
            return False

    def _remote(self, consumer: str) -> Any:
        """The consumer's client, its keys read from the site at most every REMOTE_TTL seconds
        (and again after any failure)."""
        from docstream.streaming.consumers import consumer_remote

        read_at, remote = self._remotes.get(consumer, (0.0, None))
        if time.monotonic() - read_at > REMOTE_TTL:
            remote = consumer_remote(self.site, consumer, transport=self._transport)
            self._remotes[consumer] = (time.monotonic(), remote)
        return remote


_LOCK = threading.Lock()


def notifier(site: Any) -> Notifier:
    existing = site.services.get("notifier")
    if existing is not None:
        return existing
    with _LOCK:
        existing = site.services.get("notifier")
        if existing is None:
            existing = site.services["notifier"] = Notifier(site)
        return existing


def after_commit(site: Any, consumers: set[str]) -> None:
    """Announce ``consumers`` once the current transaction commits (all of a transaction's
    changes in one announcement; nothing if it rolls back)."""
    if not consumers:
        return
    db = site.db
    if not db.in_transaction:
        notifier(site).enqueue(set(consumers))
        return
    batch = db.memo.get(_PENDING)
    if batch is None:
        batch = db.memo[_PENDING] = set()
        db.after_commit(functools.partial(_flush, site, batch))
    batch.update(consumers)


_PENDING = "notify:pending"


def _flush(site: Any, batch: set[str]) -> None:
    notifier(site).enqueue(batch)
