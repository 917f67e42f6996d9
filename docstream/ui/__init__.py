"""The web desk (server-rendered pages)."""

from __future__ import annotations

from typing import Any


def ui_routes(site: Any) -> list[Any]:
    """Routes of the web desk, mounted by the app next to the API."""
    return []


__all__ = ["ui_routes"]
