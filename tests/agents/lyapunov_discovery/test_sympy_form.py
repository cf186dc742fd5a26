"""agents.lyapunov_discovery.sympy_form: the srepr of every expression the verifier handles comes back
equal, and anything outside the grammar is refused without being evaluated."""

from __future__ import annotations

import pytest
import sympy

from agents.lyapunov_discovery.sympy_form import parse_srepr

x1, x2 = sympy.symbols("x1 x2", real=True)


@pytest.mark.parametrize("expression", [
    x1**2 + 2 * x1 * x2, -x1, x1 * x2 / 7, sympy.Float(0.1) * sympy.cos(x1) ** 3 - sympy.Rational(1, 3) * sympy.sin(x2),
    sympy.exp(-x2) + x1**4 - sympy.Integer(12345678901234567890), sympy.Float("1e-300") * x1,
])
def test_srepr_round_trips(expression):
    text = sympy.srepr(expression)
    parsed = parse_srepr(text, [x1, x2])
    assert parsed == expression and sympy.srepr(parsed) == text


def test_state_symbols_are_taken_by_name():
    plain = sympy.Symbol("x1")  # other assumptions: still the system's state x1
    assert parse_srepr(sympy.srepr(plain**2), [x1, x2]) == x1**2


@pytest.mark.parametrize("text, message", [
    ("__import__('os').system('true')", "is not allowed"),
    ("Symbol('x1').subs(1, 2)", "is not allowed"),
    ("Integer(1) + Integer(2)", "is not allowed"),
    ("x1", "is not allowed"),
    ("Symbol('y', real=True)", "names 'y', which is not a state"),
    ("Symbol('x1', real=print)", "a symbol is Symbol"),
    ("Float('1e5; x', precision=53)", "a Float is Float"),
    ("Pow(Integer(10), Integer(100000000))", "exponent may be at most"),
    ("Rational(1, 0)", "denominator 0"),
    ("sin(Symbol('x1'), Symbol('x2'))", "sin takes 1"),
    ("Add(", "is not srepr text"),
    (3, "must be srepr text"),
])
def test_anything_else_is_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_srepr(text, [x1, x2])
