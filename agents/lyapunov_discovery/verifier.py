"""Sound verification of a symbolic Lyapunov function by interval branch and bound.

The claim checked for ``V`` (SymPy) and an autonomous system ``dx/dt = f(x)`` (its SymPy form) on a box
``B`` minus a ball ``|x|_inf <= r`` around the equilibrium 0:

    V(x) > 0   and   dV/dt(x) = grad V(x) . f(x) < 0       (strict decrease: asymptotic stability)
                  or dV/dt(x) <= 0                            (weak decrease: stability in Lyapunov's sense).

``dV/dt`` is differentiated exactly by SymPy. Each box of a queue gets interval enclosures of ``V`` and
``dV/dt``: interval arithmetic over the expression tree, every operation rounded outward by
``np.nextafter`` so floating-point error cannot make a bound unsound; sums and products are rounded only
in the direction their exact error points (known from the error-free transforms TwoSum and TwoProduct),
so exact results stay exact and a weak decrease that is exactly 0, as ``-omega^2`` on ``omega = 0``, can
be proved. ``dV/dt`` is bounded in two algebraically equal forms, expanded and factored, and the tighter
upper bound kept (``2 (x1^2 - 1) x2^2`` is provably <= 0 for |x1| <= 1; its expansion is not).

A box is *verified* when ``V``'s lower bound is > 0 and ``dV/dt``'s upper bound is < 0 (strict) or <= 0
(weak), *excluded* when it lies inside the ball, *falsified* when its centre (evaluated in float64)
breaks a condition -- a concrete counterexample -- and otherwise split in two along its widest side, up
to ``max_depth`` splits (a *timeout*). The claim holds when no box is falsified and
none timed out. Boxes are processed in batches (numpy arrays over boxes).

For polynomial ``V`` and dynamics, :func:`verify_polynomial_z3` asks z3 the same question in exact real
arithmetic.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.lyapunov_discovery.falsifier import decrease_margin
from agents.lyapunov_discovery.region import region_around_origin
from agents.verification.boxes import BoxQueue, Budget

SUPPORTED = "numbers, state symbols, +, *, integer powers >= 0, sin, cos, exp"
FACTOR_LIMIT = 300  # operations in dV/dt above which its factored form is not tried
EXPANSION_LIMIT = 1000  # ... and above which its expansion is not bounded either


def _down(x: np.ndarray, ulps: int = 1) -> np.ndarray:
    for _ in range(ulps):
        x = np.nextafter(x, -np.inf)
    return x


def _up(x: np.ndarray, ulps: int = 1) -> np.ndarray:
    for _ in range(ulps):
        x = np.nextafter(x, np.inf)
    return x


SPLITTER = 134217729.0  # 2^27 + 1: Veltkamp's split of a float64 into two 26-bit halves
SAFE = 2.0**500  # within this magnitude (and with products above TINY) the error-free transforms are exact
TINY = 2.0**-900


def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(s, e) with ``s = fl(a + b)`` and ``a + b = s + e`` exactly (Knuth's TwoSum)."""
    s = a + b
    virtual_b = s - a
    return s, (a - (s - virtual_b)) + (b - virtual_b)


def _two_product(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p, e) with ``p = fl(a b)`` and ``a b = p + e`` exactly in the safe range (Dekker's TwoProduct)."""
    def split(x):
        c = SPLITTER * x
        high = c - (c - x)
        return high, x - high

    p = a * b
    (ah, al), (bh, bl) = split(a), split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _directed(value: np.ndarray, error: np.ndarray, exact_error: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds (lower, upper) of ``value + error``: the float itself on the side the rounding did not cross,
    one ulp outward on the side it did, or on both when the error is not known exactly."""
    lower = np.where(exact_error & (error >= 0), value, _down(value))
    upper = np.where(exact_error & (error <= 0), value, _up(value))
    return lower, upper


def _add(a: tuple, b: tuple) -> tuple:
    (lo, lo_error), (hi, hi_error) = _two_sum(a[0], b[0]), _two_sum(a[1], b[1])
    return _directed(lo, lo_error, np.isfinite(lo))[0], _directed(hi, hi_error, np.isfinite(hi))[1]


def _product(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the real product ``x y``."""
    p, error = _two_product(x, y)
    with np.errstate(invalid="ignore"):
        safe = (np.abs(x) < SAFE) & (np.abs(y) < SAFE) & ((np.abs(p) > TINY) | (x == 0) | (y == 0))
    return _directed(p, np.nan_to_num(error), safe)


def _mul(a: tuple, b: tuple) -> tuple:
    bounds = [_product(x, y) for x in a for y in b]
    return np.min([lo for lo, _ in bounds], axis=0), np.max([hi for _, hi in bounds], axis=0)


def _power(a: tuple, n: int) -> tuple:
    lo, hi = a
    if n == 0:
        return np.ones_like(lo), np.ones_like(hi)
    if n == 2:  # the common case, with the squares' rounding known exactly
        (low_lo, low_hi), (high_lo, high_hi) = _product(lo, lo), _product(hi, hi)
        low_n, high_n = (low_lo, low_hi), (high_lo, high_hi)
    else:  # pow is within an ulp: one ulp outward
        low_n, high_n = (_down(lo**n), _up(lo**n)), (_down(hi**n), _up(hi**n))
    if n % 2:  # odd: monotone
        return low_n[0], high_n[1]
    contains_zero = (lo <= 0) & (hi >= 0)
    return (np.where(contains_zero, 0.0, np.minimum(low_n[0], high_n[0])),
            np.maximum(low_n[1], high_n[1]))


def _periodic(a: tuple, function: Any, peak: float) -> tuple:
    """Bounds of ``sin`` or ``cos`` (``function``, with its maxima at ``peak + 2 k pi`` and minima at
    ``peak + pi + 2 k pi``) over [lo, hi]: the endpoint values, 2 ulps outward (libm is within one), or
    +-1 where an extremum lies inside. The extrema's locations are computed in float64 and so are inexact:
    the 1e-12 slack counts a near one as inside, which only widens the bound."""
    lo, hi = a
    values = np.stack([function(lo), function(hi)])
    low, high = _down(values.min(0), 2), _up(values.max(0), 2)
    maximum = peak + 2 * np.pi * np.ceil((lo - peak - 1e-12) / (2 * np.pi))
    minimum = peak + np.pi + 2 * np.pi * np.ceil((lo - peak - np.pi - 1e-12) / (2 * np.pi))
    high = np.where(maximum <= hi + 1e-12, 1.0, high)
    low = np.where(minimum <= hi + 1e-12, -1.0, low)
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
            if node.is_Integer and abs(int(node)) < 2**53:  # exactly representable
                return value, value
            return _down(value), _up(value)
        if node.is_Add:
            result = bound(node.args[0])
            for arg in node.args[1:]:
                result = _add(result, bound(arg))
            return result
        if node.is_Mul:
            result = bound(node.args[0])
            for arg in node.args[1:]:
                result = _mul(result, bound(arg))
            return result
        if node.is_Pow and node.exp.is_Integer and int(node.exp) >= 0:
            return _power(bound(node.base), int(node.exp))
        if isinstance(node, sympy.sin):
            return _periodic(bound(node.args[0]), np.sin, np.pi / 2)
        if isinstance(node, sympy.cos):
            return _periodic(bound(node.args[0]), np.cos, 0.0)
        if isinstance(node, sympy.exp):
            lo, hi = bound(node.args[0])
            return _down(np.exp(lo), 2), _up(np.exp(hi), 2)
        raise ValueError(f"the verifier bounds {SUPPORTED}; not {node.func.__name__} in {node}")

    lo, hi = bound(sympy.sympify(expression))
    return np.broadcast_to(lo, (len(low),)).astype(float), np.broadcast_to(hi, (len(low),)).astype(float)


def _differentiated(V: Any, symbols: list, rhs: list) -> Any:
    """``dV/dt = grad V . f`` in SymPy, as differentiated (not expanded)."""
    import sympy

    return sum(sympy.diff(V, s) * f for s, f in zip(symbols, rhs))


def symbolic_derivative(V: Any, symbols: list, rhs: list) -> Any:
    """``dV/dt = grad V . f`` in SymPy, expanded."""
    import sympy

    return sympy.expand(_differentiated(V, symbols, rhs))


def _bounded_forms(raw: Any, expanded: Any) -> list:
    """The algebraically equal forms of dV/dt the verifier bounds (the bounds depend on the form): the
    expansion (where terms cancel) and its factored form, when they are short enough that bounding them
    costs less than splitting boxes; otherwise the derivative as differentiated."""
    import sympy

    operations = sympy.count_ops(expanded)
    if operations > EXPANSION_LIMIT:
        return [raw]
    if operations > FACTOR_LIMIT:  # factoring a long expansion costs more than it saves
        return [expanded]
    try:
        factored = sympy.factor(expanded)
    except (sympy.PolynomialError, NotImplementedError):  # SymPy cannot factor it: the one form
        return [expanded]
    return [expanded] if factored == expanded else [expanded, factored]


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
           batch: int = 4096, decrease: str = "strict", max_boxes: int = 1_000_000,
           timeout_s: float | None = None) -> VerificationResult:
    """Prove ``V > 0`` and ``dV/dt < 0`` (``decrease="weak"``: ``<= 0``) on the box [low, high] outside
    ``|x|_inf <= ball * (high - low) / 2`` (see the module docstring); ``symbols`` and ``rhs`` are the
    system's SymPy form (``symbolic_f()``). A weak-decrease counterexample needs ``dV/dt`` above
    :data:`~agents.lyapunov_discovery.falsifier.WEAK_TOLERANCE` at a box centre (float noise is not one).
    Boxes are taken depth first (the queue stays small); after ``max_boxes`` boxes or ``timeout_s`` seconds
    the ones left open count as timeouts."""
    import sympy

    margin = decrease_margin(decrease)
    started = time.perf_counter()
    low, high, radius = region_around_origin(low, high, ball)
    raw = _differentiated(V, symbols, rhs)
    value_at_centre = sympy.lambdify(symbols, V, "numpy")
    # the centres are evaluated on the derivative as differentiated: an expansion with hundreds of terms
    # is a nested sum too deep for Python's compiler
    derivative_at_centre = sympy.lambdify(symbols, raw, "numpy")
    derivative_forms = _bounded_forms(raw, sympy.expand(raw))
    queue = BoxQueue(low, high, fill=True)
    queue.push(low[None, :], high[None, :])
    budget = Budget(max_depth=max_depth, max_boxes=max_boxes, timeout_s=timeout_s, started=started)
    verified = falsified = timeouts = excluded = 0
    counterexample = None
    while len(queue):
        lo, hi, depth = queue.take(batch)
        inside_ball = np.all((lo >= -radius) & (hi <= radius), axis=1)
        v_low, _ = interval(V, symbols, lo, hi)
        d_high = np.min([interval(form, symbols, lo, hi)[1] for form in derivative_forms], axis=0)
        proved = ~inside_ball & (v_low > 0) & ((d_high < 0) if decrease == "strict" else (d_high <= 0))
        centre = (lo + hi) / 2
        outside = np.any(np.abs(centre) > radius, axis=1)
        with np.errstate(all="ignore"):
            centre_v = np.broadcast_to(value_at_centre(*centre.T), (len(lo),))
            centre_d = np.broadcast_to(derivative_at_centre(*centre.T), (len(lo),))
        broken = ~inside_ball & ~proved & outside & ((centre_v <= 0) | (centre_d >= margin))
        if broken.any() and counterexample is None:
            counterexample = centre[np.flatnonzero(broken)[0]]
        open_ = ~inside_ball & ~proved & ~broken
        too_deep = open_ & budget.too_deep(depth)
        verified += int(proved.sum())
        excluded += int(inside_ball.sum())
        falsified += int(broken.sum())
        timeouts += int(too_deep.sum())
        split = open_ & ~too_deep
        queue.split(lo[split], hi[split], depth[split])  # the halves first: depth first
        if falsified:  # a concrete counterexample settles it
            break
        if not budget.allows(verified + excluded + falsified + timeouts + 1):  # the budget: the rest is open
            timeouts += queue.clear()
            break
    return VerificationResult(falsified == 0 and timeouts == 0, verified, falsified, timeouts, excluded,
                              counterexample, time.perf_counter() - started)


def verify_polynomial_z3(V: Any, symbols: list, rhs: list, low: Any, high: Any, ball: float = 0.05,
                         timeout_s: float = 20.0, decrease: str = "strict") -> tuple[str, np.ndarray | None]:
    """The same claim as :func:`verify`, asked of z3 in exact real arithmetic when ``V`` and the dynamics
    are polynomials: is there an ``x`` in the box, outside the ball, with ``V(x) <= 0`` or ``dV/dt >= 0``
    (weak decrease: ``dV/dt > 0``, exactly)? Returns ("proved", None) for unsat, ("refuted", x) with z3's
    counterexample for sat, ("unknown", None) when z3 gives up or runs out of time. Non-polynomial input
    raises ValueError (use :func:`verify`)."""
    import sympy
    import z3

    from agents.verification.z3_numbers import model_number, rational

    decrease_margin(decrease)  # a known decrease
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

    solver = z3.Solver()
    solver.set("timeout", int(timeout_s * 1000))
    for variable, lo, hi, r in zip(variables, low, high, radius):
        solver.add(variable >= rational(lo), variable <= rational(hi))
    solver.add(z3.Or(*[z3.Or(v > rational(r), v < -rational(r)) for v, r in zip(variables, radius)]))
    rising = encode(derivative) >= 0 if decrease == "strict" else encode(derivative) > 0  # exact: no tolerance
    solver.add(z3.Or(encode(V) <= 0, rising))
    answer = solver.check()
    if answer == z3.unsat:
        return "proved", None
    if answer == z3.sat:
        model = solver.model()  # nonlinear models may hold algebraic numbers: a rational close to them
        return "refuted", np.array([model_number(model, v, digits=20)[1] for v in variables])
    return "unknown", None
