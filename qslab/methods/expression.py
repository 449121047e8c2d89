"""Safe measurement-model expressions: parsed with :mod:`ast`, never passed to ``eval``.

A measurement model (JCGM 100 4.1.1, ``Y = f(X1, ..., XN)``) may be written as a string such as
``"l_s + d - l_s*(delta_alpha*theta + alpha_s*delta_theta)"``. :func:`parse_expression` accepts only
numbers, input names, ``+ - * / **``, unary ``-`` and ``+``, parentheses, the constants ``pi`` and ``e``
and a whitelist of mathematical functions; anything else is rejected with a message naming the
offending token. The parsed :class:`Expression` evaluates on numpy arrays (one call for all Monte Carlo
trials) and differentiates itself symbolically, so the sensitivity coefficients of JCGM 100 5.1.3 and
the higher derivatives of the 5.1.2 note are analytic rather than numerical.

>>> f = parse_expression("a * sqrt(b) + 2", names=["a", "b"])
>>> float(f({"a": 3.0, "b": 4.0}))
8.0
>>> f.derivative("b").text
'a * 0.5 / sqrt(b)'
>>> parse_expression("a.__class__", names=["a"])
Traceback (most recent call last):
...
qslab.methods.expression.ExpressionError: 'a.__class__' is not allowed in a model expression ...
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qslab.methods._validate import MethodInputError

__all__ = ["FUNCTIONS", "Expression", "ExpressionError", "parse_expression", "parse_model"]


class ExpressionError(MethodInputError):
    """A model expression that cannot be parsed or uses something outside the whitelist."""


# name -> (number of arguments, numpy implementation)
FUNCTIONS: dict[str, tuple[int, Callable[..., Any]]] = {
    "sqrt": (1, np.sqrt),
    "exp": (1, np.exp),
    "log": (1, np.log),
    "log10": (1, np.log10),
    "sin": (1, np.sin),
    "cos": (1, np.cos),
    "tan": (1, np.tan),
    "asin": (1, np.arcsin),
    "acos": (1, np.arccos),
    "atan": (1, np.arctan),
    "sinh": (1, np.sinh),
    "cosh": (1, np.cosh),
    "tanh": (1, np.tanh),
    "abs": (1, np.abs),
    "sign": (1, np.sign),
    "atan2": (2, np.arctan2),
    "hypot": (2, np.hypot),
}
CONSTANTS = {"pi": math.pi, "e": math.e}
_ALLOWED_TEXT = (
    "only numbers, input names, + - * / **, unary minus, parentheses, the constants pi and e and the "
    "functions " + ", ".join(FUNCTIONS)
)


# ---------------------------------------------------------------------------------------------------
# Expression tree. Nodes are small immutable tuples: ("num", value), ("var", name), ("neg", a),
# ("add"|"sub"|"mul"|"div"|"pow", a, b), ("call", name, args). Builders fold constants and drop
# zeros and ones so that symbolic derivatives stay small.
# ---------------------------------------------------------------------------------------------------
Node = tuple

_ZERO: Node = ("num", 0.0)
_ONE: Node = ("num", 1.0)


def _num(value: float) -> Node:
    return ("num", float(value))


def _is_num(node: Node, value: float | None = None) -> bool:
    return node[0] == "num" and (value is None or node[1] == value)


def _neg(a: Node) -> Node:
    if _is_num(a):
        return _num(-a[1])
    if a[0] == "neg":
        return a[1]
    return ("neg", a)


def _add(a: Node, b: Node) -> Node:
    if _is_num(a, 0.0):
        return b
    if _is_num(b, 0.0):
        return a
    if _is_num(a) and _is_num(b):
        return _num(a[1] + b[1])
    if b[0] == "neg":
        return _sub(a, b[1])
    return ("add", a, b)


def _sub(a: Node, b: Node) -> Node:
    if _is_num(b, 0.0):
        return a
    if _is_num(a, 0.0):
        return _neg(b)
    if _is_num(a) and _is_num(b):
        return _num(a[1] - b[1])
    if b[0] == "neg":
        return _add(a, b[1])
    return ("sub", a, b)


def _mul(a: Node, b: Node) -> Node:
    if _is_num(a, 0.0) or _is_num(b, 0.0):
        return _ZERO
    if _is_num(a, 1.0):
        return b
    if _is_num(b, 1.0):
        return a
    if _is_num(a, -1.0):
        return _neg(b)
    if _is_num(b, -1.0):
        return _neg(a)
    if _is_num(a) and _is_num(b):
        return _num(a[1] * b[1])
    if a[0] == "neg":
        return _neg(_mul(a[1], b))
    if b[0] == "neg":
        return _neg(_mul(a, b[1]))
    return ("mul", a, b)


def _div(a: Node, b: Node) -> Node:
    if _is_num(a, 0.0) and not _is_num(b, 0.0):
        return _ZERO
    if _is_num(b, 1.0):
        return a
    if _is_num(a) and _is_num(b) and b[1] != 0.0:
        return _num(a[1] / b[1])
    if a[0] == "neg":
        return _neg(_div(a[1], b))
    return ("div", a, b)


def _pow(a: Node, b: Node) -> Node:
    if _is_num(b, 0.0):
        return _ONE
    if _is_num(b, 1.0):
        return a
    if _is_num(a) and _is_num(b):
        try:
            value = a[1] ** b[1]
        except (OverflowError, ZeroDivisionError):
            return ("pow", a, b)
        if isinstance(value, float) and math.isfinite(value):
            return _num(value)
    return ("pow", a, b)


def _call(name: str, *args: Node) -> Node:
    return ("call", name, tuple(args))


def _depends_on(node: Node, name: str) -> bool:
    kind = node[0]
    if kind == "num":
        return False
    if kind == "var":
        return node[1] == name
    if kind == "neg":
        return _depends_on(node[1], name)
    if kind == "call":
        return any(_depends_on(arg, name) for arg in node[2])
    return _depends_on(node[1], name) or _depends_on(node[2], name)


def _diff(node: Node, name: str) -> Node:
    """Symbolic partial derivative of ``node`` with respect to the input ``name``."""
    if not _depends_on(node, name):
        return _ZERO
    kind = node[0]
    if kind == "var":
        return _ONE
    if kind == "neg":
        return _neg(_diff(node[1], name))
    if kind in ("add", "sub"):
        da, db = _diff(node[1], name), _diff(node[2], name)
        return _add(da, db) if kind == "add" else _sub(da, db)
    if kind == "mul":
        a, b = node[1], node[2]
        return _add(_mul(_diff(a, name), b), _mul(a, _diff(b, name)))
    if kind == "div":
        a, b = node[1], node[2]
        if not _depends_on(b, name):
            return _div(_diff(a, name), b)
        return _div(_sub(_mul(_diff(a, name), b), _mul(a, _diff(b, name))), _pow(b, _num(2)))
    if kind == "pow":
        a, b = node[1], node[2]
        if not _depends_on(b, name):  # d(a**n) = n a**(n-1) da
            return _mul(_mul(b, _pow(a, _sub(b, _ONE))), _diff(a, name))
        # d(a**b) = a**b (db ln a + b da / a)
        return _mul(
            node,
            _add(_mul(_diff(b, name), _call("log", a)), _div(_mul(b, _diff(a, name)), a)),
        )
    # function calls
    fname, args = node[1], node[2]
    if fname == "atan2":  # atan2(y, x): (x dy - y dx) / (x**2 + y**2)
        y, x = args
        num = _sub(_mul(x, _diff(y, name)), _mul(y, _diff(x, name)))
        return _div(num, _add(_pow(x, _num(2)), _pow(y, _num(2))))
    if fname == "hypot":  # (x dx + y dy) / hypot(x, y)
        x, y = args
        return _div(_add(_mul(x, _diff(x, name)), _mul(y, _diff(y, name))), node)
    a = args[0]
    da = _diff(a, name)
    outer: Node
    if fname == "sqrt":
        outer = _div(_num(0.5), node)
    elif fname == "exp":
        outer = node
    elif fname == "log":
        outer = _div(_ONE, a)
    elif fname == "log10":
        outer = _div(_ONE, _mul(a, _num(math.log(10.0))))
    elif fname == "sin":
        outer = _call("cos", a)
    elif fname == "cos":
        outer = _neg(_call("sin", a))
    elif fname == "tan":
        outer = _div(_ONE, _pow(_call("cos", a), _num(2)))
    elif fname == "asin":
        outer = _div(_ONE, _call("sqrt", _sub(_ONE, _pow(a, _num(2)))))
    elif fname == "acos":
        outer = _neg(_div(_ONE, _call("sqrt", _sub(_ONE, _pow(a, _num(2))))))
    elif fname == "atan":
        outer = _div(_ONE, _add(_ONE, _pow(a, _num(2))))
    elif fname == "sinh":
        outer = _call("cosh", a)
    elif fname == "cosh":
        outer = _call("sinh", a)
    elif fname == "tanh":
        outer = _sub(_ONE, _pow(node, _num(2)))
    elif fname == "abs":
        outer = _call("sign", a)
    elif fname == "sign":
        outer = _ZERO
    else:  # pragma: no cover - the parser admits only FUNCTIONS
        raise ExpressionError(f"no derivative rule for function {fname!r}")
    return _mul(da, outer) if not _is_num(outer) else _mul(outer, da)


def _substitute(node: Node, definitions: Mapping[str, Node]) -> Node:
    kind = node[0]
    if kind == "num":
        return node
    if kind == "var":
        return definitions.get(node[1], node)
    if kind == "neg":
        return _neg(_substitute(node[1], definitions))
    if kind == "call":
        return ("call", node[1], tuple(_substitute(a, definitions) for a in node[2]))
    builder = {"add": _add, "sub": _sub, "mul": _mul, "div": _div, "pow": _pow}[kind]
    return builder(_substitute(node[1], definitions), _substitute(node[2], definitions))


_PRECEDENCE = {"add": 1, "sub": 1, "mul": 2, "div": 2, "neg": 3, "pow": 4}


def _to_text(node: Node) -> str:
    kind = node[0]
    if kind == "num":
        value = node[1]
        return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if kind == "var":
        return node[1]
    if kind == "call":
        return f"{node[1]}({', '.join(_to_text(a) for a in node[2])})"
    if kind == "neg":
        inner = node[1]
        text = _to_text(inner)
        if (inner[0] in _PRECEDENCE and _PRECEDENCE[inner[0]] < 4) or (_is_num(inner) and inner[1] < 0):
            text = f"({text})"
        return f"-{text}"
    symbol = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}[kind]
    mine = _PRECEDENCE[kind]
    left, right = node[1], node[2]
    left_text, right_text = _to_text(left), _to_text(right)
    left_prec = _PRECEDENCE.get(left[0], 5)
    right_prec = _PRECEDENCE.get(right[0], 5)
    if _is_num(left) and left[1] < 0:
        left_prec = 3
    if _is_num(right) and right[1] < 0:
        right_prec = 3
    if left_prec < mine or (kind == "pow" and left_prec <= mine):
        left_text = f"({left_text})"
    if right_prec < mine or (right_prec == mine and kind in ("sub", "div")):
        right_text = f"({right_text})"
    if kind == "pow":
        return f"{left_text}**{right_text}"
    return f"{left_text} {symbol} {right_text}"


def _compile(node: Node) -> Callable[[Mapping[str, Any]], Any]:
    """Turn a tree into nested closures over numpy functions (vectorised, no ``eval``)."""
    kind = node[0]
    if kind == "num":
        value = node[1]
        return lambda env: value
    if kind == "var":
        name = node[1]
        return lambda env: env[name]
    if kind == "neg":
        inner = _compile(node[1])
        return lambda env: np.negative(inner(env))
    if kind == "call":
        func = FUNCTIONS[node[1]][1]
        parts = [_compile(a) for a in node[2]]
        if len(parts) == 1:
            (only,) = parts
            return lambda env: func(only(env))
        first, second = parts
        return lambda env: func(first(env), second(env))
    ufunc = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power}[kind]
    left, right = _compile(node[1]), _compile(node[2])
    if kind == "pow" and _is_num(node[2]) and node[2][1] == 2.0:
        return lambda env: np.square(left(env))
    return lambda env: ufunc(left(env), right(env))


def _names_in(node: Node, found: dict[str, None]) -> None:
    kind = node[0]
    if kind == "var":
        found.setdefault(node[1], None)
    elif kind == "neg":
        _names_in(node[1], found)
    elif kind == "call":
        for arg in node[2]:
            _names_in(arg, found)
    elif kind != "num":
        _names_in(node[1], found)
        _names_in(node[2], found)


@dataclass(frozen=True, eq=False)
class Expression:
    """A parsed measurement model ``f(X1, ..., XN)`` (JCGM 100 4.1.1) that evaluates on numpy arrays.

    ``names`` are the input quantities the expression uses, in order of first appearance. Call it with a
    mapping from names to floats or equally shaped arrays; the result has their broadcast shape.
    """

    text: str
    names: tuple[str, ...]
    node: Node = field(repr=False)
    _func: Callable[[Mapping[str, Any]], Any] = field(repr=False)

    @classmethod
    def from_node(cls, node: Node) -> Expression:
        found: dict[str, None] = {}
        _names_in(node, found)
        return cls(text=_to_text(node), names=tuple(found), node=node, _func=_compile(node))

    def __call__(self, values: Mapping[str, Any]) -> np.ndarray:
        with np.errstate(all="ignore"):  # callers check the result for non-finite values
            return np.asarray(self._func(values), dtype=float)

    def derivative(self, name: str) -> Expression:
        """The partial derivative with respect to ``name``: an analytic sensitivity coefficient
        (JCGM 100 5.1.3, c_i = df/dx_i)."""
        return Expression.from_node(_diff(self.node, name))

    @property
    def is_constant(self) -> bool:
        return self.node[0] == "num"


# ---------------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------------
_BINOPS: dict[type, Callable[[Node, Node], Node]] = {
    ast.Add: _add,
    ast.Sub: _sub,
    ast.Mult: _mul,
    ast.Div: _div,
    ast.Pow: _pow,
}


class _Converter:
    def __init__(self, text: str, names: Iterable[str] | None) -> None:
        self.text = text
        self.names = None if names is None else list(names)

    def segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.text, node) or type(node).__name__

    def reject(self, node: ast.AST, what: str | None = None) -> ExpressionError:
        token = what or self.segment(node)
        return ExpressionError(f"{token!r} is not allowed in a model expression ({_ALLOWED_TEXT})")

    def convert(self, node: ast.AST) -> Node:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise self.reject(node)
            return _num(float(node.value))
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return _neg(self.convert(node.operand))
            if isinstance(node.op, ast.UAdd):
                return self.convert(node.operand)
            raise self.reject(node)
        if isinstance(node, ast.BinOp):
            builder = _BINOPS.get(type(node.op))
            if builder is None:
                if isinstance(node.op, ast.BitXor):
                    raise ExpressionError(
                        f"'^' in {self.segment(node)!r} is not allowed in a model expression; "
                        "write powers with **"
                    )
                raise self.reject(node)
            return builder(self.convert(node.left), self.convert(node.right))
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.reject(node)

    def name(self, node: ast.Name) -> Node:
        name = node.id
        if self.names is not None and name in self.names:
            return ("var", name)
        if name in CONSTANTS:
            return _num(CONSTANTS[name])
        if name in FUNCTIONS:
            raise ExpressionError(f"function {name!r} is used without an argument in a model expression")
        if self.names is None:
            if name.startswith("_"):
                raise self.reject(node)
            return ("var", name)
        known = ", ".join(self.names) if self.names else "none"
        raise ExpressionError(f"unknown name {name!r} in model expression; the inputs are: {known}")

    def call(self, node: ast.Call) -> Node:
        if not isinstance(node.func, ast.Name):
            raise self.reject(node.func)
        fname = node.func.id
        if fname not in FUNCTIONS:
            raise ExpressionError(
                f"unknown function {fname!r} in model expression; allowed: {', '.join(FUNCTIONS)}"
            )
        if node.keywords:
            raise self.reject(node.keywords[0], f"{fname}(... {self.segment(node.keywords[0])})")
        arity = FUNCTIONS[fname][0]
        if len(node.args) != arity:
            plural = "argument" if arity == 1 else "arguments"
            raise ExpressionError(f"function {fname!r} takes {arity} {plural}, got {len(node.args)}")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.reject(arg)
        args = tuple(self.convert(a) for a in node.args)
        if all(_is_num(a) for a in args):
            with np.errstate(all="ignore"):
                value = float(FUNCTIONS[fname][1](*(a[1] for a in args)))
            if math.isfinite(value):
                return _num(value)
        return ("call", fname, args)


def _parse_node(text: str, names: Iterable[str] | None) -> Node:
    if not isinstance(text, str):
        raise ExpressionError(f"a model expression must be a string, got {type(text).__name__}")
    source = text.strip()
    if not source:
        raise ExpressionError("the model expression is empty")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        raise ExpressionError(f"cannot parse model expression {source!r}: {exc.msg}{where}") from None
    return _Converter(source, names).convert(tree.body)


def parse_expression(text: str, names: Iterable[str] | None = None) -> Expression:
    """Parse ``text`` into an :class:`Expression`.

    ``names`` lists the allowed input names; a name outside it (and not ``pi`` or ``e``) is an error
    naming it. Without ``names`` every identifier not starting with ``_`` is taken as an input.
    """
    return Expression.from_node(_parse_node(text, names))


def parse_model(
    model: str | Mapping[str, str], names: Iterable[str], output: str = "y"
) -> dict[str, Expression]:
    """Parse a model of one or several outputs (JCGM 100 4.1.1, several outputs as in H.2).

    ``model`` is one expression (its output is called ``output``) or a mapping from output names to
    expressions in order; an expression may use the outputs defined before it (they are substituted,
    so the derivatives account for them).
    """
    names = list(names)
    if isinstance(model, str):
        return {output: parse_expression(model, names)}
    if not isinstance(model, Mapping) or not model:
        raise ExpressionError("the model must be an expression string or a mapping of outputs to expressions")
    defined: dict[str, Node] = {}
    parsed: dict[str, Expression] = {}
    for out_name, text in model.items():
        if not isinstance(out_name, str) or not out_name.isidentifier():
            raise ExpressionError(f"output name {out_name!r} is not a valid name")
        if out_name in names:
            raise ExpressionError(f"output {out_name!r} has the same name as an input")
        node = _parse_node(text, [*names, *defined])
        node = _substitute(node, defined)
        defined[out_name] = node
        parsed[out_name] = Expression.from_node(node)
    return parsed
