"""Document lifecycle hooks, run inside the write's transaction.

Events: ``validate``, ``before_insert``, ``after_insert``, ``on_update``,
``on_submit``, ``on_cancel``, ``on_trash``, ``after_delete``.
A hook is ``fn(session, doc, old)``; ``old`` is the document before the change
(None on insert). Hooks registered for ``"*"`` run for every DocType, after the
DocType's own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

EVENTS = (
    "validate", "before_insert", "after_insert", "on_update",
    "on_submit", "on_cancel", "on_trash", "after_delete",
)
Hook = Callable[[Any, dict[str, Any], "dict[str, Any] | None"], None]


class HookRegistry:
    def __init__(self) -> None:
        self._hooks: dict[tuple[str, str], list[Hook]] = defaultdict(list)

    def on(self, event: str, doctype: str = "*") -> Callable[[Hook], Hook]:
        if event not in EVENTS:
            raise ValueError(f"unknown hook event {event!r}")

        def register(fn: Hook) -> Hook:
            if fn not in self._hooks[(event, doctype)]:
                self._hooks[(event, doctype)].append(fn)
            return fn

        return register

    def run(self, event: str, session: Any, doc: dict[str, Any], old: dict[str, Any] | None = None) -> None:
        for fn in self._hooks.get((event, doc["doctype"]), ()):
            fn(session, doc, old)
        for fn in self._hooks.get((event, "*"), ()):
            fn(session, doc, old)
