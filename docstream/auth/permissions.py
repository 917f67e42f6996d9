"""DocPerm-based permissions: which roles may read/write/create/delete/submit/cancel a DocType."""

from __future__ import annotations

from docstream.errors import PermissionError
from docstream.model.meta import PERM_TYPES, Meta

ADMINISTRATOR = "Administrator"
GUEST = "Guest"
SUPER_ROLES = frozenset({"Administrator", "System Manager"})
AUTOMATIC_ROLES = frozenset({"All"})


def has_permission(meta: Meta, user: str, roles: frozenset[str], ptype: str) -> bool:
    if ptype not in PERM_TYPES:
        raise ValueError(f"unknown permission type {ptype!r}")
    if user == ADMINISTRATOR or roles & SUPER_ROLES:
        return True
    if user == GUEST:
        return False
    if ptype in ("submit", "cancel") and not meta.is_submittable:
        return False
    return any(p.get(ptype) and p["role"] in roles for p in meta.permissions)


def check_permission(meta: Meta, user: str, roles: frozenset[str], ptype: str, name: str | None = None) -> None:
    if not has_permission(meta, user, roles, ptype):
        what = f"{meta.name} {name}" if name else meta.name
        raise PermissionError(
            f"{user} has no {ptype} permission on {what} — give one of its roles {ptype} access to {meta.name}",
            doctype=meta.name, name=name,
        )


def readable_doctypes(metas: dict[str, Meta], user: str, roles: frozenset[str]) -> list[str]:
    return sorted(n for n, m in metas.items() if not m.istable and has_permission(m, user, roles, "read"))
