"""Who a request is, as the credentials found it: the user, and what was read with it.

Finding the user from an API key or a login cookie is one statement that also reads the user's
roles and the DocTypes' version (``__meta_version``), so that a request does not pay a round
trip for each of them before its own work (on PostgreSQL each is one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from docstream.model.registry import VERSION_SQL

# the columns read with the user ``u`` (add the FROM and WHERE): its roles, one row each (none: one
# row with a NULL role), and the DocTypes' version
WITH_ROLES = (f'r.role AS role, ({VERSION_SQL}) AS meta_version',
              """LEFT JOIN "tabHas Role" r ON r.parent = u.name AND r.parenttype = 'User'""")


@dataclass(frozen=True)
class Identity:
    user: str
    roles: tuple[str, ...] | None = None  # None: not read (a Guest)
    meta_version: Any = None
    sid: str | None = None

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]], sid: str | None = None) -> Identity:
        """The user of ``rows`` (read with WITH_ROLES), their roles and the DocTypes' version."""
        first = rows[0]
        mine = [r for r in rows if r["user"] == first["user"]]
        return cls(first["user"], tuple(r["role"] for r in mine if r["role"]), first["meta_version"], sid)
