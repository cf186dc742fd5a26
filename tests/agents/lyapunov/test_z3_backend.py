"""The z3 back-end: its value type computes what torch computes, exactly; verify_z3 agrees with the
bound verifier on the double integrator, gets a known answer right to the last bit of the float64
constants, and every counterexample it reports is re-checked in float64; transcendental models are
refused with a clear ValueError."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
import z3

from agents.lyapunov.networks import MLP, NeuralController, NeuralLyapunov, QuadraticLyapunov, lqr
from agents.lyapunov.ops import TORCH_OPS
from agents.lyapunov.verifier import ClosedLoop, verify
from agents.lyapunov.z3_backend import ROBUST_MARGIN, Z3_OPS, Z3_XP, Z3Value, rational, verify_z3
from envs.control.double_integrator import DoubleIntegrator
from envs.control.inverted_pendulum import InvertedPendulum
from envs.control.system import ControlSystem
from lyapunov_cases import scalar_loop

torch.set_num_threads(1)
F64 = torch.float64
BOX_LOW, BOX_HIGH = [-10.0, -10.0], [10.0, 10.0]  # the double integrator's state box
KAPPA, HOLE = 0.01, 0.05


# -- the value type computes what torch computes -------------------------------------------------
def _symbols(shape: tuple[int, ...], prefix: str) -> Z3Value:
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(shape):
        out[index] = z3.Real(prefix + "_".join(map(str, index)))
    return Z3Value(out)


def _substitute(value: Z3Value, symbols: Z3Value, numbers: torch.Tensor) -> torch.Tensor:
    """The value's expressions with the symbols replaced by the numbers' exact rationals, as floats."""
    pairs = [(symbols.expressions[i], rational(float(numbers[i]))) for i in np.ndindex(symbols.shape)]
    out = np.empty(value.shape)
    for index in np.ndindex(value.shape):
        exact = z3.simplify(z3.substitute(value.expressions[index], *pairs))
        assert z3.is_rational_value(exact), exact
        out[index] = float(exact.as_fraction())
    return torch.as_tensor(out)


FORMULAS = {
    "linear_relu": lambda x, o, c: o.relu(o.linear(x, c["W"], c["b"])),
    "leaky_relu": lambda x, o, c: o.leaky_relu(o.linear(x, c["W"], None), 0.1),
    "abs_sum": lambda x, o, c: o.sum(o.abs(x - c["shift"])),
    "clamp_tensor_limits": lambda x, o, c: o.clamp(o.linear(x, c["W"], c["b"]), c["low"], c["high"]),
    "clamp_float_limits": lambda x, o, c: o.clamp(x * 3.0, -2.0, 1.5),
    "square": lambda x, o, c: o.square(x[..., 0]) - x[..., 1] * 0.5,
    "product_of_values": lambda x, o, c: x[..., 0] * x[..., 2] + x[..., 1] * x[..., 1] * x[..., 3],
    "division_by_constants": lambda x, o, c: x / 3.0 + x / c["shift"],
    "constants_on_the_left": lambda x, o, c: c["shift"] - x + np.float64(2.5) * x + np.ones(4) + 0.1 * (-x),
    "stack_and_index": lambda x, o, c: o.stack([x[..., 3], torch.tensor(1.25, dtype=F64), x[..., 0] - x[..., 1]]),
    "mlp": lambda x, o, c: c["mlp"](x, o),
}


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_value_arithmetic_equals_torch_on_random_numbers(name):
    generator = torch.Generator().manual_seed(7)
    constants = {
        "W": torch.randn(5, 4, generator=generator, dtype=F64), "b": torch.randn(5, generator=generator, dtype=F64),
        "shift": torch.rand(4, generator=generator, dtype=F64) + 0.5,
        "low": -torch.rand(5, generator=generator, dtype=F64), "high": torch.rand(5, generator=generator, dtype=F64),
        "mlp": MLP(4, 3, hidden=(6, 5), activation="leaky_relu", seed=2),
    }
    formula = FORMULAS[name]
    numbers = torch.randn(3, 4, generator=generator, dtype=F64) * 2
    symbols = _symbols((3, 4), "v")
    with torch.no_grad():
        expected = formula(numbers, TORCH_OPS, constants)
        exact = formula(symbols, Z3_OPS, constants)
    assert isinstance(exact, Z3Value) and exact.shape == tuple(expected.shape)
    # the z3 expressions hold the exact rationals: they differ from float64 by its rounding only
    torch.testing.assert_close(_substitute(exact, symbols, numbers), expected, rtol=1e-12, atol=1e-12)


def test_plant_backend_minimum_and_maximum_equal_torch():
    generator = torch.Generator().manual_seed(8)
    numbers = torch.randn(6, 2, generator=generator, dtype=F64)
    symbols = _symbols((6, 2), "p")
    bound = torch.tensor(0.3, dtype=F64)
    exact = Z3_XP.stack([Z3_XP.minimum(symbols[..., 0], symbols[..., 1]), Z3_XP.maximum(symbols[..., 0], 0.3),
                         Z3_XP.abs(symbols[..., 1])])
    expected = torch.stack([torch.minimum(numbers[:, 0], numbers[:, 1]), torch.maximum(numbers[:, 0], bound),
                            numbers[:, 1].abs()], -1)
    torch.testing.assert_close(_substitute(exact, symbols, numbers), expected, rtol=0, atol=0)


def test_constants_are_the_exact_rationals_of_the_floats():
    # z3.RealVal(0.1) would be 1/10; the float 0.1 is 3602879701896397 / 2**55
    assert rational(0.1).as_fraction() == Fraction(0.1) != Fraction(1, 10)
    weight = torch.tensor([[0.1, -1e-300]], dtype=F64)
    y = Z3_OPS.linear(Z3Value.variables(["a", "b"]), weight, torch.tensor([1 / 3], dtype=F64))
    coefficients = {str(t.arg(1)): t.arg(0).as_fraction() for t in y.item().children() if z3.is_mul(t)}
    assert coefficients == {"a": Fraction(0.1), "b": Fraction(-1e-300)}
    assert Fraction(1 / 3) in [t.as_fraction() for t in y.item().children() if z3.is_rational_value(t)]


# -- what the z3 back-end refuses -----------------------------------------------------------------
@pytest.mark.parametrize("op", ["sin", "cos", "exp", "sqrt", "tanh"])
def test_transcendental_operations_raise_a_clear_error(op):
    x = Z3Value.variables(["a"])
    with pytest.raises(ValueError, match=f"polynomial and piecewise-linear models only; {op} is neither"):
        getattr(Z3_OPS, op)(x)
    if op != "tanh":  # the plant backend has no tanh
        with pytest.raises(ValueError, match=f"{op} is neither"):
            getattr(Z3_XP, op)(x[..., 0])


def test_division_by_a_value_and_branching_on_a_value_are_refused():
    x = Z3Value.variables(["a", "b"])
    with pytest.raises(ValueError, match="divides by constants only"):
        x[..., 0] / x[..., 1]
    with pytest.raises(ValueError, match="divides by constants only"):
        1.0 / x
    with pytest.raises(ValueError, match="no truth value"):
        bool(x[..., 0])


def test_a_pendulum_cannot_be_encoded_and_a_tanh_network_neither():
    pendulum = InvertedPendulum()
    controller = NeuralController(pendulum, hidden=(4,), seed=0)
    loop = ClosedLoop(pendulum, controller, QuadraticLyapunov(pendulum))
    with pytest.raises(ValueError, match="sin is neither"):
        verify_z3(loop, [-1.0, -1.0], [1.0, 1.0], rho=0.1, kappa=0.01, hole=0.01)
    system = DoubleIntegrator()
    tanh_controller = NeuralController(system, hidden=(4,), activation="tanh", seed=0)
    smooth = ClosedLoop(system, tanh_controller, QuadraticLyapunov(system))
    with pytest.raises(ValueError, match="tanh is neither"):
        verify_z3(smooth, BOX_LOW, BOX_HIGH, rho=0.1, kappa=KAPPA, hole=HOLE)


def test_bad_problems_are_refused():
    system = DoubleIntegrator()
    loop = ClosedLoop(system, NeuralController(system, hidden=(4,), seed=0), QuadraticLyapunov(system))
    with pytest.raises(ValueError, match="kappa must be in"):
        verify_z3(loop, BOX_LOW, BOX_HIGH, rho=1.0, kappa=1.5)
    with pytest.raises(ValueError, match="does not contain the equilibrium"):
        verify_z3(loop, [1.0, 1.0], [2.0, 2.0], rho=1.0, kappa=KAPPA)
    with pytest.raises(ValueError, match="timeout_s must be a positive number"):
        verify_z3(loop, BOX_LOW, BOX_HIGH, rho=1.0, kappa=KAPPA, timeout_s=0)


# -- a known answer --------------------------------------------------------------------------------


def _scalar_loop(a: float) -> ClosedLoop:
    return scalar_loop(a)


@pytest.mark.parametrize("a, kappa, expected", [
    (0.75, 0.25, "verified"),     # |a| = 1 - kappa exactly: V(x+) - (1 - kappa) V(x) = 0, no violation
    (-0.75, 0.25, "verified"),
    (0.75, 0.3, "falsified"),
    (1.25, 0.0, "falsified"),
])
def test_scalar_system_known_answer(a, kappa, expected):
    # V = |x|: V(a x) - (1 - kappa) V(x) = (|a| - 1 + kappa) |x| <= 0 exactly when |a| <= 1 - kappa
    result = verify_z3(_scalar_loop(a), [-2.0], [2.0], rho=1.5, kappa=kappa, hole=0.01)
    assert result.status == expected
    if expected == "verified":
        assert result.verified == 1 and result.verified_volume_fraction == 1.0 and not result.counterexamples
    else:
        counterexample = result.counterexamples[0]
        assert counterexample["float_check_agrees"]
        assert 0.01 < abs(counterexample["x"][0]) <= 1.5 and counterexample["decrease"] > 0
        assert Fraction(counterexample["exact"]["decrease"]) > 0


def test_an_exact_violation_that_float64_rounds_away_is_reported_as_such():
    # as exact rationals, the floats 0.9 and 1 - 0.1 differ: |a| - (1 - kappa) = 2**-55 > 0, a real
    # violation of the claim in exact arithmetic, which float64 rounds to a decrease of exactly 0
    assert Fraction(0.9) - (1 - Fraction(0.1)) == Fraction(1, 2**55)
    result = verify_z3(_scalar_loop(0.9), [-2.0], [2.0], rho=1.5, kappa=0.1, hole=0.01)
    assert result.status == "falsified"
    counterexample = result.counterexamples[0]
    assert Fraction(counterexample["exact"]["decrease"]) > 0
    assert counterexample["decrease"] == 0.0
    assert not counterexample["float_check_agrees"] and "float64" in counterexample["note"]
    assert len(result.counterexamples) == 1  # no violation by a margin exists: the search for one fails


class Cubic(ControlSystem):
    """x+ = x - x^3 / 2 + u, natively discrete: a polynomial plant."""

    def __init__(self) -> None:
        super().__init__(state_names=("x",), input_names=("u",), dt=1.0, x_eq=(0.0,), u_eq=(0.0,),
                         state_low=(-1.9,), state_high=(1.9,), input_low=(-1.0,), input_high=(1.0,), Q=1.0, R=1.0)

    def _advance(self, x, u, xp):
        return (x[0] - x[0] * x[0] * x[0] * 0.5 + u[0],)


@pytest.mark.parametrize("hole, expected", [(0.2, "verified"), (0.05, "falsified")])
def test_polynomial_plant_known_answer(hole, expected):
    # V = x^2: V(x+) - 0.99 V(x) = x^2 ((1 - x^2 / 2)^2 - 0.99) <= 0 exactly for 0.1001 <= |x| <= 1.9975,
    # and x+ stays in [-1.9, 1.9]: the decrease fails only near the origin, inside a hole of 0.2
    loop = ClosedLoop(Cubic(), lambda x, ops: x * 0.0, lambda x, ops: ops.sum(ops.square(x)))
    result = verify_z3(loop, [-1.9], [1.9], rho=1.9**2, kappa=0.01, hole=hole)
    assert result.status == expected
    if expected == "falsified":
        counterexample = result.counterexamples[-1]
        assert counterexample["float_check_agrees"]
        assert 0.05 < abs(counterexample["x"][0]) < 0.1002 and counterexample["decrease"] > 0


# -- agreement with the bound verifier on the double integrator -----------------------------------
def _eigenbasis_lyapunov(system: DoubleIntegrator, K: np.ndarray) -> NeuralLyapunov:
    """A NeuralLyapunov whose ReLU phi computes ``W x`` (as relu(W x) - relu(-W x)), with W the
    inverse eigenvector matrix of the LQR closed loop A + B K (real eigenvalues 0.38 and 0.0099):
    ``|W x|_1`` shrinks by at least 0.38 per step wherever the input does not saturate."""
    A, B = system.linearize()
    _, vectors = np.linalg.eig(A + B @ K)
    W = torch.as_tensor(np.linalg.inv(vectors.real), dtype=F64)
    W = W / W.abs().max()
    V = NeuralLyapunov(system, hidden=(4,), out=2, seed=0)
    eye = torch.eye(2, dtype=F64)
    with torch.no_grad():
        first, last = V.phi.layers
        first.weight.copy_(torch.cat([W, -W]))
        first.bias.zero_()
        last.weight.copy_(torch.cat([eye, -eye], 1))
        last.bias.zero_()
        V.R.zero_()  # the linear part is eps |x|_1
    return V


def _random_mlp_controller(system: DoubleIntegrator) -> NeuralController:
    """The saturated LQR plus a small random ReLU MLP (4 units): piecewise linear everywhere."""
    controller = NeuralController(system, hidden=(4,), seed=5)
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        controller.mlp.layers[-1].weight.copy_(torch.randn(1, 4, generator=generator, dtype=F64) * 0.05)
    return controller


def _double_integrator_loops():
    system = DoubleIntegrator()
    K, _ = lqr(system)
    controllers = {"saturated_lqr": NeuralController(system, hidden=(4,), seed=0),
                   "random_mlp": _random_mlp_controller(system)}
    # (V, a level inside the unsaturated region, a level reaching into saturation)
    lyapunovs = {"quadratic": (QuadraticLyapunov(system), 0.45, 50.0),
                 "neural_relu": (_eigenbasis_lyapunov(system, K), 0.3, 10.0)}
    return {(c, v): (ClosedLoop(system, controllers[c], lyapunovs[v][0]), lyapunovs[v][1], lyapunovs[v][2])
            for c in controllers for v in lyapunovs}


LOOPS = _double_integrator_loops()


def _sampled_violations(loop: ClosedLoop, rho: float, points: int = 201) -> int:
    axes = [torch.linspace(a, b, points, dtype=F64) for a, b in zip(BOX_LOW, BOX_HIGH)]
    grid = torch.cartesian_prod(*axes)
    x_next, decrease, value = loop.evaluate(grid, KAPPA)
    inside = (value <= rho) & (grid.abs().amax(-1) > HOLE)
    leaves = ~((x_next >= torch.tensor(BOX_LOW)) & (x_next <= torch.tensor(BOX_HIGH))).all(-1)
    return int((inside & ((decrease > 0) | leaves)).sum())


def _is_real_violation(loop: ClosedLoop, counterexample: dict, rho: float) -> bool:
    """Re-evaluated here, in float64, independently of the flags verify_z3 set."""
    x = torch.tensor([counterexample["x"]], dtype=F64)
    x_next, decrease, value = loop.evaluate(x, KAPPA)
    in_box = bool(((x >= torch.tensor(BOX_LOW)) & (x <= torch.tensor(BOX_HIGH))).all())
    leaves = not bool(((x_next >= torch.tensor(BOX_LOW)) & (x_next <= torch.tensor(BOX_HIGH))).all())
    outside_hole = float(x.abs().max()) > HOLE
    return in_box and outside_hole and float(value) <= rho and (float(decrease) > 0 or leaves)


@pytest.mark.parametrize("controller, lyapunov", sorted(LOOPS))
def test_z3_agrees_with_the_bound_verifier_on_the_double_integrator(controller, lyapunov):
    loop, small_rho, large_rho = LOOPS[controller, lyapunov]
    for rho, expected in ((small_rho, "verified"), (large_rho, "falsified")):
        exact = verify_z3(loop, BOX_LOW, BOX_HIGH, rho, KAPPA, hole=HOLE, timeout_s=60.0)
        bounded = verify(loop, BOX_LOW, BOX_HIGH, rho, KAPPA, hole=HOLE, max_depth=30)
        assert (exact.status, bounded.status) == (expected, expected), (rho, exact, bounded.status)
        assert exact.wall_time_s > 0
        if expected == "verified":
            assert _sampled_violations(loop, rho) == 0
            continue
        assert _sampled_violations(loop, rho) > 0
        # z3's model may sit within rounding of a boundary (flagged, then a margin query follows):
        # the flags are honest and a float64-confirmed counterexample is found
        for counterexample in exact.counterexamples:
            assert counterexample["float_check_agrees"] == _is_real_violation(loop, counterexample, rho)
            for exact_x, float_x in zip(counterexample["exact"]["x"], counterexample["x"]):
                if "root-obj" not in exact_x:  # a rational, not an algebraic number
                    assert float(Fraction(exact_x)) == float_x
        assert exact.counterexamples[-1]["float_check_agrees"]


def test_a_query_out_of_time_is_a_timeout():
    loop, small_rho, _ = LOOPS["random_mlp", "quadratic"]  # an unsat query that takes z3 seconds
    result = verify_z3(loop, BOX_LOW, BOX_HIGH, small_rho, KAPPA, hole=HOLE, timeout_s=0.001)
    assert result.status == "timeout" and not result.holds
    assert result.timeout == 1 and result.timeout_volume_fraction == 1.0 and result.verified == 0


def test_counterexamples_are_rechecked_in_float64_without_a_hole():
    # without a hole z3 may answer with a state next to the origin, where float64 loses
    # phi(x) - phi(x_eq) to cancellation: such a counterexample is flagged, and a second query asks
    # for a violation by a margin, which float64 confirms
    system = DoubleIntegrator()
    loop = ClosedLoop(system, NeuralController(system, hidden=(4,), seed=0),
                      NeuralLyapunov(system, hidden=(4,), out=2, seed=0))
    result = verify_z3(loop, BOX_LOW, BOX_HIGH, rho=2.0, kappa=KAPPA, hole=0.0)
    assert result.status == "falsified" and result.falsified == 1
    for counterexample in result.counterexamples:
        x = torch.tensor([counterexample["x"]], dtype=F64)
        x_next, decrease, value = loop.evaluate(x, KAPPA)
        leaves = not bool(((x_next >= torch.tensor(BOX_LOW)) & (x_next <= torch.tensor(BOX_HIGH))).all())
        confirmed = float(x.abs().max()) > 0 and float(value) <= 2.0 and (float(decrease) > 0 or leaves)
        assert counterexample["float_check_agrees"] == confirmed
        assert ("note" in counterexample) == (not confirmed)
    assert result.counterexamples[-1]["float_check_agrees"]
    assert [c["margin"] for c in result.counterexamples] in ([0.0], [0.0, ROBUST_MARGIN])
