"""An exact SMT back-end for the Lyapunov verifier: the closed loop encoded in z3's real arithmetic.

The model code that runs on torch tensors (:class:`agents.lyapunov.ops.TorchOps`) and on bound
objects (:mod:`agents.lyapunov.bounds`) runs here a third time, on :class:`Z3Value`: a numpy object
array of z3 arithmetic expressions. Weights, biases and every other constant enter as the exact
rationals of their float64 values; ReLU, LeakyReLU, abs and clamp become ``z3.If``; squares and
products become polynomial terms. A controller, a Lyapunov function and a plant built from these
operations (polynomial or piecewise-linear models) are encoded exactly, without relaxation.
Transcendental operations (sin, cos, exp, sqrt, tanh) and division by a value have no such
encoding: they raise ValueError, so that a caller can fall back to the bound verifier
(:func:`agents.lyapunov.verifier.verify`).

:func:`verify_z3` asks z3 one question over the whole region: is there an ``x`` in the box, outside
the hole, with ``V(x) <= rho`` whose successor fails the decrease condition or leaves the box?
``unsat`` proves the certificate in exact real arithmetic; ``sat`` disproves it and gives a
counterexample, which is re-checked in float64 with the torch model (the model the controller
really runs); z3 giving up (its timeout, or an incomplete nonlinear search) is a timeout.
"""

from __future__ import annotations

import math
import time
from fractions import Fraction
from typing import Any, Callable, Sequence

import numpy as np
import torch
import z3

from agents.lyapunov.verifier import ClosedLoop, VerificationResult, _check_problem
from agents.verification.z3_numbers import model_number, rational

NOT_ENCODABLE = ("the z3 back-end handles polynomial and piecewise-linear models only; {op} is neither "
                 "(use the bound verifier, agents.lyapunov.verifier.verify, for such models)")
DIVISION_BY_VALUE = ("the z3 back-end divides by constants only (a rational function is neither polynomial nor "
                     "piecewise-linear); use the bound verifier, agents.lyapunov.verifier.verify, for such models")
# When z3's counterexample does not survive float64 (it sits on a boundary of the condition, as the
# vertices linear arithmetic answers with do, or next to the equilibrium, where float64 cancels), a
# second query asks for one that violates the claim by this margin, relative to the level, the box and
# the hole: far beyond float64's rounding.
ROBUST_MARGIN = 1e-9


def _float_array(value: Any) -> np.ndarray:
    """A number, numpy array or torch tensor as a float64 numpy array."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().to(torch.float64).numpy()
    return np.asarray(value, dtype=np.float64)


def _constant_array(value: Any, ctx: z3.Context | None) -> np.ndarray:
    """A number, numpy array or torch tensor as an object array of exact z3 rationals."""
    numbers = _float_array(value)
    out = np.empty(numbers.shape, dtype=object)
    for index in np.ndindex(numbers.shape):
        out[index] = rational(numbers[index], ctx)
    return out


def _map(function: Callable[..., Any], *arrays: np.ndarray) -> np.ndarray:
    """``function`` applied elementwise to broadcast object arrays (numpy's own ufuncs would compare
    z3 expressions, whose ``==`` builds a formula)."""
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    views = [np.broadcast_to(a, shape) for a in arrays]
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(shape):
        out[index] = function(*(v[index] for v in views))
    return out


def _is_zero(expression: Any) -> bool:
    return z3.is_rational_value(expression) and expression.as_fraction() == 0


def _sum(terms: list[Any], ctx: z3.Context | None) -> Any:
    terms = [t for t in terms if not _is_zero(t)]
    if not terms:
        return z3.RealVal(0, ctx)
    return terms[0] if len(terms) == 1 else z3.Sum(terms)


class Z3Value:
    """A value of shape ``[...]`` whose elements are z3 real expressions (a numpy object array).

    Supports ``+``/``-`` with other values and with constants (numbers, numpy arrays, torch
    tensors; broadcast as numpy broadcasts), ``*`` by constants and by values (a polynomial term),
    ``/`` by constants, unary ``-`` and numpy-style indexing (``v[..., i]`` for the last dimension).
    Constants become exact rationals in the z3 context of the value's expressions.
    """

    __array_ufunc__ = None  # numpy arrays and scalars on the left defer to our operators
    __array_priority__ = 1000

    def __init__(self, expressions: Any) -> None:
        if not isinstance(expressions, np.ndarray):  # one expression: a value of shape []
            single = np.empty((), dtype=object)
            single[()] = expressions
            expressions = single
        self.expressions = expressions

    @classmethod
    def variables(cls, names: Sequence[str], ctx: z3.Context | None = None) -> Z3Value:
        """Fresh real variables, one per name, as a value of shape [len(names)]."""
        out = np.empty(len(names), dtype=object)
        for i, name in enumerate(names):
            out[i] = z3.Real(name, ctx)
        return cls(out)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.expressions.shape

    @property
    def ctx(self) -> z3.Context | None:
        """The z3 context of the expressions (None, z3's main context, for an empty value)."""
        return self.expressions.flat[0].ctx if self.expressions.size else None

    def item(self) -> z3.ArithRef:
        """The one expression of a value with a single element."""
        if self.expressions.size != 1:
            raise ValueError(f"item() needs a value with one element, this one has shape {self.shape}")
        return self.expressions.reshape(()).item()

    def __repr__(self) -> str:
        return f"Z3Value(shape={self.shape})"

    # -- arithmetic ---------------------------------------------------------------------------
    def _operand(self, other: Any) -> np.ndarray:
        return other.expressions if isinstance(other, Z3Value) else _constant_array(other, self.ctx)

    def __add__(self, other: Any) -> Z3Value:
        return Z3Value(_map(_add, self.expressions, self._operand(other)))

    def __radd__(self, other: Any) -> Z3Value:
        return Z3Value(_map(_add, self._operand(other), self.expressions))

    def __sub__(self, other: Any) -> Z3Value:
        return Z3Value(_map(_subtract, self.expressions, self._operand(other)))

    def __rsub__(self, other: Any) -> Z3Value:
        return Z3Value(_map(_subtract, self._operand(other), self.expressions))

    def __neg__(self) -> Z3Value:
        return Z3Value(_map(lambda a: -a, self.expressions))

    def __pos__(self) -> Z3Value:
        return self

    def __mul__(self, other: Any) -> Z3Value:
        return Z3Value(_map(_multiply, self.expressions, self._operand(other)))

    def __rmul__(self, other: Any) -> Z3Value:
        return Z3Value(_map(_multiply, self._operand(other), self.expressions))

    def __truediv__(self, other: Any) -> Z3Value:
        if isinstance(other, Z3Value):
            raise ValueError(DIVISION_BY_VALUE)
        divisor = _float_array(other)
        if np.any(divisor == 0):
            raise ValueError("division by a constant 0")
        # x / c as x * (1 / c), with 1 / c the exact reciprocal of c's rational
        reciprocal = np.empty(divisor.shape, dtype=object)
        for index in np.ndindex(divisor.shape):
            exact = 1 / Fraction(float(divisor[index]))
            reciprocal[index] = z3.RealVal(f"{exact.numerator}/{exact.denominator}", self.ctx)
        return Z3Value(_map(_multiply, self.expressions, reciprocal))

    def __rtruediv__(self, other: Any) -> Z3Value:
        raise ValueError(DIVISION_BY_VALUE)

    def __getitem__(self, index: Any) -> Z3Value:
        return Z3Value(self.expressions[index])

    def __bool__(self) -> bool:
        raise ValueError("a z3 value has no truth value: models must not branch on values (use ops.relu, "
                         "ops.clamp, ops.abs for piecewise definitions)")


def _add(a: Any, b: Any) -> Any:
    if _is_zero(b):
        return a
    if _is_zero(a):
        return b
    return a + b


def _subtract(a: Any, b: Any) -> Any:
    return a if _is_zero(b) else a - b


def _multiply(a: Any, b: Any) -> Any:
    if _is_zero(a) or _is_zero(b):
        return z3.RealVal(0, a.ctx)
    return a * b


def _not_encodable(op: str) -> staticmethod:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ValueError(NOT_ENCODABLE.format(op=op))

    refuse.__name__ = op
    refuse.__doc__ = f"Raises ValueError: {op} is neither polynomial nor piecewise-linear."
    return staticmethod(refuse)


def _as_value(value: Any, ctx: z3.Context | None = None) -> Z3Value:
    return value if isinstance(value, Z3Value) else Z3Value(_constant_array(value, ctx))


class Z3Ops:
    """:class:`agents.lyapunov.ops.TorchOps` on :class:`Z3Value` (exact; polynomial and
    piecewise-linear operations only, the others raise ValueError)."""

    @staticmethod
    def linear(x: Z3Value, weight: Any, bias: Any) -> Z3Value:
        """``x[..., in] @ weight.T + bias`` with the weights' exact rationals (zero terms dropped)."""
        weight = _float_array(weight)
        if weight.ndim != 2 or weight.shape[1] != x.shape[-1]:
            raise ValueError(f"linear needs a weight of shape [out, {x.shape[-1]}], got {weight.shape}")
        out_features = weight.shape[0]
        bias_values = np.zeros(out_features) if bias is None else _float_array(bias).reshape(-1)
        if bias_values.shape != (out_features,):
            raise ValueError(f"linear needs a bias of shape [{out_features}], got {bias_values.shape}")
        ctx = x.ctx
        weights = [[None if w == 0 else rational(w, ctx) for w in row] for row in weight]
        biases = [None if b == 0 else rational(b, ctx) for b in bias_values]
        lead = x.shape[:-1]
        out = np.empty(lead + (out_features,), dtype=object)
        for index in np.ndindex(lead):
            inputs = x.expressions[index]
            for o in range(out_features):
                terms = [w * inputs[i] for i, w in enumerate(weights[o]) if w is not None and not _is_zero(inputs[i])]
                out[index + (o,)] = _sum(terms + ([biases[o]] if biases[o] is not None else []), ctx)
        return Z3Value(out)

    @staticmethod
    def relu(x: Z3Value) -> Z3Value:
        return Z3Value(_map(lambda a: z3.If(a > 0, a, z3.RealVal(0, a.ctx)), x.expressions))

    @staticmethod
    def leaky_relu(x: Z3Value, slope: float) -> Z3Value:
        slope_value = rational(slope, x.ctx)
        return Z3Value(_map(lambda a: z3.If(a > 0, a, slope_value * a), x.expressions))

    @staticmethod
    def abs(x: Z3Value) -> Z3Value:
        return Z3Value(_map(lambda a: z3.If(a >= 0, a, -a), x.expressions))

    @staticmethod
    def clamp(x: Z3Value, low: Any, high: Any) -> Z3Value:
        """``min(max(x, low), high)`` as torch computes it (``high`` wins where ``low > high``)."""
        def clamp_one(a: Any, lo: Any, hi: Any) -> Any:
            above_low = z3.If(a >= lo, a, lo)
            return z3.If(above_low <= hi, above_low, hi)

        return Z3Value(_map(clamp_one, x.expressions, _constant_array(low, x.ctx), _constant_array(high, x.ctx)))

    @staticmethod
    def square(x: Z3Value) -> Z3Value:
        return Z3Value(_map(lambda a: a * a, x.expressions))

    @staticmethod
    def sum(x: Z3Value) -> Z3Value:
        """The sum over the last dimension."""
        out = np.empty(x.shape[:-1], dtype=object)
        for index in np.ndindex(out.shape):
            out[index] = _sum(list(x.expressions[index]), x.ctx)
        return Z3Value(out)

    @staticmethod
    def stack(parts: Sequence[Any]) -> Z3Value:
        """Values (or constants) of broadcastable shapes [...] stacked into [..., k]."""
        if not parts:
            raise ValueError("stack needs at least one value")
        ctx = next((p.ctx for p in parts if isinstance(p, Z3Value)), None)
        arrays = [_as_value(p, ctx).expressions for p in parts]
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        out = np.empty(shape + (len(arrays),), dtype=object)
        for k, array in enumerate(arrays):
            out[..., k] = np.broadcast_to(array, shape)
        return Z3Value(out)

    tanh = _not_encodable("tanh")
    sin = _not_encodable("sin")
    cos = _not_encodable("cos")
    exp = _not_encodable("exp")
    sqrt = _not_encodable("sqrt")


Z3_OPS = Z3Ops()


def _pair(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    ctx = next((v.ctx for v in (a, b) if isinstance(v, Z3Value)), None)
    return _as_value(a, ctx).expressions, _as_value(b, ctx).expressions


class Z3XP:
    """The backend protocol of :class:`envs.control.system.ControlSystem` (``xp.sin`` ...) on
    :class:`Z3Value`: polynomial and piecewise-linear plants only."""

    sin = _not_encodable("sin")
    cos = _not_encodable("cos")
    exp = _not_encodable("exp")
    sqrt = _not_encodable("sqrt")
    abs = staticmethod(Z3Ops.abs)
    stack = staticmethod(Z3Ops.stack)

    @staticmethod
    def minimum(a: Any, b: Any) -> Z3Value:
        return Z3Value(_map(lambda p, q: z3.If(p <= q, p, q), *_pair(a, b)))

    @staticmethod
    def maximum(a: Any, b: Any) -> Z3Value:
        return Z3Value(_map(lambda p, q: z3.If(p >= q, p, q), *_pair(a, b)))


Z3_XP = Z3XP()


# -- the verification query -----------------------------------------------------------------------
class _Encoding:
    """The closed loop on symbolic states, in a z3 context of its own (so that an answer does not
    depend on the queries asked before it), and the conditions of the claim."""

    def __init__(self, loop: ClosedLoop, box_low: np.ndarray, box_high: np.ndarray, x_eq: np.ndarray,
                 rho: float, kappa: float, hole: float) -> None:
        self.ctx = z3.Context()
        self.box_low, self.box_high, self.x_eq = box_low, box_high, x_eq
        self.rho, self.hole = rho, hole
        self.x = Z3Value.variables([f"x{i}" for i in range(len(x_eq))], self.ctx)
        self.x_next = _as_value(loop.step(self.x, Z3_OPS, Z3_XP), self.ctx)
        self.value = _as_value(loop.lyapunov(self.x, Z3_OPS), self.ctx).item()
        value_next = _as_value(loop.lyapunov(self.x_next, Z3_OPS), self.ctx).item()
        one_minus_kappa = z3.simplify(z3.RealVal(1, self.ctx) - rational(kappa, self.ctx))
        self.decrease = value_next - one_minus_kappa * self.value

    def _real(self, value: float) -> z3.RatNumRef:
        return rational(value, self.ctx)

    def violations(self, margin: float) -> list[Any]:
        """The claim's negation: x in the box, outside the hole, V(x) <= rho, and no decrease or a
        successor outside the box; with ``margin > 0`` each by that much (relative) at least."""
        span = float(np.max(self.box_high - self.box_low))
        level_margin, box_margin = margin * max(1.0, self.rho), margin * max(1.0, span)
        xs = list(self.x.expressions)
        inside = [z3.And(xi >= self._real(lo), xi <= self._real(hi))
                  for xi, lo, hi in zip(xs, self.box_low, self.box_high)]
        distance = self._real(self.hole + box_margin)
        outside_hole = z3.Or([z3.Or(xi - self._real(e) > distance, xi - self._real(e) < -distance)
                              for xi, e in zip(xs, self.x_eq)])
        in_level = self.value <= self._real(self.rho - level_margin)
        no_decrease = self.decrease > self._real(level_margin)
        return inside + [outside_hole, in_level, z3.Or(no_decrease, self.leaves(box_margin))]

    def leaves(self, box_margin: float) -> Any:
        """The successor lies outside the box (by more than ``box_margin``)."""
        return z3.Or([z3.Or(xn < self._real(lo - box_margin), xn > self._real(hi + box_margin))
                      for xn, lo, hi in zip(self.x_next.expressions, self.box_low, self.box_high)])

    def check(self, margin: float, timeout_s: float) -> tuple[z3.CheckSatResult, z3.ModelRef | None]:
        # z3's nonlinear real arithmetic (nlsat), for polynomial V and plants; on the purely
        # piecewise-linear queries tried it also beat the default (simplex-based) solver
        solver = z3.SolverFor("QF_NRA", ctx=self.ctx)
        solver.set("timeout", max(1, int(round(timeout_s * 1000))))
        solver.add(self.violations(margin))
        answer = solver.check()
        return answer, solver.model() if answer == z3.sat else None


def _counterexample(model: z3.ModelRef, encoding: _Encoding, loop: ClosedLoop, kappa: float,
                    margin: float) -> dict[str, Any]:
    """The model's x with its exact values, and the same x re-evaluated in float64 by the torch model."""
    exact_x = [model_number(model, e) for e in encoding.x.expressions]
    exact_next = [model_number(model, e) for e in encoding.x_next.expressions]
    exact_value = model_number(model, encoding.value)
    exact_decrease = model_number(model, encoding.decrease)
    point = torch.tensor([[f for _, f in exact_x]], dtype=torch.float64)
    float_next, float_decrease, float_value = loop.evaluate(point, kappa)
    float_next, float_decrease, float_value = float_next[0], float(float_decrease[0]), float(float_value[0])
    low, high = torch.as_tensor(encoding.box_low), torch.as_tensor(encoding.box_high)
    leaves = bool(((float_next < low) | (float_next > high)).any())
    outside_hole = float((point[0] - torch.as_tensor(encoding.x_eq)).abs().max()) > encoding.hole
    agrees = outside_hole and float_value <= encoding.rho and (float_decrease > 0 or leaves)
    exact_leaves = z3.is_true(model.eval(encoding.leaves(0.0), model_completion=True))
    counterexample: dict[str, Any] = {
        "x": point[0].tolist(), "V": float_value, "decrease": float_decrease, "x_next": float_next.tolist(),
        "leaves_box": leaves,
        "exact": {"x": [s for s, _ in exact_x], "V": exact_value[0], "decrease": exact_decrease[0],
                  "x_next": [s for s, _ in exact_next], "leaves_box": exact_leaves},
        "float_check_agrees": agrees, "margin": margin, "backend": "z3",
    }
    if not agrees:
        counterexample["note"] = (
            "z3's exact counterexample is not a violation when the torch model evaluates it in float64: "
            "float64's rounding (a point on a boundary of the condition, or cancellation next to the "
            "equilibrium) changes the verdict")
    return counterexample


def verify_z3(loop: ClosedLoop, box_low: Any, box_high: Any, rho: float, kappa: float, hole: float = 0.0,
              timeout_s: float = 60.0) -> VerificationResult:
    """The certificate of :mod:`agents.lyapunov.verifier` decided by one z3 query in exact real
    arithmetic over the float64 constants of the models (see the module docstring).

    ``timeout_s`` is the wall-clock budget of the whole call (building the encoding included).
    Raises ValueError when the plant, the controller or V uses an operation the z3 back-end cannot
    encode (sin, cos, exp, sqrt, tanh, division by a value), so that a caller can fall back to
    :func:`agents.lyapunov.verifier.verify`, and for a malformed problem as ``verify`` does.

    Returns a :class:`agents.lyapunov.verifier.VerificationResult` with the whole region as one box:

    - ``"verified"``: unsat; ``verified == 1``, ``verified_volume_fraction == 1.0``.
    - ``"falsified"``: sat; the first counterexample is z3's model, with its exact values under
      ``"exact"`` (rationals, or root-obj forms of algebraic numbers) beside the float64 re-check,
      ``"float_check_agrees"`` saying whether float64 confirms it (with a ``"note"`` where it does
      not). Where it does not, a second query (within what is left of ``timeout_s``) looks for a
      violation by a relative margin of ``ROBUST_MARGIN``, and its counterexample, when found, is
      appended. The status is "falsified" either way: the claim fails in exact arithmetic.
    - ``"timeout"``: z3 answered unknown (out of time, or an incomplete nonlinear search);
      ``timeout == 1``, ``timeout_volume_fraction == 1.0``.
    """
    started = time.perf_counter()
    box_low = np.asarray(box_low, dtype=np.float64)
    box_high = np.asarray(box_high, dtype=np.float64)
    x_eq = np.asarray(loop.system.x_eq, dtype=np.float64)
    _check_problem(box_low, box_high, x_eq, kappa, rho, hole)
    if isinstance(timeout_s, bool) or not (isinstance(timeout_s, (int, float)) and math.isfinite(timeout_s)
                                           and timeout_s > 0):
        raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")

    encoding = _Encoding(loop, box_low, box_high, x_eq, float(rho), float(kappa), float(hole))
    result = VerificationResult(status="timeout", rho=float(rho), kappa=float(kappa), hole=float(hole),
                                boxes_bounded=1)
    answer, model = encoding.check(0.0, timeout_s - (time.perf_counter() - started))
    if answer == z3.unsat:
        result.status, result.verified, result.verified_volume_fraction = "verified", 1, 1.0
    elif answer == z3.sat:
        result.status, result.falsified = "falsified", 1
        first = _counterexample(model, encoding, loop, kappa, 0.0)
        result.counterexamples.append(first)
        left = timeout_s - (time.perf_counter() - started)
        if not first["float_check_agrees"] and left > 0:
            answer, model = encoding.check(ROBUST_MARGIN, left)
            if answer == z3.sat:
                result.counterexamples.append(_counterexample(model, encoding, loop, kappa, ROBUST_MARGIN))
    else:
        result.timeout, result.timeout_volume_fraction = 1, 1.0
    result.wall_time_s = time.perf_counter() - started
    return result
