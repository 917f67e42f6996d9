"""Safe evaluation of user-written expressions, with an interpreter of our own.

Users write expressions that the server evaluates: event-streaming conditions
such as ``doc.public == 1`` and mapping filters such as
``doc.first_name + " " + doc.last_name``.  Why not Python's ``eval``?

* ``eval``/``exec`` cannot be sandboxed.  Emptying ``__builtins__`` does not
  help: ``().__class__.__bases__[0].__subclasses__()`` reaches every class in
  the process, and ``9**999999`` or ``"a" * 10**9`` need no builtins at all
  to exhaust CPU or memory.
* simpleeval-style libraries allow more than we need (calls, attribute access
  on arbitrary objects), have their own history of escapes, and would be one
  more dependency to audit.
* What we accept is a whitelist of about fifteen node types, small enough to
  review in one sitting.

The source is parsed with ``ast.parse(mode="eval")`` and checked once (size,
nesting, node types, names) by :func:`compile_expression`;
:meth:`Expression.evaluate` then walks the tree and computes every node
itself.  Nothing is ever compiled to code.  Operators only work on plain
values (numbers, str, list, tuple) and their results are bounded, so an
expression can neither run long nor allocate much.  Every failure, at compile
time or at evaluation time, is an :class:`~docstream.errors.ExpressionError`.

Bounding each result's length is not enough: ``[[1] * 10000] * 10000`` is a
list of 10,000 references to one list, small in memory, but comparing it
with an equal list built apart takes 10**8 comparisons, and one more level
10**12.  So every evaluation has a budget of work, :data:`_MAX_STEPS` steps,
and every operation whose cost grows with its operands is charged before it
runs, by the *weight* of what it touches: a value counts one step, plus one
per character of a str, plus the weights of what a list, tuple or dict holds,
at every level, as many times as it holds it (what a comparison or a copy
would visit; a set's members count once per member, as hashing may compare
each with the others).  ``+`` and ``*`` on sequences are charged the weight
of what they build; ``==``, ``<``... the weight of the lighter operand (a
comparison stops at the shorter one), or of both when one is a set or a
dict; ``in`` the weight of the container, or of what a hashed lookup has to
hash and compare; a set literal what its hashing may compare.  Weights are
counted without recursion, each object once per evaluation (what the
evaluation built is known as it is built), and never past what is left of
the budget.  Going over it is an ExpressionError; :func:`validate_expression`
also refuses an expression that goes over it against empty documents, i.e.
whatever the document holds.
"""

from __future__ import annotations

import ast
import functools
import io
import itertools
import operator
import tokenize
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from docstream.errors import ExpressionError

__all__ = ["Expression", "compile_expression", "evaluate", "validate_expression"]

_MAX_SOURCE_CHARS = 1000
_MAX_DEPTH = 30
_MAX_NODES = 200
_MAX_LENGTH = 10_000  # longest str/list/tuple that + or * may build
_MAX_STEPS = 1_000_000  # the work one evaluation may do (see the module's doc)
_MAX_INT = 10**30
_DEFAULT_NAMES = frozenset({"doc"})

_BINOPS = {
    ast.Add: ("+", operator.add), ast.Sub: ("-", operator.sub), ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv), ast.FloorDiv: ("//", operator.floordiv),
    ast.Mod: ("%", operator.mod),
}
_UNARY = {ast.Not: operator.not_, ast.USub: operator.neg, ast.UAdd: operator.pos}
_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_REFUSED = {
    ast.Pow: "the ** operator", ast.MatMult: "the @ operator", ast.Invert: "the ~ operator",
    ast.LShift: "the << operator", ast.RShift: "the >> operator", ast.BitAnd: "the & operator",
    ast.BitOr: "the | operator", ast.BitXor: "the ^ operator",
    ast.Call: "function calls", ast.Lambda: "lambda functions", ast.Dict: "dict literals",
    ast.ListComp: "comprehensions", ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions", ast.GeneratorExp: "generator expressions",
    ast.JoinedStr: "f-strings", ast.FormattedValue: "f-strings", ast.Slice: "slices",
    ast.NamedExpr: "assignment expressions (:=)", ast.Starred: "starred expressions",
    ast.Await: "await expressions", ast.Yield: "yield expressions",
    ast.YieldFrom: "yield expressions",
}
_NUMBERS = (int, float, Decimal)  # bool is an int
_SEQS = (str, list, tuple)
_CONTAINERS = (str, list, tuple, set, frozenset, dict)
_HOLDERS = (list, tuple, set, frozenset, dict)  # what has a weight of its own contents
_HASHED = (set, frozenset, dict)
_IDENTITY = (ast.Is, ast.IsNot)
_SMALL = 256  # a cost this small is charged as its bound, without weighing anything


def _type_name(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _segment(source: str, node: ast.AST) -> str:
    text = ast.get_source_segment(source, node) or source
    return text if len(text) <= 80 else text[:77] + "..."


def _parse(source: str) -> ast.Expression:
    if not isinstance(source, str):
        raise ExpressionError(f"an expression must be text, not {_type_name(source)}")
    if len(source) > _MAX_SOURCE_CHARS:
        raise ExpressionError(f"expression is longer than {_MAX_SOURCE_CHARS} characters")
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        reason = exc.msg if isinstance(exc, SyntaxError) else "too complex to parse"
        raise ExpressionError(f"not a valid expression ({reason}): {source[:80]}") from None
    nodes = sum(isinstance(node, ast.expr) for node in ast.walk(tree))
    if nodes > _MAX_NODES:
        raise ExpressionError(f"expression has {nodes} parts; the limit is {_MAX_NODES}")
    if max(_depth(tree), _bracket_depth(source)) > _MAX_DEPTH:
        raise ExpressionError(f"expression is nested more than {_MAX_DEPTH} levels deep")
    return tree


def _depth(node: ast.AST) -> int:
    below = max((_depth(child) for child in ast.iter_child_nodes(node)), default=0)
    return below + isinstance(node, ast.expr)


def _bracket_depth(source: str) -> int:
    depth = deepest = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.OP and token.string in ("(", "[", "{"):
                depth += 1
                deepest = max(deepest, depth)
            elif token.type == tokenize.OP and token.string in (")", "]", "}"):
                depth -= 1
    except (tokenize.TokenError, SyntaxError):
        raise ExpressionError(f"not a valid expression: {source[:80]}") from None
    return deepest


class _Checker:
    """Compile-time walk: refuses every node that is not on the whitelist."""

    def __init__(self, source: str, names: frozenset[str]) -> None:
        self.source, self.names = source, names

    def refuse(self, what: str, node: ast.AST) -> ExpressionError:
        return ExpressionError(f"{what}: {_segment(self.source, node)}")

    def check(self, *nodes: ast.AST) -> None:
        for node in nodes:
            if type(node) not in _WHITELIST:
                what = _REFUSED.get(type(node), f"{type(node).__name__} nodes")
                raise self.refuse(f"{what} are not allowed in an expression", node)
            _WHITELIST[type(node)][0](self, node)

    def constant(self, node: ast.Constant) -> None:
        value = node.value
        if value is not None and not isinstance(value, (str, int, float)):
            raise self.refuse(f"{_type_name(value)} constants are not allowed", node)
        if isinstance(value, int) and abs(value) > _MAX_INT:
            raise self.refuse("integer constants larger than 10**30 are not allowed", node)

    def name(self, node: ast.Name) -> None:
        if node.id.startswith("_"):
            raise self.refuse("names starting with '_' are not allowed", node)
        if node.id not in self.names:
            allowed = ", ".join(sorted(self.names))
            hint = f"only {allowed} may be used" if allowed else "no names may be used here"
            raise ExpressionError(f"unknown name {node.id!r} — {hint}")

    def field(self, node: ast.Attribute | ast.Subscript, target: ast.AST, key: object) -> None:
        if not isinstance(key, str):
            raise self.refuse('indexing is only allowed as doc["field"] with a quoted field', node)
        if key.startswith("_"):
            raise self.refuse("fields starting with '_' are not allowed", node)
        if not isinstance(target, ast.Name):
            raise self.refuse("fields can only be read directly from a name, as in doc.field", node)
        self.name(target)

    def operation(self, node: ast.BinOp | ast.UnaryOp, *operands: ast.AST) -> None:
        if type(node.op) not in _BINOPS and type(node.op) not in _UNARY:
            what = _REFUSED.get(type(node.op), f"the {type(node.op).__name__} operator")
            raise self.refuse(f"{what} is not allowed in an expression", node)
        self.check(*operands)


class _Evaluation:
    """One evaluation of a checked tree against one environment, within one budget of work."""

    def __init__(self, source: str, env: dict[str, Any]) -> None:
        self.source, self.env = source, env
        self.spent = 0
        # id -> (weight, exact, the value): exact, or a lower bound from a walk cut short at the
        # budget; the value is kept so that its id is not given to another while this runs
        self.weights: dict[int, tuple[int, bool, Any]] = {}

    def fail(self, message: str, node: ast.AST) -> ExpressionError:
        return ExpressionError(f"{message} in '{_segment(self.source, node)}'")

    def run(self, node: ast.AST) -> Any:
        return _WHITELIST[type(node)][1](self, node)

    # -- the budget ------------------------------------------------------------
    def left(self) -> int:
        return max(_MAX_STEPS - self.spent, 0)

    def charge(self, steps: int, node: ast.AST) -> None:
        """Spend ``steps`` of the budget before doing the work they stand for."""
        self.spent += steps
        if self.spent > _MAX_STEPS:
            raise self.fail(f"too much work: evaluating this takes more than {_MAX_STEPS} steps, "
                            "the limit of one evaluation", node)

    def built(self, value: Any, weight: int) -> Any:
        if isinstance(value, _HOLDERS):
            self.weights[id(value)] = (weight, True, value)
        return value

    def weight(self, value: Any, cap: int) -> int:
        """The weight of ``value``, or ``cap + 1`` if it is more than ``cap``."""
        if isinstance(value, str):
            return min(1 + len(value), cap + 1)
        if not isinstance(value, _HOLDERS):
            return 1
        known = self.weights.get(id(value))
        if known is not None and (known[1] or known[0] > cap):
            return min(known[0], cap + 1)
        return self._walk(value, cap)

    def _walk(self, root: Any, cap: int) -> int:
        # frames: [a holder, its items still to count, its weight so far]; ``total`` is the sum
        # of the frames' weights, i.e. what the root weighs at least
        stack: list[list[Any]] = [[root, _items(root), 1]]
        total = 1
        while stack:
            frame = stack[-1]
            for item in frame[1]:
                if isinstance(item, str):
                    weight = 1 + len(item)
                elif isinstance(item, _HOLDERS):
                    known = self.weights.get(id(item))
                    if known is None or not known[1]:
                        if known is not None and total + known[0] > cap:
                            return self._cut(stack, cap)
                        stack.append([item, _items(item), 1])
                        total += 1
                        break
                    weight = known[0]
                else:
                    weight = 1
                frame[2] += weight
                total += weight
                if total > cap:
                    return self._cut(stack, cap)
            else:
                stack.pop()
                holder, weight = frame[0], frame[2]
                if isinstance(holder, (set, frozenset)):  # hashing may compare each member with the others
                    grown = 1 + len(holder) * (weight - 1)
                    total += grown - weight
                    weight = grown
                self.weights[id(holder)] = (weight, True, holder)
                if stack:
                    stack[-1][2] += weight
                if total > cap:
                    return self._cut(stack, cap)
        return total

    def _cut(self, stack: list[list[Any]], cap: int) -> int:
        """A walk passed ``cap``: what it saw is a lower bound of each open holder's weight."""
        below = 0
        for holder, _, weight in reversed(stack):
            below += weight
            known = self.weights.get(id(holder))
            if known is None or known[0] < below:
                self.weights[id(holder)] = (below, False, holder)
        return cap + 1

    def lighter(self, a: Any, b: Any) -> int:
        """The smaller of two weights (capped at what is left), counting no further into the
        heavier than the lighter weighs (times eight)."""
        cap, step = self.left(), 64
        while True:
            step = min(step, cap)
            wa, wb = self.weight(a, step), self.weight(b, step)
            if wa <= step or wb <= step or step >= cap:
                return min(wa, wb)
            step *= 8

    def comparison_cost(self, left: Any, right: Any) -> int:
        """What comparing two str, list, tuple, set or dict values may cost: it stops at the
        lighter of the two (a set or a dict looks each member of one up in the other: both count)."""
        if isinstance(left, str) and isinstance(right, str):
            return 1 + min(len(left), len(right))
        if isinstance(left, _HASHED) or isinstance(right, _HASHED):
            return self.weight(left, self.left()) + self.weight(right, self.left())
        return self.lighter(left, right)

    def lookup_cost(self, item: Any, container: Any) -> int:
        """What looking for ``item`` in ``container`` may cost: a comparison with each member
        (each costing at most the lighter of the two), after hashing ``item`` for a set or dict."""
        if isinstance(container, str):
            return 1 + len(container) + (len(item) if isinstance(item, str) else 0)
        if isinstance(item, str):
            item_weight = 1 + len(item)
        else:
            item_weight = self.weight(item, self.left()) if isinstance(item, _HOLDERS) else 1
        bound = len(container) * item_weight
        if bound > _SMALL:  # else not worth counting more closely
            bound = min(self.weight(container, min(self.left(), bound)), bound)
        return bound + (item_weight if isinstance(container, _HASHED) else 0)

    # -- the nodes -------------------------------------------------------------
    def name(self, node: ast.Name) -> Any:
        if node.id not in self.env:
            raise self.fail(f"name {node.id!r} has no value", node)
        return self.env[node.id]

    def field(self, node: ast.Attribute | ast.Subscript, target: ast.AST, key: str) -> Any:
        document = self.run(target)
        if not isinstance(document, dict):
            raise self.fail(f"cannot read field {key!r} of {_type_name(document)}", node)
        return document.get(key)

    def boolop(self, node: ast.BoolOp) -> Any:
        stop_on = isinstance(node.op, ast.Or)  # `or` stops on a true value, `and` on a false one
        for operand in node.values:
            value = self.run(operand)
            if bool(value) is stop_on:
                return value
        return value

    def unaryop(self, node: ast.UnaryOp) -> Any:
        operand = self.run(node.operand)
        if isinstance(node.op, ast.Not):
            return not operand
        if not isinstance(operand, _NUMBERS):
            raise self.fail(f"cannot apply unary minus/plus to {_type_name(operand)}", node)
        return _UNARY[type(node.op)](self.bounded(operand, node))

    def bounded(self, value: Any, node: ast.AST) -> Any:
        if isinstance(value, int) and abs(value) > _MAX_INT:
            raise self.fail("integer larger than 10**30", node)
        return value

    def binop(self, node: ast.BinOp) -> Any:
        left, right = self.run(node.left), self.run(node.right)
        symbol, function = _BINOPS[type(node.op)]
        if isinstance(left, _NUMBERS) and isinstance(right, _NUMBERS):
            return self.arithmetic(node, function, left, right)
        if symbol == "+" and any(isinstance(left, t) and isinstance(right, t) for t in _SEQS):
            self.sized(len(left) + len(right), node)
            weight = self.weight(left, self.left()) + self.weight(right, self.left()) - 1
            self.charge(weight, node)
            return self.built(left + right, weight)
        if symbol == "*" and isinstance(left, _SEQS) and isinstance(right, int):
            left, right = right, left
        if symbol == "*" and isinstance(right, _SEQS) and isinstance(left, int):
            count = max(self.bounded(left, node), 0)
            self.sized(len(right) * count, node)
            weight = 1 + count * (self.weight(right, self.left() // max(count, 1) + 1) - 1)
            self.charge(weight, node)
            return self.built(right * count, weight)
        types = f"{_type_name(left)} and {_type_name(right)}"
        raise self.fail(f"cannot apply {symbol} to {types}", node)

    def arithmetic(self, node: ast.BinOp, function: Any, left: Any, right: Any) -> Any:
        self.bounded(left, node)
        self.bounded(right, node)
        try:
            return self.bounded(function(left, right), node)
        except ZeroDivisionError:
            raise self.fail("division by zero", node) from None
        except (ArithmeticError, TypeError) as exc:  # e.g. Decimal + float
            raise self.fail(f"cannot compute this ({type(exc).__name__})", node) from None

    def sized(self, length: int, node: ast.AST) -> None:
        if length > _MAX_LENGTH:  # checked before anything is built
            raise self.fail(f"result would be {length} long; the limit is {_MAX_LENGTH}", node)

    def compare(self, node: ast.Compare) -> Any:
        left, result = self.run(node.left), True
        for op, comparator in zip(node.ops, node.comparators):
            right = self.run(comparator)
            membership = isinstance(op, (ast.In, ast.NotIn))
            if membership and not isinstance(right, _CONTAINERS):
                raise self.fail(f"cannot look for a value in {_type_name(right)}", node)
            if membership:
                self.charge(self.lookup_cost(left, right), node)
            elif isinstance(left, _CONTAINERS) and isinstance(right, _CONTAINERS) and not isinstance(op, _IDENTITY):
                self.charge(self.comparison_cost(left, right), node)
            else:
                self.spent += 1  # a number, None...: compared at once (with anything); `is` too
            try:
                result = _COMPARE[type(op)](left, right)
            except TypeError:
                what = "cannot look for {} in {}" if membership else "cannot compare {} with {}"
                message = what.format(_type_name(left), _type_name(right))
                raise self.fail(message, node) from None
            if not result:
                return result
            left = right
        return result

    def make_set(self, node: ast.Set) -> set[Any]:
        members = [self.run(element) for element in node.elts]
        # hashing each member, and comparing it with the members whose hash it shares
        weight = 1 + len(members) * sum(self.weight(member, self.left()) for member in members)
        self.charge(weight, node)
        try:
            return self.built(set(members), weight)
        except TypeError:
            raise self.fail("set members must be hashable values", node) from None


def _items(holder: Any) -> Iterator[Any]:
    """What a holder's weight counts: its members, or a dict's keys and values."""
    return itertools.chain.from_iterable(holder.items()) if isinstance(holder, dict) else iter(holder)


# The whole grammar: node type -> (compile-time check, evaluation).  Anything else is refused.
_C, _E = _Checker, _Evaluation
_WHITELIST: dict[type, tuple[Any, Any]] = {
    ast.Expression: (lambda c, n: c.check(n.body), lambda e, n: e.run(n.body)),
    ast.Constant: (_C.constant, lambda e, n: n.value),
    ast.Name: (_C.name, _E.name),
    ast.Attribute: (
        lambda c, n: c.field(n, n.value, n.attr),
        lambda e, n: e.field(n, n.value, n.attr),
    ),
    ast.Subscript: (
        lambda c, n: c.field(n, n.value, n.slice.value if type(n.slice) is ast.Constant else 0),
        lambda e, n: e.field(n, n.value, n.slice.value),
    ),
    ast.Tuple: (lambda c, n: c.check(*n.elts), lambda e, n: tuple(e.run(x) for x in n.elts)),
    ast.List: (lambda c, n: c.check(*n.elts), lambda e, n: [e.run(x) for x in n.elts]),
    ast.Set: (lambda c, n: c.check(*n.elts), _E.make_set),
    ast.BoolOp: (lambda c, n: c.check(*n.values), _E.boolop),
    ast.UnaryOp: (lambda c, n: c.operation(n, n.operand), _E.unaryop),
    ast.BinOp: (lambda c, n: c.operation(n, n.left, n.right), _E.binop),
    ast.Compare: (lambda c, n: c.check(n.left, *n.comparators), _E.compare),
    ast.IfExp: (
        lambda c, n: c.check(n.test, n.body, n.orelse),
        lambda e, n: e.run(n.body if e.run(n.test) else n.orelse),
    ),
}


class Expression:
    """A checked expression; build it with :func:`compile_expression`."""

    __slots__ = ("_tree", "names", "source")

    def __init__(self, source: str, names: Iterable[str] = _DEFAULT_NAMES) -> None:
        self.source, self.names = source, frozenset(names)
        self._tree = _parse(source)
        _Checker(source, self.names).check(self._tree)

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def evaluate(self, env: dict[str, Any]) -> Any:
        """Evaluate against ``env``; any failure is raised as ExpressionError."""
        try:
            return _Evaluation(self.source, env).run(self._tree)
        except ExpressionError:
            raise
        except Exception as exc:  # a value's own __eq__/__bool__ may raise anything
            message = f"could not evaluate '{self.source[:80]}': {type(exc).__name__}"
            raise ExpressionError(message) from exc


@functools.lru_cache(maxsize=512)
def _compile(source: str, names: frozenset[str]) -> Expression:
    return Expression(source, names)


def compile_expression(
    source: str, names: frozenset[str] | set[str] = _DEFAULT_NAMES
) -> Expression:
    """Parse and check ``source`` once; raise ExpressionError if it is not allowed."""
    if not isinstance(source, str):
        raise ExpressionError(f"an expression must be text, not {_type_name(source)}")
    return _compile(source, frozenset(names))


def validate_expression(source: str, names: frozenset[str] | set[str] = _DEFAULT_NAMES) -> None:
    """Raise ExpressionError if ``source`` is not an allowed expression, or is one that runs out
    of its budget of work even against empty documents (every name an empty dict), whatever they
    hold: an expression whose work depends on the document is only bounded when it runs."""
    expression = compile_expression(source, names)
    trial = _Evaluation(source, {name: {} for name in expression.names})
    try:
        trial.run(expression._tree)
    except Exception:  # noqa: BLE001 — most expressions fail on an empty document; only the budget matters
        if trial.spent > _MAX_STEPS:
            raise ExpressionError(f"too much work: evaluating '{_segment(source, expression._tree.body)}' "
                                  f"takes more than {_MAX_STEPS} steps, the limit of one evaluation") from None


def evaluate(source: str, env: dict[str, Any], names: Iterable[str] | None = None) -> Any:
    """Compile and evaluate ``source``; ``names`` defaults to the keys of ``env``."""
    return compile_expression(source, frozenset(env if names is None else names)).evaluate(env)
