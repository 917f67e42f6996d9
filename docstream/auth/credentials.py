"""API credentials: ``Authorization: token key:secret`` or ``Basic base64(key:secret)``.

The secret is checked against its keyed hash in constant time; the key of a disabled user
is refused. Any failure is an AuthenticationError (401) that never echoes the secret.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from docstream.auth.identity import WITH_ROLES, Identity
from docstream.auth.secrets import Secrets
from docstream.errors import AuthenticationError

if TYPE_CHECKING:
    from docstream.site import Site

_SCHEMES = ("token", "basic")


_BY_KEY = (f'SELECT u.name AS "user", a.value AS mac, {WITH_ROLES[0]} FROM "tabUser" u '
           f"{Secrets.API_SECRET_JOIN} {WITH_ROLES[1]} WHERE u.api_key = ? AND u.enabled = 1")


def user_for_authorization(site: Site, header: str) -> str:
    """The user an ``Authorization`` header authenticates, or AuthenticationError."""
    return identity_for_authorization(site, header).user


def identity_for_authorization(site: Site, header: str) -> Identity:
    """Who an ``Authorization`` header authenticates (with their roles), or AuthenticationError."""
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in _SCHEMES:
        raise AuthenticationError(
            f"unsupported Authorization scheme {scheme!r}: use 'token api_key:api_secret' or Basic"
        )
    key, secret = _split(_decode_basic(value) if scheme == "basic" else value.strip())
    return identity_for_api_key(site, key, secret)


def user_for_api_key(site: Site, api_key: str, api_secret: str) -> str:
    return identity_for_api_key(site, api_key, api_secret).user


def identity_for_api_key(site: Site, api_key: str, api_secret: str) -> Identity:
    """The enabled user of ``api_key`` whose secret is ``api_secret``: one statement reads the user,
    the secret's hash, the roles and the DocTypes' version."""
    rows = site.db.sql(_BY_KEY, (api_key,))
    if len({r["user"] for r in rows}) > 1:  # api_key is unique; a site from before it was may hold one twice
        rows = []  # no user is picked: the key fails for all of them until their keys are generated again
    # check a secret even for an unknown key, so both fail alike
    if not site.secrets.api_secret_matches(rows[0]["mac"] if rows else None, api_secret):
        raise AuthenticationError("Invalid API key or secret (or the user is disabled)")
    return Identity.from_rows(rows)


def _decode_basic(value: str) -> str:
    try:
        return base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise AuthenticationError("the Basic credentials are not valid base64 of api_key:api_secret") from exc


def _split(pair: str) -> tuple[str, str]:
    key, sep, secret = pair.partition(":")
    if not sep or not key or not secret:
        raise AuthenticationError("credentials must be api_key:api_secret")
    return key, secret


__all__ = ["identity_for_api_key", "identity_for_authorization", "user_for_api_key", "user_for_authorization"]
