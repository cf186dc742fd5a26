"""Weak decrease (dV/dt <= 0, stability in Lyapunov's sense) end to end: exact interval rounding where a
derivative vanishes, the energies of the pendulum and the lossless power system proved, the 6-D power
system's line of equilibria caught, and z3 on the reversed Van der Pol circle."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
import torch

from agents.lyapunov_discovery.falsifier import falsify
from agents.lyapunov_discovery.verifier import interval, verify, verify_polynomial_z3
from envs.control.autonomous import make_system


def test_vanishing_bounds_stay_exactly_zero():
    w, x = sympy.symbols("w x", real=True)
    low, high = np.array([[-0.3, -1.0], [0.1, 0.5]]), np.array([[0.7, 1.0], [0.2, 1.0]])
    _, upper = interval(-2 * w**2, [w, x], low, high)
    assert upper[0] == 0.0 and upper[1] < 0  # -2 w^2 on a box holding w = 0: exactly 0, not an ulp above
    _, upper = interval((x**2 - 1) * w**2, [w, x], low, high)
    assert upper[0] == 0.0 and upper[1] == 0.0  # x^2 - 1 <= 0 exactly for |x| <= 1 (1.0^2 is exact)
    lower, _ = interval(w**2 + x**2, [w, x], low, high)
    assert lower[0] == 0.0 and lower[1] == pytest.approx(0.1**2 + 0.25, rel=1e-15) and lower[1] <= 0.1**2 + 0.25


def energy(system, states):
    if system.name == "damped_pendulum":
        theta, omega = states
        return (1 - sympy.cos(theta)) + omega**2 / 2
    if system.name == "power_3bus_relative":
        t13, t23, *omega = states
        return sum(w**2 for w in omega) + 3 - sympy.cos(t13) - sympy.cos(t23) - sympy.cos(t13 - t23)
    delta, omega = states[:3], states[3:]
    return sum(w**2 for w in omega) + sum(1 - sympy.cos(delta[i] - delta[j]) for i in range(3) for j in range(i + 1, 3))


@pytest.mark.parametrize("name", ["damped_pendulum", "power_3bus_relative"])
def test_energies_are_weak_not_strict_lyapunov_functions(name):
    system = make_system(name)
    states, rhs = system.symbolic_f()
    V = energy(system, states)
    weak = verify(V, states, rhs, *system.region, decrease="weak", max_depth=42)
    assert weak.holds and weak.verified > 0
    strict = verify(V, states, rhs, *system.region, max_depth=16)
    assert not strict.holds  # dV/dt = -c omega^2 vanishes on omega = 0
    V_torch = sympy.lambdify(states, V, modules=[{"cos": torch.cos}])
    weak_result = falsify(lambda x: V_torch(*x.T), system.f, *system.region, decrease="weak", n_samples=500,
                          attack_steps=5)
    assert not weak_result.falsified  # autograd's dV/dt is 0 up to float noise on omega = 0: within tolerance
    strict_result = falsify(lambda x: V_torch(*x.T), system.f, *system.region, n_samples=500, attack_steps=5)
    assert strict_result.falsified and torch.all(strict_result.counterexamples[:, -1] == 0)  # the omega = 0 subspace


def test_the_6d_power_system_needs_its_conserved_quantity():
    system = make_system("power_3bus")
    states, rhs = system.symbolic_f()
    jacobian = np.array(sympy.Matrix(rhs).jacobian(states).subs({s: 0 for s in states}), dtype=float)
    eigenvalues = np.sort(np.linalg.eigvals(jacobian).real)
    assert abs(eigenvalues[-1]) < 1e-12 and eigenvalues[-2] < 0  # one zero mode: the line of equilibria
    V = energy(system, states)
    result = verify(V, states, rhs, *system.region, decrease="weak", max_depth=42)
    assert not result.holds and result.falsified >= 1
    x = result.counterexample  # a synchronous state: equal angles, zero frequencies, where the energy is 0
    assert np.allclose(x[:3], x[0]) and np.allclose(x[3:], 0) and abs(x[0]) > 0
    conserved = sum(states)  # sum of angles + sum of frequencies (m / (d + droop) = 1)
    assert sympy.simplify(sum(sympy.diff(conserved, s) * f for s, f in zip(states, rhs))) == 0
    assert verify(V + conserved**2, states, rhs, *system.region, decrease="weak", max_depth=42).holds


def test_z3_weak_decrease_on_the_reversed_van_der_pol_circle():
    system = make_system("van_der_pol_reversed")
    states, rhs = system.symbolic_f()
    V = states[0] ** 2 + states[1] ** 2  # dV/dt = 2 (x1^2 - 1) x2^2 <= 0 on |x1| <= 1
    assert verify(V, states, rhs, *system.region, decrease="weak").holds
    assert verify_polynomial_z3(V, states, rhs, *system.region, decrease="weak")[0] == "proved"
    assert verify_polynomial_z3(V, states, rhs, *system.region)[0] == "refuted"  # strict: 0 on x2 = 0
    status, x = verify_polynomial_z3(V, states, rhs, [-1.5, -1.5], [1.5, 1.5], decrease="weak")
    assert status == "refuted" and abs(x[0]) > 1 and x[1] != 0


def test_unknown_decrease_is_refused():
    system = make_system("stable_linear")
    states, rhs = system.symbolic_f()
    with pytest.raises(ValueError, match="unknown decrease 'slow'; allowed: strict, weak"):
        verify(states[0] ** 2, states, rhs, *system.region, decrease="slow")
