"""Wiring: every part of the system registers its hooks on a site here."""

from __future__ import annotations

from typing import Any


def install(site: Any) -> None:
    from docstream import streaming
    from docstream.model import controllers

    controllers.install(site)
    streaming.install(site)
