"""Site URLs: one site, one name. Only http and https; lower-case host; no default port; no trailing slash."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from docstream.errors import ValidationError

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_url(url: str, what: str = "URL") -> str:
    text = (url or "").strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValidationError(f"{what} {text!r} is not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValidationError(f"{what} {text!r} must start with http:// or https://")
    if not parts.hostname:
        raise ValidationError(f"{what} {text!r} has no host")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValidationError(f"{what} {text!r} must be a plain site address (no user, query or fragment)")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = parts.path.rstrip("/")
    return urlunsplit((scheme, netloc, path, "", ""))


def same_site(url: str, other: str) -> bool:
    """Whether two URLs name one site; False when either is not a site URL."""
    try:
        return normalise_url(url) == normalise_url(other)
    except ValidationError:
        return False
