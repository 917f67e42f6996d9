"""JSON of any depth: the fallbacks for when the standard library's recursion gives up.

``json.loads`` and ``json.dumps`` recurse once per level of nesting and raise RecursionError
somewhere below Python's recursion limit (a thousand levels, fewer the deeper the caller's own
stack). New JSON field values are refused beyond :data:`MAX_JSON_DEPTH` levels
(``docstream.model.types``), but a value stored before that limit existed, or a remote site's
answer, may be deeper: what must be able to read it (the change feed, a consumer reading the
feed, a document read from the database) or send it (every API answer) uses :func:`loads` and
:func:`dumps`, which take the standard library's fast path and, only when that runs out of
depth, an iterative one that no depth can crash.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from json.decoder import scanstring
from typing import Any

__all__ = ["MAX_JSON_DEPTH", "depth", "dumps", "loads"]

MAX_JSON_DEPTH = 100  # the deepest JSON field value a document may hold (lists and objects in each other)

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"(-?(?:0|[1-9]\d*))(\.\d+)?([eE][-+]?\d+)?")
_CONSTANTS = {"null": None, "true": True, "false": False, "NaN": math.nan, "Infinity": math.inf,
              "-Infinity": -math.inf}
_CONTAINERS = (dict, list, tuple)


def depth(value: Any, limit: int | None = None) -> int:
    """How many lists/objects deep ``value`` is nested (a scalar is 0, ``[]`` is 1, ``[[1]]`` 2),
    without recursion; with ``limit``, the walk stops as soon as the answer is more than it."""
    if not isinstance(value, _CONTAINERS):
        return 0
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if level > deepest:
            deepest = level
            if limit is not None and deepest > limit:
                break
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, _CONTAINERS):
                stack.append((child, level + 1))
    return deepest


def loads(text: str | bytes) -> Any:
    """``json.loads(text)``, at any depth (the same values, the same JSONDecodeError)."""
    try:
        return json.loads(text)
    except RecursionError:
        return _parse(text.decode("utf-8") if isinstance(text, (bytes, bytearray)) else text)


def dumps(value: Any, *, default: Callable[[Any], Any] | None = None, nan_as_null: bool = False,
          **options: Any) -> str:
    """``json.dumps(value, **options)``, at any depth. With ``nan_as_null``, NaN and ±Infinity (which
    JSON has no way to write) are written as ``null`` instead of the non-standard ``NaN``."""
    try:
        return json.dumps(value, default=default, allow_nan=not nan_as_null, **options)
    except (RecursionError, ValueError) as exc:
        if isinstance(exc, ValueError) and not nan_as_null:
            raise
    return _Encoder(default, nan_as_null, **options).encode(value)


# -- the iterative decoder ------------------------------------------------------


def _fail(message: str, text: str, pos: int) -> json.JSONDecodeError:
    return json.JSONDecodeError(message, text, pos)


def _skip(text: str, pos: int) -> int:
    return _WHITESPACE.match(text, pos).end()  # type: ignore[union-attr]


def _key(text: str, pos: int) -> tuple[str, int]:
    """An object's key and the position after its colon (and the whitespace after it)."""
    if text[pos:pos + 1] != '"':
        raise _fail("Expecting property name enclosed in double quotes", text, pos)
    key, pos = scanstring(text, pos + 1)
    pos = _skip(text, pos)
    if text[pos:pos + 1] != ":":
        raise _fail("Expecting ':' delimiter", text, pos)
    return key, _skip(text, pos + 1)


def _parse(text: str) -> Any:
    stack: list[list[Any]] = []  # [container, the key its next value goes under]
    pos = _skip(text, 0)
    while True:
        char = text[pos:pos + 1]
        if char == "{" or char == "[":
            after = _skip(text, pos + 1)
            if text[after:after + 1] == ("}" if char == "{" else "]"):
                value, pos = ({} if char == "{" else []), after + 1
            elif char == "{":
                key, pos = _key(text, after)
                stack.append([{}, key])
                continue
            else:
                stack.append([[], None])
                pos = after
                continue
        elif char == '"':
            value, pos = scanstring(text, pos + 1)
        else:
            value, pos = _scalar(text, pos)
        while True:  # the value is complete: into its container, then what follows it
            if not stack:
                end = _skip(text, pos)
                if end != len(text):
                    raise _fail("Extra data", text, end)
                return value
            container, key = stack[-1]
            if key is None:
                container.append(value)
            else:
                container[key] = value
            pos = _skip(text, pos)
            char = text[pos:pos + 1]
            if char == ",":
                pos = _skip(text, pos + 1)
                if key is not None:
                    stack[-1][1], pos = _key(text, pos)
                break
            if char == ("]" if key is None else "}"):
                value, pos = stack.pop()[0], pos + 1
                continue
            raise _fail("Expecting ',' delimiter", text, pos)


def _scalar(text: str, pos: int) -> tuple[Any, int]:
    number = _NUMBER.match(text, pos)
    if number and number.end() > pos:
        integer, fraction, exponent = number.groups()
        if fraction or exponent:
            return float(integer + (fraction or "") + (exponent or "")), number.end()
        return int(integer), number.end()
    for word, value in _CONSTANTS.items():
        if text.startswith(word, pos):
            return value, pos + len(word)
    raise _fail("Expecting value", text, pos)


# -- the iterative encoder ------------------------------------------------------


class _Encoder:
    """What ``json.dumps`` writes (the options docstream uses: separators, ensure_ascii,
    sort_keys, default), one value at a time from an explicit stack."""

    def __init__(self, default: Callable[[Any], Any] | None, nan_as_null: bool, *,
                 separators: tuple[str, str] | None = None, ensure_ascii: bool = True,
                 sort_keys: bool = False) -> None:
        self.item, self.colon = separators or (", ", ": ")
        self.string = json.encoder.encode_basestring_ascii if ensure_ascii else json.encoder.encode_basestring
        self.default, self.nan_as_null, self.sort_keys = default, nan_as_null, sort_keys

    def encode(self, value: Any) -> str:
        parts: list[str] = []
        stack: list[tuple[Iterator[Any], bool, int]] = []  # (what is left of a container, is it an object, its id)
        open_ids: set[int] = set()  # the containers being written, as json's check_circular does
        first = True
        while True:
            opened = self.write(value, parts)
            if opened is not None:
                if opened[2] in open_ids:
                    raise ValueError("Circular reference detected")
                open_ids.add(opened[2])
                stack.append(opened)
                first = True
            while stack:
                items, is_object, container = stack[-1]
                item = next(items, _END)
                if item is _END:
                    parts.append("}" if is_object else "]")
                    open_ids.discard(container)
                    stack.pop()
                    first = False
                    continue
                if not first:
                    parts.append(self.item)
                first = False
                if is_object:
                    parts.append(self.string(self.key(item[0])) + self.colon)
                    value = item[1]
                else:
                    value = item
                break
            else:
                return "".join(parts)

    def write(self, value: Any, parts: list[str]) -> tuple[Iterator[Any], bool, int] | None:
        """Write a scalar, or open a container and give back (its items, is it an object, its id)."""
        while True:
            if isinstance(value, str):
                parts.append(self.string(value))
            elif value is None or value is True or value is False:
                parts.append("null" if value is None else "true" if value else "false")
            elif isinstance(value, int):
                parts.append(int.__repr__(value))
            elif isinstance(value, float):
                parts.append(self.number(value))
            elif isinstance(value, (list, tuple)):
                parts.append("[")
                return iter(value), False, id(value)
            elif isinstance(value, dict):
                parts.append("{")
                items = sorted(value.items(), key=lambda kv: kv[0]) if self.sort_keys else value.items()
                return iter(items), True, id(value)
            elif self.default is not None:
                value = self.default(value)
                continue
            else:
                raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
            return None

    def number(self, value: float) -> str:
        if math.isfinite(value):
            return float.__repr__(value)
        if self.nan_as_null:
            return "null"
        return "NaN" if value != value else "Infinity" if value > 0 else "-Infinity"

    def key(self, key: Any) -> str:
        if isinstance(key, str):
            return key
        if key is None or key is True or key is False:
            return "null" if key is None else "true" if key else "false"
        if isinstance(key, int):
            return int.__repr__(key)
        if isinstance(key, float):
            return self.number(key)
        raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


_END = object()
