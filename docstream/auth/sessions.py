"""Login sessions: ``usr``/``pwd`` checked once, then a random ``sid`` cookie.

Sessions live in the site's database (table ``__sessions``, created on demand), so every
process serving a site shares them. Only the SHA-256 of a sid is stored: a copy of the
database can't be used to take over a session. A session ends at logout, when it expires
(site setting ``session_expiry_hours``), when its user is disabled, or when the user's password
changes (all of that user's sessions but the one changing it, if it is theirs, as Frappe does).

Password guessing is slowed down as Frappe does it: after ``login_attempts`` failed logins of one
user in a row (failures further apart than ``login_lockout_seconds`` don't add up), that user's
logins are refused, right password or not, until ``login_lockout_seconds`` after the last
failure. The count is kept in the database (``__login_failures``, by user), so every process
serving the site sees it; a successful login clears it. An unknown user is counted like a real
one, so the refusal tells nothing about which accounts exist.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

from docstream.auth.identity import WITH_ROLES, Identity
from docstream.auth.permissions import GUEST
from docstream.errors import AuthenticationError, SecurityException

if TYPE_CHECKING:
    from docstream.site import Site

SESSIONS_DDL = (
    'CREATE TABLE IF NOT EXISTS "__sessions" (sid_hash TEXT PRIMARY KEY, "user" TEXT NOT NULL, '
    "created BIGINT NOT NULL, expires BIGINT NOT NULL)"
)
FAILURES_DDL = (
    'CREATE TABLE IF NOT EXISTS "__login_failures" (usr TEXT PRIMARY KEY, failures INTEGER NOT NULL, '
    "last_failure BIGINT NOT NULL)"
)
_READY: weakref.WeakSet[object] = weakref.WeakSet()
_INVALID_LOGIN = "Invalid login credentials"


@dataclass(frozen=True)
class Login:
    user: str
    full_name: str
    sid: str


def login(site: Site, usr: str | None, pwd: str | None) -> Login:
    """Check ``usr`` (the user's name or email) and ``pwd``; open a session."""
    if not usr or not pwd:
        raise AuthenticationError("usr and pwd are required to log in")
    _ensure_table(site)
    user = _find_user(site, str(usr))
    account = user["name"] if user is not None else str(usr).strip().lower()  # by name or email: one count
    _refuse_while_locked(site, account)
    if user is None or user["name"] == GUEST or not site.secrets.check_password(user["name"], str(pwd)):
        if user is None:
            site.secrets.check_password(GUEST, str(pwd))  # answer as slowly as for a real user
        _count_failure(site, account)
        raise AuthenticationError(_INVALID_LOGIN)
    if not user["enabled"]:
        raise AuthenticationError(f"User {user['name']} is disabled")
    site.db.sql('DELETE FROM "__login_failures" WHERE usr = ?', (account,))
    full_name = " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p) or user["name"]
    return Login(user["name"], full_name, create_session(site, user["name"]))


def _refuse_while_locked(site: Site, account: str) -> None:
    if not int(site.settings["login_attempts"]):
        return
    rows = site.db.sql('SELECT failures, last_failure FROM "__login_failures" WHERE usr = ?', (account,))
    if not rows or rows[0]["failures"] < int(site.settings["login_attempts"]):
        return
    wait = int(rows[0]["last_failure"]) + int(site.settings["login_lockout_seconds"]) - int(time.time())
    if wait > 0:
        raise SecurityException(f"Too many failed logins: this account is locked for {wait} more seconds")


def _count_failure(site: Site, account: str) -> None:
    """One more failure in a row, or the first of a new run when the last was long enough ago."""
    if not int(site.settings["login_attempts"]):
        return
    site.db.sql(
        'INSERT INTO "__login_failures" (usr, failures, last_failure) VALUES (?, 1, ?) ON CONFLICT (usr) DO UPDATE SET '
        'failures = CASE WHEN excluded.last_failure - "__login_failures".last_failure >= ? THEN 1 '
        'ELSE "__login_failures".failures + 1 END, last_failure = excluded.last_failure',
        (account, int(time.time()), int(site.settings["login_lockout_seconds"])),
    )


def create_session(site: Site, user: str) -> str:
    _ensure_table(site)
    sid = secrets.token_urlsafe(32)
    stamp = int(time.time())
    expires = stamp + int(site.settings["session_expiry_hours"]) * 3600
    with site.db.transaction():
        site.db.sql('DELETE FROM "__sessions" WHERE expires < ?', (stamp,))
        site.db.sql(
            'INSERT INTO "__sessions" (sid_hash, "user", created, expires) VALUES (?, ?, ?, ?)',
            (_hash(sid), user, stamp, expires),
        )
    return sid


def user_for_session(site: Site, sid: str | None) -> str | None:
    """The user of a live session, or None (unknown, expired, or the user is disabled)."""
    found = identity_for_session(site, sid)
    return found.user if found else None


def identity_for_session(site: Site, sid: str | None) -> Identity | None:
    """Who a live session is (with their roles, in the same statement), or None."""
    if not sid:
        return None
    _ensure_table(site)
    rows = site.db.sql(
        f'SELECT s."user" AS "user", {WITH_ROLES[0]} FROM "__sessions" s JOIN "tabUser" u ON u.name = s."user" '
        f"{WITH_ROLES[1]} WHERE s.sid_hash = ? AND s.expires >= ? AND u.enabled = 1",
        (_hash(sid), int(time.time())),
    )
    return Identity.from_rows(rows, sid) if rows else None


def delete_session(site: Site, sid: str | None) -> None:
    if not sid:
        return
    _ensure_table(site)
    site.db.sql('DELETE FROM "__sessions" WHERE sid_hash = ?', (_hash(sid),))


def delete_user_sessions(site: Site, user: str, keep_sid: str | None = None) -> None:
    """End every session of ``user`` (but ``keep_sid``, when given)."""
    _ensure_table(site)
    site.db.sql('DELETE FROM "__sessions" WHERE "user" = ? AND sid_hash <> ?', (user, _hash(keep_sid or "")))


def _find_user(site: Site, usr: str) -> dict | None:
    rows = site.db.sql(
        'SELECT name, enabled, first_name, last_name FROM "tabUser" WHERE name = ? OR LOWER(email) = ? '
        "ORDER BY CASE WHEN name = ? THEN 0 ELSE 1 END LIMIT 1",
        (usr, usr.strip().lower(), usr),
    )
    return rows[0] if rows else None


def _ensure_table(site: Site) -> None:
    if site.db in _READY:
        return
    site.db.sql(SESSIONS_DDL)
    site.db.sql(FAILURES_DDL)
    if not site.db.in_transaction:  # a transaction rolled back would take the tables with it
        _READY.add(site.db)


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


__all__ = ["Login", "create_session", "delete_session", "delete_user_sessions", "identity_for_session", "login",
           "user_for_session"]
