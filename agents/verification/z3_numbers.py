"""Numbers between float64 and z3: a float enters as the exact rational it is, and a value of a
z3 model comes back as a float (an algebraic number, which nonlinear arithmetic can answer with,
through a rational approximation)."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import z3


def rational(value: float, ctx: z3.Context | None = None) -> z3.RatNumRef:
    """The exact rational of a float64 as a z3 real.

    ``z3.RealVal(float)`` goes through ``str(float)``, the shortest decimal that rounds back to the
    float (``0.1`` becomes 1/10), which is a different real number; ``Fraction`` is exact."""
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"z3 needs finite constants, got {value}")
    exact = Fraction(value)
    return z3.RealVal(f"{exact.numerator}/{exact.denominator}", ctx)


def model_number(model: z3.ModelRef, expression: Any, digits: int = 30) -> tuple[str, float]:
    """An expression's value in a model: exact as a string (a rational, or an algebraic number's
    root-obj form) and as a float (an algebraic number through a rational within ``10**-digits``)."""
    value = model.eval(expression, model_completion=True)
    if z3.is_rational_value(value):
        return str(value.as_fraction()), float(value.as_fraction())
    if z3.is_algebraic_value(value):
        return value.sexpr(), float(value.approx(digits).as_fraction())
    raise ValueError(f"z3 returned a value that is not a number: {value}")
