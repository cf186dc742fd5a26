"""agents.lyapunov_discovery.verifier: interval enclosures contain every sampled value, known Lyapunov
functions are proved, known failures are refuted with a concrete counterexample."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy

from agents.lyapunov_discovery.verifier import interval, verify
from envs.control.autonomous import DampedPendulum, Polynomial3D, StableLinear, VanDerPolReversed

x1, x2 = sympy.symbols("x1 x2", real=True)


@pytest.mark.parametrize("expression", [
    x1**2 - 3 * x1 * x2 + sympy.Rational(1, 3), sympy.sin(x1) * sympy.cos(x2) - x2**3, sympy.exp(x1 - x2) * x1**4,
    (x1 + x2) ** 2 * sympy.cos(3 * x1),
])
def test_interval_enclosures_contain_every_sampled_value(expression):
    rng = np.random.default_rng(0)
    centre = rng.uniform(-4, 4, (300, 2))
    width = rng.uniform(0, 3, (300, 2)) * rng.integers(0, 2, (300, 1))  # some boxes are points
    low, high = centre - width, centre + width
    lo, hi = interval(expression, [x1, x2], low, high)
    # the true values at float points, in 100-bit arithmetic (a float64 evaluation is itself a few ulps off)
    f = sympy.lambdify([x1, x2], expression, "mpmath")
    with mpmath.workprec(100):
        for _ in range(4):
            points = low + (high - low) * rng.random(low.shape)
            for k, (a, b) in enumerate(points):
                value = f(mpmath.mpf(a), mpmath.mpf(b))
                assert mpmath.mpf(lo[k]) <= value <= mpmath.mpf(hi[k]), (expression, a, b)
    assert np.all(lo <= hi)


def test_known_lyapunov_functions_are_proved():
    states, rhs = Polynomial3D().symbolic_f()
    result = verify(sum(s**2 for s in states), states, rhs, *Polynomial3D().region)
    assert result.holds and result.verified > 0 and result.counterexample is None
    linear = StableLinear()
    states, rhs = linear.symbolic_f()
    assert verify(states[0] ** 2 + states[1] ** 2, states, rhs, *linear.region).holds
    vdp = VanDerPolReversed()  # dV/dt = 2 (x1^2 - 1) x2^2: not < 0 on x2 = 0, so the circle is not proved
    states, rhs = vdp.symbolic_f()
    assert not verify(states[0] ** 2 + states[1] ** 2, states, rhs, *vdp.region, max_depth=14).holds


def test_known_failures_are_refuted_with_a_real_counterexample():
    vdp = VanDerPolReversed()
    states, rhs = vdp.symbolic_f()
    V = states[0] ** 2 + states[1] ** 2
    result = verify(V, states, rhs, [-1.5, -1.5], [1.5, 1.5])
    assert not result.holds and result.falsified >= 1
    x = result.counterexample
    assert 2 * (x[0] ** 2 - 1) * x[1] ** 2 >= 0 and np.abs(x).max() > 0.075  # dV/dt >= 0 there
    pendulum = DampedPendulum()  # the energy's dV/dt = -b omega^2 vanishes on omega = 0
    states, rhs = pendulum.symbolic_f()
    energy = pendulum.g / pendulum.l * (1 - sympy.cos(states[0])) + states[1] ** 2 / 2
    assert not verify(energy, states, rhs, *pendulum.region).holds


def test_bad_input_is_refused():
    states, rhs = StableLinear().symbolic_f()
    with pytest.raises(ValueError, match="must contain the equilibrium"):
        verify(states[0] ** 2, states, rhs, [0.1, -1], [1, 1])
    with pytest.raises(ValueError, match="the verifier bounds .* not log"):
        verify(sympy.log(1 + states[0] ** 2) + states[1] ** 2, states, rhs, [-1, -1], [1, 1])


def test_z3_proves_and_refutes_polynomial_claims():
    from agents.lyapunov_discovery.verifier import verify_polynomial_z3

    system = Polynomial3D()
    states, rhs = system.symbolic_f()
    assert verify_polynomial_z3(sum(s**2 for s in states), states, rhs, *system.region) == ("proved", None)
    vdp = VanDerPolReversed()
    states, rhs = vdp.symbolic_f()
    verdict, x = verify_polynomial_z3(states[0] ** 2 + states[1] ** 2, states, rhs, [-1.5, -1.5], [1.5, 1.5])
    assert verdict == "refuted"
    value, derivative = x @ x, 2 * (x[0] ** 2 - 1) * x[1] ** 2  # re-checked in float64
    assert value <= 0 or derivative >= 0
    with pytest.raises(ValueError, match="polynomial claims only"):
        verify_polynomial_z3(1 - sympy.cos(states[0]) + states[1] ** 2, states, rhs, [-1, -1], [1, 1])
