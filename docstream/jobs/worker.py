"""The background worker: runs inside ``serve`` (unless --no-worker) or as ``docstream worker``."""

from __future__ import annotations

import threading
from typing import Any


class BackgroundWorker:
    """Runs a site's background tasks on threads until stopped."""

    def __init__(self, site: Any) -> None:
        self.site = site
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def run_forever(self) -> None:
        self.start()
        self._stop.wait()
