"""Sound verification of a symbolic Lyapunov function by interval branch and bound.

The claim checked for ``V`` (SymPy) and an autonomous system ``dx/dt = f(x)`` (its SymPy form) on a box
``B`` minus a ball ``|x|_inf <= r`` around the equilibrium 0:

    V(x) > 0   and   dV/dt(x) = grad V(x) . f(x) < 0.

``dV/dt`` is differentiated exactly by SymPy. Each box of a queue gets interval enclosures of ``V`` and
``dV/dt`` (interval arithmetic over the expression tree, every operation rounded outward by ``np.nextafter``
so floating-point error cannot make a bound unsound). A box is *verified* when ``V``'s lower bound is > 0
and ``dV/dt``'s upper bound is < 0, *excluded* when it lies inside the ball, *falsified* when its centre
(evaluated in float64) breaks a condition -- a concrete counterexample -- and otherwise split in two along
its widest side, up to ``max_depth`` splits (a *timeout*). The claim holds when no box is falsified and
none timed out. Boxes are processed in batches (numpy arrays over boxes).

For polynomial ``V`` and dynamics, :func:`verify_polynomial_z3` asks z3 the same question in exact real
arithmetic.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.lyapunov_discovery.region import region_around_origin

SUPPORTED = "numbers, state symbols, +, *, integer powers >= 0, sin, cos, exp"


def _down(x: np.ndarray, ulps: int = 1) -> np.ndarray:
    for _ in range(ulps):
        x = np.nextafter(x, -np.inf)
    return x


def _up(x: np.ndarray, ulps: int = 1) -> np.ndarray:
    for _ in range(ulps):
        x = np.nextafter(x, np.inf)
    return x


def _mul(a: tuple, b: tuple) -> tuple:
    products = np.stack([a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]])
    return _down(products.min(0)), _up(products.max(0))


def _power(a: tuple, n: int) -> tuple:
    lo, hi = a
    if n == 0:
        return np.ones_like(lo), np.ones_like(hi)
    low_n, high_n = lo**n, hi**n
    if n % 2:  # odd: monotone
        return _down(low_n), _up(high_n)
    contains_zero = (lo <= 0) & (hi >= 0)
    bottom = np.where(contains_zero, 0.0, np.minimum(low_n, high_n))
    return np.where(contains_zero, 0.0, _down(bottom)), _up(np.maximum(low_n, high_n))


def _sin(a: tuple) -> tuple:
    lo, hi = a
    values = np.stack([np.sin(lo), np.sin(hi)])
    low, high = _down(values.min(0), 2), _up(values.max(0), 2)
    # an interior maximum (pi/2 + 2k pi) or minimum (-pi/2 + 2k pi) replaces the endpoint bound
    peak = np.pi / 2 + 2 * np.pi * np.ceil((lo - np.pi / 2) / (2 * np.pi))
    trough = -np.pi / 2 + 2 * np.pi * np.ceil((lo + np.pi / 2) / (2 * np.pi))
    high = np.where(peak <= hi + 1e-12, 1.0, high)
    low = np.where(trough <= hi + 1e-12, -1.0, low)
    return np.clip(low, -1.0, 1.0), np.clip(high, -1.0, 1.0)


def interval(expression: Any, symbols: list, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An enclosure (lower, upper) of ``expression`` over each box ``[low[i], high[i]]`` (arrays (B, n))."""
    import sympy

    index = {symbol: k for k, symbol in enumerate(symbols)}

    def bound(node: Any) -> tuple:
        if node.is_Symbol:
            if node not in index:
                raise ValueError(f"symbol {node} is not a state of the system ({', '.join(map(str, symbols))})")
            return low[:, index[node]], high[:, index[node]]
        if node.is_Number:
            value = np.full(len(low), float(node))
            return _down(value), _up(value)
        if node.is_Add:
            lo, hi = bound(node.args[0])
            for arg in node.args[1:]:
                a = bound(arg)
                lo, hi = _down(lo + a[0]), _up(hi + a[1])
            return lo, hi
        if node.is_Mul:
            result = bound(node.args[0])
            for arg in node.args[1:]:
                result = _mul(result, bound(arg))
            return result
        if node.is_Pow and node.exp.is_Integer and int(node.exp) >= 0:
            return _power(bound(node.base), int(node.exp))
        if isinstance(node, sympy.sin):
            return _sin(bound(node.args[0]))
        if isinstance(node, sympy.cos):  # cos(x) = sin(x + pi/2)
            lo, hi = bound(node.args[0])
            return _sin((_down(lo + np.pi / 2), _up(hi + np.pi / 2)))
        if isinstance(node, sympy.exp):
            lo, hi = bound(node.args[0])
            return _down(np.exp(lo), 2), _up(np.exp(hi), 2)
        raise ValueError(f"the verifier bounds {SUPPORTED}; not {node.func.__name__} in {node}")

    lo, hi = bound(sympy.sympify(expression))
    return np.broadcast_to(lo, (len(low),)).astype(float), np.broadcast_to(hi, (len(low),)).astype(float)


def symbolic_derivative(V: Any, symbols: list, rhs: list) -> Any:
    """``dV/dt = grad V . f`` in SymPy, expanded."""
    import sympy

    return sympy.expand(sum(sympy.diff(V, s) * f for s, f in zip(symbols, rhs)))


@dataclass
class VerificationResult:
    """The outcome: ``holds``, the counts of verified / falsified / timed-out / excluded boxes, a concrete
    counterexample when one was found, and the wall time."""

    holds: bool
    verified: int
    falsified: int
    timeouts: int
    excluded: int
    counterexample: np.ndarray | None
    wall_s: float


def verify(V: Any, symbols: list, rhs: list, low: Any, high: Any, ball: float = 0.05, max_depth: int = 30,
           batch: int = 4096) -> VerificationResult:
    """Prove ``V > 0`` and ``dV/dt < 0`` on the box [low, high] outside ``|x|_inf <= ball * (high - low) / 2``
    (see the module docstring); ``symbols`` and ``rhs`` are the system's SymPy form (``symbolic_f()``)."""
    import sympy

    started = time.perf_counter()
    low, high, radius = region_around_origin(low, high, ball)
    derivative = symbolic_derivative(V, symbols, rhs)
    value_at_centre = sympy.lambdify(symbols, V, "numpy")
    derivative_at_centre = sympy.lambdify(symbols, derivative, "numpy")
    boxes = (low[None, :], high[None, :], np.zeros(1, dtype=int))
    verified = falsified = timeouts = excluded = 0
    counterexample = None
    while len(boxes[0]):
        lo, hi, depth = (part[:batch] for part in boxes)
        rest = tuple(part[batch:] for part in boxes)
        inside_ball = np.all((lo >= -radius) & (hi <= radius), axis=1)
        v_low, _ = interval(V, symbols, lo, hi)
        _, d_high = interval(derivative, symbols, lo, hi)
        proved = ~inside_ball & (v_low > 0) & (d_high < 0)
        centre = (lo + hi) / 2
        outside = np.any(np.abs(centre) > radius, axis=1)
        with np.errstate(all="ignore"):
            centre_v = np.broadcast_to(value_at_centre(*centre.T), (len(lo),))
            centre_d = np.broadcast_to(derivative_at_centre(*centre.T), (len(lo),))
        broken = ~inside_ball & ~proved & outside & ((centre_v <= 0) | (centre_d >= 0))
        if broken.any() and counterexample is None:
            counterexample = centre[np.flatnonzero(broken)[0]]
        open_ = ~inside_ball & ~proved & ~broken
        too_deep = open_ & (depth >= max_depth)
        verified += int(proved.sum())
        excluded += int(inside_ball.sum())
        falsified += int(broken.sum())
        timeouts += int(too_deep.sum())
        split = open_ & ~too_deep
        lo, hi, depth = lo[split], hi[split], depth[split]
        axis = np.argmax((hi - lo) / (high - low), axis=1)
        middle = (lo[np.arange(len(lo)), axis] + hi[np.arange(len(lo)), axis]) / 2
        left_hi, right_lo = hi.copy(), lo.copy()
        left_hi[np.arange(len(lo)), axis] = middle
        right_lo[np.arange(len(lo)), axis] = middle
        boxes = (np.concatenate([rest[0], lo, right_lo]), np.concatenate([rest[1], left_hi, hi]),
                 np.concatenate([rest[2], depth + 1, depth + 1]))
        if falsified:  # a concrete counterexample settles it
            break
    return VerificationResult(falsified == 0 and timeouts == 0, verified, falsified, timeouts, excluded,
                              counterexample, time.perf_counter() - started)


def verify_polynomial_z3(V: Any, symbols: list, rhs: list, low: Any, high: Any, ball: float = 0.05,
                         timeout_s: float = 20.0) -> tuple[str, np.ndarray | None]:
    """The same claim as :func:`verify`, asked of z3 in exact real arithmetic when ``V`` and the dynamics
    are polynomials: is there an ``x`` in the box, outside the ball, with ``V(x) <= 0`` or ``dV/dt >= 0``?
    Returns ("proved", None) for unsat, ("refuted", x) with z3's counterexample for sat, ("unknown", None)
    when z3 gives up or runs out of time. Non-polynomial input raises ValueError (use :func:`verify`)."""
    import sympy
    import z3

    derivative = symbolic_derivative(V, symbols, rhs)
    for name, expression in (("V", V), ("dV/dt", derivative)):
        if not sympy.sympify(expression).is_polynomial(*symbols):
            raise ValueError(f"z3 proves polynomial claims only; {name} = {expression} is not a polynomial in "
                             f"{', '.join(map(str, symbols))} (use verify, the interval branch and bound)")
    low, high, radius = region_around_origin(low, high, ball)
    variables = [z3.Real(str(s)) for s in symbols]

    def encode(expression: Any) -> Any:
        poly = sympy.Poly(sympy.expand(expression), *symbols)
        total = z3.RealVal(0)
        for monomial, coefficient in poly.terms():
            term = z3.RealVal(str(sympy.Rational(coefficient)))
            for variable, power in zip(variables, monomial):
                for _ in range(power):
                    term = term * variable
            total = total + term
        return total

    def exact(value: float) -> Any:
        return z3.RealVal(str(sympy.Rational(value)))

    solver = z3.Solver()
    solver.set("timeout", int(timeout_s * 1000))
    for variable, lo, hi, r in zip(variables, low, high, radius):
        solver.add(variable >= exact(lo), variable <= exact(hi))
    solver.add(z3.Or(*[z3.Or(v > exact(r), v < -exact(r)) for v, r in zip(variables, radius)]))
    solver.add(z3.Or(encode(V) <= 0, encode(derivative) >= 0))
    answer = solver.check()
    if answer == z3.unsat:
        return "proved", None
    if answer == z3.sat:
        model = solver.model()

        def number(value: Any) -> float:  # nonlinear models may hold algebraic numbers: a rational close to them
            return float((value.approx(20) if z3.is_algebraic_value(value) else value).as_fraction())

        return "refuted", np.array([number(model.eval(v, model_completion=True)) for v in variables])
    return "unknown", None
