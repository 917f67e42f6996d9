"""CSRF protection for the desk's form posts.

The token is an HMAC of the login session's id (cookie ``sid``) under a key derived from
the site key: one token per session, nothing to store, useless on another session or site.
Forms carry it in the hidden field ``csrf_token``; htmx sends it as ``X-Frappe-CSRF-Token``
(Frappe's header). A post whose ``Origin`` names another site is refused as well.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import urlsplit

from docstream.auth.secrets import load_or_create_key
from docstream.errors import PermissionError

FIELD = "csrf_token"
HEADER = "x-frappe-csrf-token"
SESSION_COOKIE = "sid"


class CsrfError(PermissionError):
    """A post without the right token, or from another origin."""


class CsrfTokens:
    def __init__(self, site: Any) -> None:
        site_key = load_or_create_key(site.path / "site_key")
        self._key = hashlib.sha256(b"docstream desk csrf\0" + site_key).digest()

    def token(self, request: Any) -> str:
        sid = request.cookies.get(SESSION_COOKIE) or ""
        return hmac.new(self._key, sid.encode(), hashlib.sha256).hexdigest()[:40]

    def check(self, request: Any, form: Any) -> None:
        check_origin(request)
        sent = request.headers.get(HEADER) or form.get(FIELD) or ""
        if not hmac.compare_digest(str(sent), self.token(request)):
            raise CsrfError("this form's security token is missing or out of date: reload the page and try again")


def check_origin(request: Any, allow_null: bool = True) -> None:
    """Refuse a request whose ``Origin`` names another host (``null`` too, unless allowed)."""
    origin = request.headers.get("origin")
    if not origin or (origin == "null" and allow_null):
        return
    host = request.headers.get("host") or request.url.netloc
    if origin == "null" or urlsplit(origin).netloc != host:
        raise CsrfError(f"a request from {origin} is not accepted here: use this site's own pages")


__all__ = ["FIELD", "HEADER", "CsrfError", "CsrfTokens", "check_origin"]
