"""Whitelisted methods: what ``/api/method/{name}`` and ``/?cmd={name}`` may call.

    @whitelist("frappe.client.get_count")
    def get_count(session, doctype, filters=None):
        return session.count(doctype, parse_json_arg(filters, "filters"))

A method is ``fn(session, **kwargs) -> result``, ``session`` being the caller's
:class:`~docstream.model.documents.Session`. Arguments come from the query string, a form
or a JSON body, so a JSON-typed argument may arrive as a string: parse it with
``docstream.model.query.parse_json_arg`` (and numbers/flags with :func:`as_int` /
:func:`as_bool`). An argument the function does not take is refused (417) with the list
of those it does. This module knows no particular method: modules register theirs by
importing it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from docstream.auth.permissions import GUEST
from docstream.errors import DoesNotExistError, PermissionError, ValidationError

# sent by Frappe's clients along with the arguments; never meant for the method
IGNORED_ARGS = frozenset({"cmd", "_", "csrf_token"})
_TEXT = ("str", "str | None", str)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", "", "none", "null"}


@dataclass(frozen=True)
class Method:
    name: str
    fn: Callable[..., Any]
    allow_guest: bool
    methods: tuple[str, ...]

    @property
    def parameters(self) -> list[inspect.Parameter]:
        return list(inspect.signature(self.fn).parameters.values())[1:]

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.fn) or ""


@dataclass
class Reply:
    """A result that also carries top-level keys or cookies (login and logout need them).

    ``cookies`` maps a cookie name to its value, or to None to clear it."""

    message: Any
    extra: dict[str, Any] = field(default_factory=dict)
    cookies: dict[str, str | None] = field(default_factory=dict)


_REGISTRY: dict[str, Method] = {}


def whitelist(
    name: str, allow_guest: bool = False, methods: Iterable[str] = ("GET", "POST"),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn(session, **kwargs)`` as the method ``name``."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        _REGISTRY[name] = Method(name, fn, allow_guest, tuple(m.upper() for m in methods))
        return fn

    return register


def get_method(name: str) -> Method:
    method = _REGISTRY.get(name)
    if method is None:
        raise DoesNotExistError(f"no method {name!r} on this site", name=name)
    return method


def registered() -> list[Method]:
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def call(session: Any, name: str, args: dict[str, Any], http_method: str = "POST") -> Any:
    """Check who may call ``name`` and how, bind ``args`` and run it."""
    method = get_method(name)
    if http_method.upper() not in method.methods and not (http_method.upper() == "HEAD" and "GET" in method.methods):
        raise PermissionError(f"{name} can't be called with {http_method}: use {' or '.join(method.methods)}", name=name)
    if session.user == GUEST and not method.allow_guest:
        raise PermissionError(f"{name} is not allowed for Guest: log in or send an API key", name=name)
    return method.fn(session, **bind(method, args))


def bind(method: Method, args: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments for ``method``: unknown ones refused, missing ones named."""
    args = {k: v for k, v in args.items() if k not in IGNORED_ARGS}
    params = method.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return args
    accepted = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = sorted(set(args) - set(accepted))
    if unknown:
        raise ValidationError(
            f"{method.name} got unknown argument{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(u) for u in unknown)}; it takes {', '.join(accepted) or 'no arguments'}",
            name=method.name,
        )
    missing = [p.name for p in params if p.name in accepted and p.default is p.empty and p.name not in args]
    if missing:
        raise ValidationError(f"{method.name} needs the argument {', '.join(repr(m) for m in missing)}", name=method.name)
    for param in params:
        value = args.get(param.name)
        if param.annotation in _TEXT and value is not None and not isinstance(value, str):
            raise ValidationError(f"{method.name}: {param.name} must be text, not {type(value).__name__}", field=param.name)
    return args


def as_bool(value: Any, what: str = "value") -> bool:
    if isinstance(value, bool) or value is None:
        return bool(value)
    if isinstance(value, (int, float)):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValidationError(f"{what} must be true or false (1 or 0), not {value!r}", field=what)


def as_int(value: Any, what: str, default: int | None = 0) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        return int(value)
    try:
        number = float(value) if isinstance(value, str) and "." in value else value
        if isinstance(number, float) and not number.is_integer():
            raise ValueError(value)
        out = int(number)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValidationError(f"{what} must be a whole number, not {value!r}", field=what) from exc
    if out < 0 or out > 2**62:
        raise ValidationError(f"{what} must be between 0 and 2^62, not {value!r}", field=what)
    return out


__all__ = ["IGNORED_ARGS", "Method", "Reply", "as_bool", "as_int", "bind", "call", "get_method", "registered", "whitelist"]
