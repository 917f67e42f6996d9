"""The web desk: server-rendered pages at Frappe's URLs (/login, /app, /app/{slug}, …)."""

from __future__ import annotations

from docstream.ui.routes import ui_routes

__all__ = ["ui_routes"]
