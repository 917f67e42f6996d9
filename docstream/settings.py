"""Site settings, declared once: name, default, type and help.

Defaults, ``set-config`` validation and the docs all come from this list.
Environment variables ``DOCSTREAM_<NAME>`` override a site's file for every site.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from docstream.errors import ValidationError


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    kind: type
    help: str
    choices: tuple[str, ...] = ()


SETTINGS: tuple[Setting, ...] = (
    Setting("host_name", "", str, "the URL other sites use to reach this one (e.g. http://hq.example.com:8000)"),
    Setting("db_url", "", str, "the database: sqlite:///PATH (default: site.db in the site folder) or postgresql://…/DBNAME"),
    Setting("poll_interval", 30, int, "seconds between timed pulls from each Event Producer (notifications make most pulls immediate)"),
    Setting("pull_page_size", 200, int, "events fetched per change-feed page"),
    Setting("max_body_size", 10 * 1024 * 1024, int, "largest request body accepted, in bytes (larger ones get 413)"),
    Setting("request_timeout", 30, int, "seconds before a call to another site times out"),
    Setting("retry_max_delay", 300, int, "the longest wait, in seconds, between retries of a failed pull or notification"),
    Setting("update_log_retention_days", 0, int, "prune Event Update Logs older than this that every consumer has passed (0 keeps them)"),
    Setting("worker_threads", 2, int, "background job threads in a serve or worker process"),
    Setting("session_expiry_hours", 24 * 7, int, "how long a login session lasts"),
    Setting("login_attempts", 10, int, "failed logins of one user in a row before that user's logins are refused for a while (0: never refused)"),
    Setting("login_lockout_seconds", 60, int, "how long logins are refused after too many failures; failures further apart than this don't add up"),
    Setting("sqlite_synchronous", "normal", str, "SQLite sites: normal (a commit survives a crash of the process, but a power cut "
            "can lose the last ones; consumers of a producer that lost some re-baseline) or full (every commit is on disk "
            "before it returns: slower writes); read when the site is opened", choices=("normal", "full")),
)
BY_NAME = {s.name: s for s in SETTINGS}


def parse(name: str, raw: Any) -> Any:
    setting = BY_NAME.get(name)
    if setting is None:
        known = ", ".join(s.name for s in SETTINGS)
        raise ValidationError(f"unknown setting {name!r}; known settings: {known}", field=name)
    if setting.kind is int:
        try:
            value = int(raw)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"{name} must be a whole number, not {raw!r}", field=name) from exc
        if value < 0:
            raise ValidationError(f"{name} can't be negative", field=name)
        return value
    if setting.choices:
        value = str(raw).strip().lower()
        if value not in setting.choices:
            raise ValidationError(f"{name} must be one of {', '.join(setting.choices)}, not {raw!r}", field=name)
        return value
    return str(raw)


def resolve(config: dict[str, Any]) -> dict[str, Any]:
    """Defaults, then the site's file, then ``DOCSTREAM_*`` environment variables."""
    out = {s.name: s.default for s in SETTINGS}
    for key, value in config.items():
        out[key] = value
    for setting in SETTINGS:
        env = os.environ.get(f"DOCSTREAM_{setting.name.upper()}")
        if env is not None:
            try:
                out[setting.name] = parse(setting.name, env)
            except ValidationError as exc:
                raise ValidationError(f"environment variable DOCSTREAM_{setting.name.upper()}: {exc.message}") from exc
    return out
