"""docstream.deepjson: json's answers at any depth, and API answers that no depth can break."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docstream import deepjson
from docstream.api.responses import json_response
from docstream.deepjson import _Encoder, _parse

DEEP = 20_000  # far past json's recursion (about a thousand levels)


def nested(levels: int, inner: str = "") -> str:
    return "[" * levels + inner + "]" * levels


def depth_of(value: Any) -> int:
    levels = 0
    while isinstance(value, list):
        levels, value = levels + 1, (value[0] if value else None)
    return levels


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(),
                     st.floats(allow_nan=False, allow_infinity=False))
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(st.text(max_size=5), inner, max_size=4)),
                       max_leaves=30)
_OPTIONS = [{}, {"separators": (",", ":"), "ensure_ascii": False}, {"sort_keys": True, "separators": (",", ":")}]


@settings(max_examples=300, deadline=None, database=None)
@given(_values)
def test_the_iterative_encoder_and_decoder_write_and_read_what_json_does(value: Any) -> None:
    for options in _OPTIONS:
        text = json.dumps(value, **options)
        assert _Encoder(None, False, **options).encode(value) == text
        assert _parse(text) == json.loads(text)
    indented = json.dumps(value, indent=1)
    assert _parse(indented) == json.loads(indented)


@pytest.mark.parametrize("text", ["NaN", "-Infinity", "[1e5, -0, 0.5E-3, -12, 1E+2]", ' {"a" : [ ] , "b":{}} ',
                                  '"\\u00e9\\n"', "[true,false,null]"])
def test_the_decoder_reads_the_constants_and_numbers_json_reads(text: str) -> None:
    assert repr(_parse(text)) == repr(json.loads(text))


@pytest.mark.parametrize("text", ["[1,]", '{"a":1,}', "[1 2]", '{"a" 1}', "[", '{"a":1', "[1]x", "tru", "{1:2}",
                                  '"abc', "[01]", "'a'", nested(DEEP, "x"), nested(DEEP)[:-1]])
def test_the_decoder_refuses_what_json_refuses(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        _parse(text)
    with pytest.raises(json.JSONDecodeError):
        deepjson.loads(text)


def test_loads_and_dumps_at_any_depth() -> None:
    text = '{"a": [' + nested(DEEP, '{"b": 1}') + "]}"
    with pytest.raises(RecursionError):
        json.loads(text)
    value = deepjson.loads(text)
    assert depth_of(value["a"]) == DEEP + 1
    assert deepjson.dumps(value, separators=(",", ":")) == text.replace(" ", "")
    assert deepjson.dumps(value) == text
    assert deepjson.dumps(deepjson.loads(text.encode())) == text  # bytes, as from a socket
    assert deepjson.depth(value) == DEEP + 3
    assert deepjson.depth(value, limit=10) == 11  # stops as soon as it knows
    assert deepjson.depth(7) == 0 and deepjson.depth([]) == 1 and deepjson.depth({"a": [[1]]}) == 3


def test_dumps_keeps_json_s_errors_and_defaults() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        deepjson.dumps(loop, nan_as_null=True)
    with pytest.raises(TypeError):
        deepjson.dumps(deepjson.loads(nested(DEEP)) + [object()])
    assert deepjson.dumps([math.nan]) == "[NaN]"  # json's own output unless asked otherwise
    with_default = [deepjson.loads(nested(DEEP)), {1: {2, 3}, None: Decimal("1.5"), 2.5: True}]
    text = deepjson.dumps(with_default, default=lambda v: sorted(v) if isinstance(v, set) else str(v))
    assert text.startswith("[" * (DEEP + 1)) and text.endswith('{"1": [2, 3], "null": "1.5", "2.5": true}]')


def test_nan_as_null() -> None:
    assert deepjson.dumps([math.nan, {"x": -math.inf}, (math.inf,)], nan_as_null=True) == "[null, {\"x\": null}, [null]]"
    deep = deepjson.loads(nested(3000))
    deep[0][0].append(math.nan)
    assert deepjson.dumps(deep, nan_as_null=True).count("null") == 1


def test_api_answers_can_hold_any_depth_and_no_nan() -> None:
    value = {"data": {"payload": deepjson.loads(nested(5000)), "ratio": math.nan, "pair": (1, math.inf)}}
    body = json_response(value).body
    parsed = deepjson.loads(body)
    assert depth_of(parsed["data"]["payload"]) == 5000
    assert parsed["data"]["ratio"] is None and parsed["data"]["pair"] == [1, None]
    assert json_response({"message": [1.5, "é"]}).body == '{"message":[1.5,"é"]}'.encode()
