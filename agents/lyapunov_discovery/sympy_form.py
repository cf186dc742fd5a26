"""SymPy expressions read back from text without evaluating it: a strict parser of the ``srepr``
forms certificates store (``Add(Pow(Symbol('x1', real=True), Integer(2)), ...)``).

The text is parsed into Python's syntax tree (:func:`ast.parse`, which runs nothing) and rebuilt
node by node from an allow-list: ``Add``, ``Mul``, ``Pow``, ``sin``, ``cos``, ``exp`` of
expressions; ``Symbol('<state name>', <assumption>=True|False)`` for the system's own state
symbols; ``Integer(n)``, ``Rational(p, q)`` and ``Float('<decimal>', precision=n)``. Anything else
(another call, an attribute, a name, an operator) is refused with a ValueError naming it;
``sympy.sympify``, ``parse_expr`` and ``eval`` are never used on such text.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from typing import Any

DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
MAX_LENGTH = 1_000_000  # characters of srepr text: a certificate's V is far shorter
MAX_POWER = 1000  # SymPy expands a number to a power at once: a larger exponent is refused, not computed


def parse_srepr(text: Any, symbols: Sequence[Any]) -> Any:
    """The SymPy expression ``text`` (an ``srepr``) stands for, with its symbols taken from
    ``symbols`` by name; a ValueError naming what is not allowed (see the module docstring)."""
    import sympy

    functions = {"Add": (sympy.Add, None), "Mul": (sympy.Mul, None), "Pow": (sympy.Pow, 2),
                 "sin": (sympy.sin, 1), "cos": (sympy.cos, 1), "exp": (sympy.exp, 1)}
    by_name = {str(symbol): symbol for symbol in symbols}
    if not isinstance(text, str):
        raise ValueError(f"an expression must be srepr text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"the expression has {len(text)} characters, more than {MAX_LENGTH}")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError) as error:
        raise ValueError(f"the expression {text[:80]!r} is not srepr text: {error}") from None

    def integer(node: ast.AST) -> int:
        negative = isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
        literal = node.operand if negative else node
        if not (isinstance(literal, ast.Constant) and type(literal.value) is int):
            raise ValueError(f"an integer is needed, got {ast.unparse(node)[:80]!r}")
        return -literal.value if negative else literal.value

    def build(node: ast.AST) -> Any:
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            raise ValueError(f"{ast.unparse(node)[:80]!r} is not allowed in an expression (allowed: "
                             f"{', '.join([*functions, 'Symbol', 'Integer', 'Rational', 'Float'])} calls)")
        name, args, keywords = node.func.id, node.args, {k.arg: k.value for k in node.keywords}
        if name in functions:
            function, arity = functions[name]
            if keywords or (arity is not None and len(args) != arity) or not args:
                raise ValueError(f"{name} takes {arity or 'one or more'} expressions, got {ast.unparse(node)[:80]!r}")
            operands = [build(arg) for arg in args]
            if name == "Pow" and operands[1].is_Number and abs(operands[1]) > MAX_POWER:
                raise ValueError(f"a power's exponent may be at most {MAX_POWER}, got {operands[1]}")
            return function(*operands)
        if name == "Symbol":
            if (len(args) != 1 or not isinstance(args[0], ast.Constant) or not isinstance(args[0].value, str)
                    or not all(isinstance(v, ast.Constant) and isinstance(v.value, bool) for v in keywords.values())):
                raise ValueError(f"a symbol is Symbol('<name>', <assumption>=True), got {ast.unparse(node)[:80]!r}")
            if args[0].value not in by_name:
                raise ValueError(f"the expression names {args[0].value!r}, which is not a state "
                                 f"({', '.join(by_name)})")
            return by_name[args[0].value]
        if name == "Integer" and len(args) == 1 and not keywords:
            return sympy.Integer(integer(args[0]))
        if name == "Rational" and len(args) == 2 and not keywords:
            numerator, denominator = integer(args[0]), integer(args[1])
            if denominator == 0:
                raise ValueError("a Rational with denominator 0")
            return sympy.Rational(numerator, denominator)
        if name == "Float" and len(args) == 1 and set(keywords) <= {"precision"}:
            digits = args[0]
            if not (isinstance(digits, ast.Constant) and isinstance(digits.value, str)
                    and DECIMAL.fullmatch(digits.value)):
                raise ValueError(f"a Float is Float('<decimal>', precision=<bits>), got {ast.unparse(node)[:80]!r}")
            precision = integer(keywords["precision"]) if "precision" in keywords else 53
            if not 1 <= precision <= 4096:
                raise ValueError(f"a Float's precision must be 1 to 4096 bits, got {precision}")
            return sympy.Float(digits.value, precision=precision)
        raise ValueError(f"{ast.unparse(node)[:80]!r} is not allowed in an expression")

    try:
        return build(tree)
    except RecursionError:
        raise ValueError("the expression is nested too deeply") from None
