"""Users: creating them and their API keys."""

from __future__ import annotations

import secrets
from typing import Any

from docstream.model.documents import Session


def add_user(
    session: Session, email: str, password: str | None = None, roles: list[str] | None = None,
    first_name: str | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "doctype": "User", "email": email, "first_name": first_name or email.split("@")[0],
        "roles": [{"role": r} for r in roles or []],
    }
    if password:
        doc["new_password"] = password
    return session.insert(doc)


def generate_keys(session: Session, user: str) -> dict[str, str]:
    """A new key pair for ``user``; the old secret stops working at once. The secret is returned
    here and never again (only its keyed hash is stored)."""
    system = session.as_user(session.user, from_client=False)  # the keys are read only: the site sets them
    with session.db.transaction():
        doc = system.get("User", user)
        api_key = doc.get("api_key") or secrets.token_hex(8)
        api_secret = secrets.token_hex(16)
        system.update("User", doc["name"], {"api_key": api_key, "api_secret": api_secret})
    return {"api_key": api_key, "api_secret": api_secret}
