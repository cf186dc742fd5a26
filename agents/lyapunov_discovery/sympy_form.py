"""SymPy expressions as token sequences, the form a certificate stores its V in: a JSON list of strings,
the expression tree in prefix order, read back without evaluating any text.

Tokens: ``add:<n>`` and ``mul:<n>`` (n >= 2 operands), ``pow`` (base, exponent), ``sin``, ``cos``,
``exp`` (one operand); a state's name (``x1``); an integer (``-12``), a rational (``1/3``) or a float
(``float:<decimal>``, read as a float64). :func:`to_tokens` writes them; :func:`parse_tokens` rebuilds
the expression from a stack, one token at a time, with the system's own state symbols, and refuses
anything else -- another name, a malformed number, a wrong count of operands, a power above
:data:`MAX_POWER`, a sequence that is not one complete tree -- with a ValueError naming the token.
Nothing is parsed as code: no ``sympify``, ``parse_expr`` or ``eval``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
INTEGER = re.compile(r"[+-]?\d+")
RATIONAL = re.compile(r"([+-]?\d+)/(\d+)")
MAX_TOKENS = 100_000  # a certificate's V is far shorter
MAX_DIGITS = 1000  # digits of one integer
MAX_POWER = 1000  # SymPy expands a number to a power at once: a larger exponent is refused, not computed
FIXED_ARITY = {"pow": 2, "sin": 1, "cos": 1, "exp": 1}


def to_tokens(expression: Any) -> list[str]:
    """The token sequence of ``expression`` (numbers, symbols, +, *, powers, sin, cos, exp); a
    ValueError for anything else."""
    import sympy

    tokens: list[str] = []
    stack = [expression]
    while stack:
        node = stack.pop()
        if node is sympy.E:
            node = sympy.exp(sympy.Integer(1), evaluate=False)
        if isinstance(node, sympy.Symbol):
            tokens.append(node.name)
            continue
        if isinstance(node, sympy.Integer):
            tokens.append(str(int(node)))
            continue
        if isinstance(node, sympy.Rational):
            tokens.append(f"{node.p}/{node.q}")
            continue
        if isinstance(node, sympy.Float):
            tokens.append(f"float:{float(node)!r}")
            continue
        if isinstance(node, (sympy.Add, sympy.Mul)):
            tokens.append(f"{'add' if isinstance(node, sympy.Add) else 'mul'}:{len(node.args)}")
        elif isinstance(node, sympy.Pow):
            tokens.append("pow")
        elif isinstance(node, (sympy.sin, sympy.cos, sympy.exp)):
            tokens.append(type(node).__name__)
        else:
            raise ValueError(f"{node} ({type(node).__name__}) has no token; allowed: numbers, states, +, *, "
                             f"powers, sin, cos, exp")
        stack.extend(reversed(node.args))
    return tokens


def parse_tokens(tokens: Any, symbols: Sequence[Any]) -> Any:
    """The SymPy expression the prefix ``tokens`` stand for, with its symbols taken from ``symbols`` by
    name; a ValueError naming what is not allowed (see the module docstring)."""
    import sympy

    by_name = {str(symbol): symbol for symbol in symbols}
    functions = {"add": sympy.Add, "mul": sympy.Mul, "pow": sympy.Pow, "sin": sympy.sin, "cos": sympy.cos,
                 "exp": sympy.exp}
    if not isinstance(tokens, list) or not all(isinstance(token, str) for token in tokens):
        raise ValueError("an expression must be a list of token strings (a certificate of version 3 or later)")
    if not 1 <= len(tokens) <= MAX_TOKENS:
        raise ValueError(f"an expression has 1 to {MAX_TOKENS} tokens, got {len(tokens)}")
    stack: list[Any] = []
    for position in range(len(tokens) - 1, -1, -1):  # prefix read from the end: operands are on the stack
        token = tokens[position]
        name, _, count = token.partition(":")
        where = f"token {position} ({token[:40]!r})"
        if name in functions:
            if name in FIXED_ARITY:
                if count:
                    raise ValueError(f"{where}: {name} takes no count")
                arity = FIXED_ARITY[name]
            else:
                if not (count.isdigit() and len(count) <= 6 and int(count) >= 2):
                    raise ValueError(f"{where}: {name} needs a count of operands >= 2 ({name}:2)")
                arity = int(count)
            if len(stack) < arity:
                raise ValueError(f"{where}: {name} needs {arity} operands, the sequence holds {len(stack)} after it")
            operands = [stack.pop() for _ in range(arity)]
            if name == "pow" and operands[1].is_Number and abs(operands[1]) > MAX_POWER:
                raise ValueError(f"{where}: a power's exponent may be at most {MAX_POWER}, got {operands[1]}")
            stack.append(functions[name](*operands))
        elif token in by_name:
            stack.append(by_name[token])
        else:
            stack.append(_number(token, where, by_name))
    if len(stack) != 1:
        raise ValueError(f"the tokens form {len(stack)} expressions, not one")
    return stack[0]


def _number(token: str, where: str, by_name: dict[str, Any]) -> Any:
    import sympy

    if len(token) > MAX_DIGITS + 8:
        raise ValueError(f"{where}: a number of at most {MAX_DIGITS} digits is allowed")
    if INTEGER.fullmatch(token):
        return sympy.Integer(int(token))
    rational = RATIONAL.fullmatch(token)
    if rational:
        if int(rational.group(2)) == 0:
            raise ValueError(f"{where}: a rational with denominator 0")
        return sympy.Rational(int(rational.group(1)), int(rational.group(2)))
    if token.startswith("float:") and DECIMAL.fullmatch(token[6:]):
        value = float(token[6:])
        if value in (float("inf"), float("-inf")):
            raise ValueError(f"{where}: a float must be finite in float64")
        return sympy.Float(value)
    raise ValueError(f"{where} is not allowed in an expression (allowed: add:<n>, mul:<n>, pow, sin, cos, exp, "
                     f"the states {', '.join(by_name)}, integers, p/q, float:<decimal>)")
