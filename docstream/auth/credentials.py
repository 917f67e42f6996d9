"""API credentials: ``Authorization: token key:secret`` or ``Basic base64(key:secret)``.

The secret is checked against its keyed hash in constant time; the key of a disabled user
is refused. Any failure is an AuthenticationError (401) that never echoes the secret.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from docstream.auth.permissions import GUEST
from docstream.auth.users import user_by_api_key
from docstream.errors import AuthenticationError
from docstream.model.documents import Session

if TYPE_CHECKING:
    from docstream.site import Site

_SCHEMES = ("token", "basic")


def user_for_authorization(site: Site, header: str) -> str:
    """The user an ``Authorization`` header authenticates, or AuthenticationError."""
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in _SCHEMES:
        raise AuthenticationError(
            f"unsupported Authorization scheme {scheme!r}: use 'token api_key:api_secret' or Basic"
        )
    key, secret = _split(_decode_basic(value) if scheme == "basic" else value.strip())
    return user_for_api_key(site, key, secret)


def user_for_api_key(site: Site, api_key: str, api_secret: str) -> str:
    user = user_by_api_key(Session(site, GUEST), api_key)
    # check a secret even for an unknown key, so both fail alike
    valid = site.secrets.check_api_secret(user or "\0", api_secret)
    if user is None or not valid:
        raise AuthenticationError("Invalid API key or secret (or the user is disabled)")
    return user


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


__all__ = ["user_for_api_key", "user_for_authorization"]
