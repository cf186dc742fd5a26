"""agents.lyapunov_discovery.sympy_form: the tokens of every expression the verifier handles come back
equal, and anything outside the grammar is refused by name without being evaluated."""

from __future__ import annotations

import pytest
import sympy

from agents.lyapunov_discovery.sympy_form import parse_tokens, to_tokens

x1, x2 = sympy.symbols("x1 x2", real=True)


@pytest.mark.parametrize("expression", [
    x1**2 + 2 * x1 * x2, -x1, x1 * x2 / 7, sympy.Float(0.1) * sympy.cos(x1) ** 3 - sympy.Rational(1, 3) * sympy.sin(x2),
    sympy.exp(-x2) + x1**4 - sympy.Integer(12345678901234567890), sympy.Float("1e-300") * x1,
    sympy.exp(1) * x1 + (x1 + x2) ** 2 - sympy.cos(x2) + 1,
])
def test_tokens_round_trip(expression):
    tokens = to_tokens(expression)
    assert all(isinstance(token, str) for token in tokens)
    parsed = parse_tokens(tokens, [x1, x2])
    assert parsed == expression and str(parsed) == str(expression) and to_tokens(parsed) == tokens


def test_the_form_is_prefix_with_counts():
    assert to_tokens(x1**2 + 3) == ["add:2", "3", "pow", "x1", "2"]
    assert to_tokens(sympy.Rational(-1, 3) * sympy.sin(x2)) == ["mul:2", "-1/3", "sin", "x2"]


def test_state_symbols_are_taken_by_name():
    plain = sympy.Symbol("x1")  # other assumptions: still the system's state x1
    assert parse_tokens(to_tokens(plain**2), [x1, x2]) == x1**2


@pytest.mark.parametrize("tokens, message", [
    (["__import__('os').system('true')"], "is not allowed in an expression"),
    (["y"], "'y'\\) is not allowed"),
    (["add:2", "x1"], "add needs 2 operands"),
    (["add", "x1", "x2"], "add needs a count"),
    (["add:1", "x1"], "add needs a count"),
    (["sin:2", "x1", "x2"], "sin takes no count"),
    (["x1", "x2"], "form 2 expressions, not one"),
    (["pow", "10", "100000000"], "exponent may be at most"),
    (["1/0"], "denominator 0"),
    (["float:1e5; x"], "is not allowed"),
    (["float:1e999"], "must be finite"),
    (["9" * 5000], "at most 1000 digits"),
    ([], "1 to 100000 tokens"),
    ("Add(Symbol('x1'))", "must be a list of token strings"),
    ([3], "must be a list of token strings"),
])
def test_anything_else_is_refused(tokens, message):
    with pytest.raises(ValueError, match=message):
        parse_tokens(tokens, [x1, x2])


def test_an_unsupported_expression_has_no_tokens():
    with pytest.raises(ValueError, match="has no token"):
        to_tokens(sympy.tan(x1))
