"""Tests for docstream.expressions: the whitelist evaluator for user expressions."""

from __future__ import annotations

import ast
import builtins
import operator
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import docstream.expressions as expressions
from docstream.errors import ExpressionError, ValidationError
from docstream.expressions import (
    Expression,
    compile_expression,
    evaluate,
    validate_expression,
)

CANARY = Path("/tmp/docstream-expr-canary")

DOC: dict[str, Any] = {
    "public": 1,
    "grand_total": 2000,
    "customer": "A",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "items": [1, 2, 3],
    "amount": Decimal("1.5"),
    "zero": 0,
    "empty": "",
    "big": "x" * 6000,
    "huge": 10**31,
}
ENV = {"doc": DOC}


@pytest.fixture(autouse=True)
def _canary_never_created():
    assert not CANARY.exists(), f"{CANARY} exists before the test"
    yield
    assert not CANARY.exists(), f"{CANARY} was created: an expression was executed"


def run(source: str, doc: dict[str, Any] | None = None) -> Any:
    return compile_expression(source).evaluate({"doc": DOC if doc is None else doc})


# --------------------------------------------------------------------------- API


def test_public_api():
    assert expressions.__all__ == sorted(expressions.__all__)
    assert set(expressions.__all__) == {
        "Expression",
        "compile_expression",
        "evaluate",
        "validate_expression",
    }


def test_compile_once_evaluate_many():
    expr = compile_expression("doc.public == 1")
    assert isinstance(expr, Expression)
    assert expr.source == "doc.public == 1"
    assert "doc.public == 1" in repr(expr)
    assert expr.evaluate({"doc": {"public": 1}}) is True
    assert expr.evaluate({"doc": {"public": 0}}) is False
    assert expr.evaluate({"doc": {}}) is False


def test_validate_expression():
    assert validate_expression("doc.a == 1") is None
    assert validate_expression("row.a", names={"row"}) is None
    with pytest.raises(ExpressionError):
        validate_expression("doc.delete()")
    with pytest.raises(ExpressionError):
        validate_expression("doc.a", names={"row"})


def test_evaluate_convenience_uses_env_keys_as_names():
    assert evaluate("row.a + 1", {"row": {"a": 1}}) == 2
    env = {"doc": {"owner": "ada"}, "user": {"name": "ada"}}
    assert evaluate("doc.owner == user.name", env) is True
    with pytest.raises(ExpressionError, match="unknown name 'doc'"):
        evaluate("doc.a", {"row": {}})
    with pytest.raises(ExpressionError, match="unknown name 'user'"):
        evaluate("user.name", env, names={"doc"})


def test_other_names_and_no_names():
    assert compile_expression("row.a", names={"row"}).evaluate({"row": {"a": 5}}) == 5
    assert compile_expression("1 + 1", names=frozenset()).evaluate({}) == 2
    with pytest.raises(ExpressionError, match="no names may be used"):
        compile_expression("doc", names=set())


def test_expression_error_is_a_validation_error():
    with pytest.raises(ValidationError):
        compile_expression("doc.delete()")


def test_non_string_source_refused():
    with pytest.raises(ExpressionError, match="must be text"):
        compile_expression(None)  # type: ignore[arg-type]
    with pytest.raises(ExpressionError, match="must be text"):
        compile_expression(["doc"])  # type: ignore[arg-type]


# ----------------------------------------------------------- allowed constructs


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # constants
        ("1", 1),
        ("1.5", 1.5),
        ('"x"', "x"),
        ("'x'", "x"),
        ("True", True),
        ("False", False),
        ("None", None),
        # names, fields and subscripts
        ("doc.public", 1),
        ("doc.missing", None),
        ('doc["first_name"]', "Ada"),
        ("doc['missing']", None),
        ("doc.items", [1, 2, 3]),
        ("doc.amount * 2", Decimal("3.0")),
        # containers
        ("()", ()),
        ("(1, doc.public)", (1, 1)),
        ("[]", []),
        ("[1, doc.customer]", [1, "A"]),
        ("{1, 2, 2}", {1, 2}),
        # the examples from the docs
        ("doc.public == 1", True),
        ('doc.grand_total > 1000 and doc.customer in ("A", "B")', True),
        ('doc.first_name + " " + doc.last_name', "Ada Lovelace"),
        # boolean operators keep Python's semantics (they return an operand)
        ("doc.public and doc.customer", "A"),
        ("doc.zero and doc.customer", 0),
        ('doc.missing or "default"', "default"),
        ('doc.empty or doc.missing or "x"', "x"),
        ("doc.public or doc.missing", 1),
        ("not doc.public", False),
        ("not doc.missing", True),
        ("not not doc.customer", True),
        # comparisons
        ("doc.public == 1", True),
        ("doc.public != 1", False),
        ("doc.grand_total < 2000", False),
        ("doc.grand_total <= 2000", True),
        ("doc.grand_total > 1999.5", True),
        ("doc.grand_total >= 2001", False),
        ("2 in doc.items", True),
        ("5 not in doc.items", True),
        ('"Ada" in doc.first_name', True),
        ('doc.customer in {"A", "B"}', True),
        ('doc.customer in ["B", "C"]', False),
        ('"public" in doc', True),
        ("doc.missing is None", True),
        ("doc.public is not None", True),
        ("doc.public is True", False),
        ("1 < doc.public + 1 < 3", True),
        ("1 < 2 < 2", False),
        ("0 <= doc.zero == 0 < doc.public", True),
        # arithmetic
        ("7 + 3", 10),
        ("7 - 10", -3),
        ("6 * 7", 42),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("7 % 3", 1),
        ("-7 % 3", 2),
        ("2.5 * 2", 5.0),
        ("-doc.public", -1),
        ("+doc.public", 1),
        ("- -3", 3),
        ("True + True", 2),
        ("1 + 2 * 3 - 4 // 2", 5),
        ("(1 + 2) * 3", 9),
        ('"ab" * 3', "ababab"),
        ('3 * "ab"', "ababab"),
        ('"ab" * -1', ""),
        ('"ab" * 0', ""),
        ("[0] * 3", [0, 0, 0]),
        ("(1, 2) + (3,)", (1, 2, 3)),
        ("doc.items + [4]", [1, 2, 3, 4]),
        ('"a" * 10000 == "a" * 10000', True),
        ("1000000000000000 * 1000000000000000", 10**30),
        ("-1000000000000000 * 1000000000000000", -(10**30)),
        # conditional expression
        ('"big" if doc.grand_total > 1000 else "small"', "big"),
        ('"big" if doc.grand_total > 5000 else "small"', "small"),
    ],
)
def test_allowed(source: str, expected: Any):
    result = run(source)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    "source",
    [
        "doc.missing and doc.missing > 5",  # `and` stops before the bad comparison
        "doc.public or 1 / 0",
        "True or doc.missing > 5",
        "1 > 2 > doc.missing",  # a chain stops at the first false link
        "1 if True else 1 / 0",  # the branch not taken is not evaluated
        "1 / 0 if False else 1",
    ],
)
def test_short_circuit_skips_the_rest(source: str):
    run(source)  # would raise ExpressionError if the skipped part were evaluated


def test_dict_subclass_is_a_document():
    class Doc(dict):
        pass

    assert run("doc.a + 1", Doc(a=1)) == 2


def test_list_result_is_a_copy():
    doc = {"items": [1]}
    result = run("doc.items + [2]", doc)
    assert result == [1, 2]
    assert doc["items"] == [1]


# ------------------------------------------------------ hostile: compile time

HOSTILE = [
    # straight from the brief
    "__import__('os').system('touch /tmp/docstream-expr-canary')",
    "doc.__class__",
    "doc.__class__.__mro__",
    "().__class__.__bases__[0].__subclasses__()",
    "open('/etc/passwd').read()",
    "open('/tmp/docstream-expr-canary', 'w')",
    "lambda: 1",
    "(lambda: 1)()",
    "[x for x in doc]",
    "{x for x in doc}",
    "{k: v for k, v in doc}",
    "(x for x in doc)",
    "doc.get('a')",
    "doc.items.append(1)",
    'f"{doc}"',
    'f"{doc.__class__}"',
    "(x := 1)",
    "9**999999",
    "2 ** 3",
    '"a"*10**9',
    "globals()",
    "locals()",
    "vars(doc)",
    "dir()",
    "getattr(doc,'x')",
    "setattr(doc, 'x', 1)",
    "eval('1')",
    "exec('1')",
    "compile('1', '', 'eval')",
    "breakpoint()",
    "type(doc)",
    "'{0.__class__}'.format(doc)",
    "'abc'.upper()",
    "''.join",
    "(1).real",
    "doc.public.real",
    "doc.items.x",
    "doc.items.__len__",
    "doc.a.b",
    # names other than doc
    "os",
    "os.system",
    "sys.modules",
    "x",
    "self",
    "Doc",
    "__builtins__",
    "__import__",
    "__class__",
    "_",
    # private fields and bad indexing
    "doc._private",
    "doc['_private']",
    "doc['__class__']",
    "doc['a']['b']",
    "doc.a['b']",
    "doc[0]",
    "doc[doc.a]",
    "doc[1:2]",
    "doc.items[0]",
    "doc.items[::-1]",
    # other refused nodes and operators
    "{}",
    "{'a': 1}",
    "[*doc.items]",
    "(*doc.items,)",
    "~1",
    "1 << 100",
    "1 >> 1",
    "doc.a | 1",
    "doc.a & 1",
    "doc.a ^ 1",
    "doc.a @ doc.b",
    "b'bytes'",
    "1j",
    "...",
    "1" + "0" * 31,
    "await doc",
    "(yield)",
    # not expressions at all
    "import os",
    "os = 1",
    "doc.a = 1",
    "del doc",
    "doc if",
    "",
    "   ",
    "doc\x00",
    "1; 2",
    "doc.public == 1\nimport os",
]


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_refused_at_compile_time(source: str):
    with pytest.raises(ExpressionError):
        compile_expression(source)
    with pytest.raises(ExpressionError):
        validate_expression(source)
    with pytest.raises(ExpressionError):
        evaluate(source, {"doc": DOC})


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("doc.delete()", "function calls are not allowed in an expression: doc.delete()"),
        ("os", "unknown name 'os' — only doc may be used"),
        ("lambda: 1", "lambda functions are not allowed in an expression: lambda: 1"),
        ("[x for x in doc]", "comprehensions are not allowed in an expression: [x for x in doc]"),
        ('f"{doc}"', 'f-strings are not allowed in an expression: f"{doc}"'),
        ("(x := 1)", "assignment expressions (:=) are not allowed in an expression: x := 1"),
        ("9**999999", "the ** operator is not allowed in an expression: 9**999999"),
        ("doc.__class__", "fields starting with '_' are not allowed: doc.__class__"),
        (
            "doc.items.x",
            "fields can only be read directly from a name, as in doc.field: doc.items.x",
        ),
        ("doc[0]", 'indexing is only allowed as doc["field"] with a quoted field: doc[0]'),
        ("doc[1:2]", 'indexing is only allowed as doc["field"] with a quoted field: doc[1:2]'),
        ("{}", "dict literals are not allowed in an expression: {}"),
        ("1j", "complex constants are not allowed: 1j"),
    ],
)
def test_compile_error_messages(source: str, message: str):
    with pytest.raises(ExpressionError) as info:
        compile_expression(source)
    assert str(info.value) == message
    assert info.value.message == message


def test_unknown_name_lists_all_allowed_names():
    with pytest.raises(ExpressionError, match="only doc, user may be used"):
        compile_expression("os", names={"user", "doc"})


def test_syntax_error_message():
    with pytest.raises(ExpressionError, match="not a valid expression"):
        compile_expression("doc.a ==")


def test_long_error_segments_are_shortened():
    source = "doc.delete(" + ", ".join(["1"] * 100) + ")"
    with pytest.raises(ExpressionError) as info:
        compile_expression(source)
    assert len(info.value.message) < 150


# ---------------------------------------------------------------- size limits


def test_source_length_limit():
    assert run('"' + "a" * 998 + '"') == "a" * 998  # exactly 1000 characters
    with pytest.raises(ExpressionError, match="longer than 1000 characters"):
        compile_expression('"' + "a" * 999 + '"')
    with pytest.raises(ExpressionError, match="longer than 1000 characters"):
        compile_expression("doc.a + " * 625)  # 5000 characters


def test_deep_parentheses_refused():
    with pytest.raises(ExpressionError, match="nested more than 30 levels"):
        compile_expression("(" * 100 + "doc.a" + ")" * 100)
    with pytest.raises(ExpressionError):
        compile_expression("(" * 100 + "1" + " + 1)" * 100)
    assert run("(" * 30 + "1" + ")" * 30) == 1
    with pytest.raises(ExpressionError, match="nested more than 30 levels"):
        compile_expression("(" * 31 + "1" + ")" * 31)


def test_deep_trees_refused():
    assert run("-" * 29 + "1") == -1  # 30 nodes deep
    with pytest.raises(ExpressionError, match="nested more than 30 levels"):
        compile_expression("-" * 30 + "1")
    assert run("[" * 30 + "]" * 30) is not None
    with pytest.raises(ExpressionError, match="nested more than 30 levels"):
        compile_expression("[" * 31 + "]" * 31)
    with pytest.raises(ExpressionError):
        compile_expression("not " * 200 + "doc")
    with pytest.raises(ExpressionError):
        compile_expression("-" * 999 + "1")


def test_node_count_limit():
    assert run("(" + ",".join(["1"] * 199) + ")") == (1,) * 199  # 200 nodes
    with pytest.raises(ExpressionError, match="limit is 200"):
        compile_expression("(" + ",".join(["1"] * 200) + ")")


@pytest.mark.parametrize(
    "source",
    [
        '"a" * 1000000000',
        '1000000000 * "a"',
        "[1] * 1000000000",
        "(1, 2) * 1000000000",
        '("a" * 10000) * 1000000000',
        '"a" * 10**9',
        '"ab" * 999999999999999999999999999999',
    ],
)
def test_big_repetition_fails_fast_without_allocating(source: str):
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ExpressionError):
            run(source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 1_000_000


@pytest.mark.parametrize(
    "source",
    [
        '"a" * 10001',
        '"a" * 10000 + "b"',
        "doc.big + doc.big",
        "[0] * 10001",
        '"a" * doc.huge',
        "doc.huge + 1",
        "-doc.huge",
        "1000000000000000 * 1000000000000000 * 10",
        "1000000000000000 * 1000000000000000 + 1",
        "-1000000000000000 * 1000000000000000 - 1",
    ],
)
def test_result_limits(source: str):
    with pytest.raises(ExpressionError):
        run(source)


def test_string_limit_is_inclusive():
    assert len(run('"a" * 10000')) == 10000
    assert len(run('"a" * 5000 + "b" * 5000')) == 10000


# ------------------------------------------------------------ budget of work

OVER_BUDGET = [
    # from the review: ~10**12 comparisons of lists that are small in memory
    "[[[1]*10000]*10000]*10000 == [[[1]*10000+[]]*10000]*10000",
    "[[1]*10000]*99 == [[1]*10000+[]]*99",  # ~10**6 comparisons: just over
    "[[1]*10000] * 10000 < [[1]*10000 + []] * 10000",
    "[1]*10000 in [[1]*10000]*10000",
    "[[1]*10000]*100",  # building it alone
    "['a'*10000]*100",
    "(('a'*10000,)*10000)*1 == (('a'*9999+'a',)*10000)",
    # hashing: a set of, or a lookup in a set of, heavy tuples
    "((1,)*10000,)*100 in {((1,)*10000,)*100}",
    "{((1,)*10000,)*50, ((1,)*9999+(2,),)*50}",
    # operations each within the budget: the budget is for the whole evaluation
    " and ".join(["[[0]*100]*1000 == [[0]*100]*1000"] * 4),
]


@pytest.mark.parametrize("source", OVER_BUDGET)
def test_work_beyond_the_budget_fails_fast(source: str):
    expr = compile_expression(source)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ExpressionError, match="too much work: evaluating this takes more than 1000000 steps"):
            expr.evaluate(ENV)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 5_000_000


def test_the_budget_counts_what_comes_from_the_document():
    rows = [{"item": f"I-{i:03d}", "qty": i} for i in range(100)]  # weighs ~1,700
    doc = {"rows": rows, "copy": [dict(r) for r in rows], "text": "x" * 2_000_000, "tiny": "x"}
    assert run("doc.rows == doc.copy", doc) is True
    assert run("[doc.rows] * 150 == [doc.copy] * 150", doc) is True  # ~770,000 steps
    with pytest.raises(ExpressionError, match="too much work"):
        run("[doc.rows] * 250 == [doc.copy] * 250", doc)
    with pytest.raises(ExpressionError, match="too much work"):
        run('"needle" in doc.text', doc)  # searching a text costs its length
    assert run("doc.text == doc.tiny", doc) is False  # a comparison stops at the shorter
    assert run("doc.text != None and doc.text is not None", doc) is True


def test_within_the_budget_nothing_changes():
    assert run("[[1]*100]*100 == [[1]*100+[]]*100") is True  # 10,000 comparisons
    assert run("[[1]*1000]*300 == [[1]*1000+[]]*300") is True  # ~900,000 steps: building both, comparing
    assert run("[[[[1]*10]*10]*10]*10 < [[[[1]*10]*10]*10]*10 + [0]") is True
    assert run('"a" * 10000 in ["b", "a" * 10000]') is True
    assert run("(1,)*5000 in {(1,)*4999 + (2,), (1,)*4999 + (1,)}") is True
    assert run("{(1, 2), (3,)} == {(3,), (1, 2)}") is True


def test_each_evaluation_has_its_own_budget():
    expr = compile_expression("[[1]*1000]*300 == [[1]*1000+[]]*300")  # ~900,000 steps
    for _ in range(5):
        assert expr.evaluate(ENV) is True


def test_weighing_deep_documents_never_recurses():
    deep: list[Any] = []
    for _ in range(50_000):
        deep = [deep]
    other: list[Any] = []
    for _ in range(50_000):
        other = [other]
    doc = {"a": deep, "b": other}
    assert run("doc.a == doc.a", doc) is True  # the same list: Python's identity check
    with pytest.raises(ExpressionError):  # Python's own comparison gives up, cleanly
        run("doc.a == doc.b", doc)
    with pytest.raises(ExpressionError, match="too much work"):
        run("[doc.a] * 30 == [doc.b] * 30", doc)


def test_an_expression_over_budget_whatever_the_document_is_refused_when_validated():
    source = "[[[1]*10000]*10000]*10000 == [[[1]*10000+[]]*10000]*10000"
    compile_expression(source)  # a valid expression…
    with pytest.raises(ExpressionError, match="too much work: evaluating '.*' takes more than 1000000 steps"):
        validate_expression(source)  # …refused where conditions are saved
    validate_expression("doc.description and " + source)  # depends on the document: bounded when it runs
    validate_expression("doc.public == 1")
    validate_expression("doc.a > 5")  # fails on an empty document, which is no reason to refuse it


def test_an_over_budget_condition_is_false_and_the_write_goes_on():
    from docstream.streaming.updatelog import condition_holds

    condition = "doc.description and [[[1]*10000]*10000]*10000 == [[[1]*10000+[]]*10000]*10000"
    started = time.perf_counter()
    assert condition_holds(condition, {"description": "hello"}) is False
    assert time.perf_counter() - started < 1.0


# ---------------------------------------------------------- evaluation errors


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("doc.missing > 5", "cannot compare None with int in 'doc.missing > 5'"),
        ("5 <= doc.missing", "cannot compare int with None"),
        ('doc.customer < 1', "cannot compare str with int"),
        ('"a" + 1', "cannot apply + to str and int in '\"a\" + 1'"),
        ("doc.missing + 1", "cannot apply + to None and int"),
        ("doc.items - [1]", "cannot apply - to list and list"),
        ('"%s" % doc.customer', "cannot apply % to str and str"),
        ('"%d" % 5', "cannot apply % to str and int"),
        ("doc.first_name * 1.5", "cannot apply * to str and float"),
        ("doc + doc", "cannot apply + to dict and dict"),
        ("doc.amount + 1.5", "cannot compute this"),
        ("1 / 0", "division by zero in '1 / 0'"),
        ("1 // doc.zero", "division by zero"),
        ("1 % 0", "division by zero"),
        ("1.0 / 0", "division by zero"),
        ("-doc.first_name", "cannot apply unary minus/plus to str"),
        ("+doc.missing", "cannot apply unary minus/plus to None"),
        ("1 in doc.missing", "cannot look for a value in None"),
        ("1 in doc.public", "cannot look for a value in int"),
        ('1 in "abc"', "cannot look for int in str"),
        ("[1] in {1}", "cannot look for list in set"),
        ("[1] in doc", "cannot look for list in dict"),
        ("{[1]}", "set members must be hashable"),
        ("doc.huge * 1", "integer larger than 10**30"),
    ],
)
def test_evaluation_errors_are_expression_errors(source: str, fragment: str):
    with pytest.raises(ExpressionError) as info:
        run(source)
    assert fragment in str(info.value)
    for leak in ("NoneType", "unsupported operand", "Traceback"):
        assert leak not in str(info.value)


def test_field_of_a_non_document():
    with pytest.raises(ExpressionError, match="cannot read field 'a' of list"):
        compile_expression("doc.a").evaluate({"doc": [1, 2]})
    with pytest.raises(ExpressionError, match="cannot read field 'a' of None"):
        compile_expression('doc["a"]').evaluate({"doc": None})


def test_unbound_name():
    expr = compile_expression("user.name", names={"doc", "user"})
    with pytest.raises(ExpressionError, match="name 'user' has no value"):
        expr.evaluate({"doc": {}})


def test_exceptions_from_values_are_wrapped():
    class Weird:
        def __eq__(self, other: object) -> bool:
            raise ValueError("boom")

        def __bool__(self) -> bool:
            raise RuntimeError("boom")

        __hash__ = object.__hash__

    with pytest.raises(ExpressionError, match="ValueError") as info:
        run("doc.w == 1", {"w": Weird()})
    assert isinstance(info.value.__cause__, ValueError)
    with pytest.raises(ExpressionError, match="RuntimeError"):
        run("not doc.w", {"w": Weird()})
    with pytest.raises(ExpressionError):
        run("1 if doc.w else 2", {"w": Weird()})


# --------------------------------------------------- no eval/exec/compile, ever


def test_never_compiles_to_code(monkeypatch: pytest.MonkeyPatch):
    real_compile = builtins.compile
    seen_flags: list[int] = []

    def only_ast(*args: Any, **kwargs: Any) -> Any:
        flags = kwargs.get("flags", args[3] if len(args) > 3 else 0)
        seen_flags.append(flags)
        assert flags & ast.PyCF_ONLY_AST, "compiled to code"
        return real_compile(*args, **kwargs)

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("eval/exec called")

    monkeypatch.setattr(builtins, "compile", only_ast)
    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    sources = ["doc.public == 1 and 'never-cached-1' != 1", 'doc.first_name + "never-cached-2"']
    for source in sources:
        Expression(source).evaluate(ENV)
        compile_expression(source).evaluate(ENV)
    for source in HOSTILE[:10]:
        with pytest.raises(ExpressionError):
            Expression(source)
    assert seen_flags  # ast.parse went through the wrapper


def test_module_source_has_no_dangerous_calls():
    tree = ast.parse(Path(expressions.__file__).read_text(encoding="utf-8"))
    dangerous = {"eval", "exec", "compile", "__import__", "getattr", "setattr", "open", "globals"}
    called = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not called & dangerous


# ------------------------------------------------ property: integer arithmetic

_OPS = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "//": operator.floordiv,
    "%": operator.mod,
}
_COMPARISONS = {
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
}


def _trees() -> st.SearchStrategy[Any]:
    leaves = st.integers(min_value=0, max_value=10**12)
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.tuples(st.sampled_from(sorted(_OPS)), children, children),
            st.tuples(st.just("neg"), children),
        ),
        max_leaves=40,
    )


def _render(tree: Any) -> str:
    if isinstance(tree, int):
        return str(tree)
    if tree[0] == "neg":
        return f"(-{_render(tree[1])})"
    return f"({_render(tree[1])} {tree[0]} {_render(tree[2])})"


def _shape(tree: Any) -> tuple[int, int]:
    """(number of nodes, depth) of the expression tree."""
    if isinstance(tree, int):
        return 1, 1
    shapes = [_shape(child) for child in tree[1:]]
    return 1 + sum(n for n, _ in shapes), 1 + max(d for _, d in shapes)


class _Refused(Exception):
    pass


def _reference(tree: Any) -> int:
    """What the evaluator must compute: Python integer semantics within 10**30."""
    if isinstance(tree, int):
        return tree
    if tree[0] == "neg":
        return -_reference(tree[1])
    left, right = _reference(tree[1]), _reference(tree[2])
    if tree[0] in ("//", "%") and right == 0:
        raise _Refused
    result = _OPS[tree[0]](left, right)
    if abs(result) > 10**30:
        raise _Refused
    return result


@settings(max_examples=300, deadline=None, database=None)
@given(_trees())
def test_integer_arithmetic_matches_reference(tree: Any):
    source = _render(tree)
    nodes, depth = _shape(tree)
    try:
        if len(source) > 1000 or nodes > 200 or depth > 30:
            raise _Refused
        expected = _reference(tree)
    except _Refused:
        with pytest.raises(ExpressionError):
            evaluate(source, {})
        return
    result = evaluate(source, {})
    assert result == expected
    assert type(result) is int


@settings(max_examples=100, deadline=None, database=None)
@given(_trees(), _trees(), st.sampled_from(sorted(_COMPARISONS)))
def test_integer_comparisons_match_reference(left: Any, right: Any, op: str):
    source = f"{_render(left)} {op} {_render(right)}"
    try:
        if len(source) > 1000 or _shape(("+", left, right))[0] > 200:
            raise _Refused
        if max(_shape(left)[1], _shape(right)[1]) + 1 > 30:
            raise _Refused
        expected = _COMPARISONS[op](_reference(left), _reference(right))
    except _Refused:
        with pytest.raises(ExpressionError):
            evaluate(source, {"doc": {}})
        return
    assert evaluate(source, {"doc": {}}) is expected
