"""The background worker: runs inside ``serve`` (unless --no-worker) or as ``docstream worker``.

Its state lives in the database (cursors, the notified flag, the retry schedule), so a restart
loses nothing: a pull that was due is simply due again. It pulls from a producer when notified,
when the producer's poll interval has passed since the last pull, or when a retry falls due.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from docstream.errors import DocstreamError

log = logging.getLogger("docstream.worker")
TICK_SECONDS = 0.5


class BackgroundWorker:
    """Runs a site's background tasks on threads until stopped."""

    def __init__(self, site: Any) -> None:
        self.site = site
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._busy: set[str] = set()
        self._again: set[str] = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(1, int(site.settings["worker_threads"])),
                                        thread_name_prefix="docstream-pull")
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.site.services["worker"] = self
        self._thread = threading.Thread(target=self._loop, name="docstream-scheduler", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self.site.services.get("worker") is self:
            del self.site.services["worker"]

    def run_forever(self) -> None:
        self.start()
        try:
            while not self._stop.wait(1):
                pass
        finally:
            self.stop()

    def _loop(self) -> None:
        last_prune = 0.0
        while not self._stop.is_set():
            self._wake.wait(TICK_SECONDS)
            self._wake.clear()
            try:
                for producer in self._due():
                    self._submit(producer)
                if time.time() - last_prune > 3600:
                    last_prune = time.time()
                    self._pool.submit(self._prune)
            except Exception:  # the scheduler must survive anything a tick meets
                log.exception("scheduler tick failed")

    def _due(self) -> list[str]:
        from docstream.streaming.schedule import due_producers

        return due_producers(self.site)

    def _submit(self, producer: str) -> None:
        with self._lock:
            if producer in self._busy:
                self._again.add(producer)
                return
            self._busy.add(producer)
        self._pool.submit(self._pull, producer)

    def _pull(self, producer: str) -> None:
        from docstream.streaming.pull import pull_producer

        try:
            pull_producer(self.site, producer)
        except DocstreamError as exc:
            log.info("pull from %s failed: %s", producer, exc.message)
        except Exception:
            log.exception("pull from %s failed", producer)
        finally:
            with self._lock:
                self._busy.discard(producer)
                again = producer in self._again
                self._again.discard(producer)
            if again:  # it fell due again during this pull (say, notified): pull now, not next tick
                self._wake.set()

    def _prune(self) -> None:
        from docstream.streaming.retention import prune

        try:
            prune(self.site)
        except Exception:
            log.exception("pruning the update log failed")
