"""The home page and the sidebar: the Event Streaming section first, then every other DocType
the user can read, grouped by module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from docstream.errors import PermissionError

STREAMING = ("Event Producer", "Event Consumer", "Event Update Log", "Event Sync Log", "Document Type Mapping")
STREAMING_MODULE = "Event Streaming"


@dataclass(frozen=True)
class Shortcut:
    doctype: str
    count: int | None = None


def readable(session: Any) -> list[str]:
    """The DocTypes (not child tables) this user may read, checked by the Session."""
    out = []
    for name, meta in sorted(session.site.metas.all().items()):
        if meta.istable:
            continue
        try:
            session.check(meta, "read")
        except PermissionError:
            continue
        out.append(name)
    return out


def streaming_doctypes(session: Any) -> list[str]:
    names = set(readable(session))
    return [d for d in STREAMING if d in names]


def modules(session: Any) -> list[tuple[str, list[str]]]:
    """``[(module, [doctype, …])]`` of the readable DocTypes outside Event Streaming."""
    grouped: dict[str, list[str]] = {}
    for name in readable(session):
        meta = session.meta(name)
        if name in STREAMING or meta.module == STREAMING_MODULE:
            continue
        grouped.setdefault(meta.module or "Other", []).append(name)
    return sorted(grouped.items())


def home(session: Any) -> dict[str, Any]:
    shortcuts = [Shortcut(d, session.count(d)) for d in streaming_doctypes(session)]
    failed = session.count("Event Sync Log", {"status": "Failed"}) if "Event Sync Log" in {s.doctype for s in shortcuts} else 0
    return {"shortcuts": shortcuts, "modules": modules(session), "failed": failed}


__all__ = ["STREAMING", "Shortcut", "home", "modules", "readable", "streaming_doctypes"]
