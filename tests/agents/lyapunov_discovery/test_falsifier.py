"""agents.lyapunov_discovery.falsifier on envs.control.autonomous: known Lyapunov functions pass, known
non-Lyapunov ones are caught with real counterexamples, and the systems' torch, numpy and SymPy forms agree."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import sympy
import torch

from agents.lyapunov_discovery.expressions import TokenLibrary
from agents.lyapunov_discovery.falsifier import falsify, lie_derivative
from envs.control.autonomous import SYSTEMS, Polynomial3D, StableLinear, VanDerPolReversed, make_system


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_system_forms_agree_and_the_origin_is_a_stable_equilibrium(name):
    system = make_system(name)
    low, high = system.region
    x = np.random.default_rng(0).uniform(low, high, (30, system.n_states))
    numeric = system.f(x)
    torch.testing.assert_close(system.f(torch.as_tensor(x)), torch.as_tensor(numeric), rtol=1e-12, atol=1e-12)
    states, rhs = system.symbolic_f()
    exact = sympy.lambdify(states, rhs, "numpy")(*x.T)
    np.testing.assert_allclose(np.stack(np.broadcast_arrays(*exact), -1), numeric, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(system.f(np.zeros(system.n_states)), 0.0)
    jacobian = np.array(sympy.Matrix(rhs).jacobian(states).subs({s: 0 for s in states}), dtype=float)
    eigenvalues = np.sort(np.linalg.eigvals(jacobian).real)
    if name == "power_3bus":  # a line of equilibria (every synchronous state): one zero mode
        eigenvalues = eigenvalues[:-1]
    assert eigenvalues.max() < 0  # locally exponentially stable (in the other directions)


def rk4_final_states(system, x, seconds=30.0, dt=0.01):
    for _ in range(int(seconds / dt)):
        k1 = system.f(x)
        k2 = system.f(x + dt / 2 * k1)
        k3 = system.f(x + dt / 2 * k2)
        x = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + system.f(x + dt * k3))
    return x


def test_van_der_pol_region_lies_inside_the_region_of_attraction():
    system = VanDerPolReversed()

    def corners_and_midpoints(h):
        return np.array([[a, b] for a in (-h, 0.0, h) for b in (-h, 0.0, h)])

    assert np.abs(rk4_final_states(system, corners_and_midpoints(system.region[1][0]))).max() < 1e-3
    with np.errstate(all="ignore"):  # a larger box leaves the region of attraction: some states blow up
        escaped = rk4_final_states(system, corners_and_midpoints(1.1))
    assert not np.all(np.abs(escaped) < 1e-3)


def expression(library, names):
    sequence = library.encode(names)
    return lambda x: library.evaluate(sequence, x)


def test_known_lyapunov_functions_pass():
    library = TokenLibrary(3)
    V = expression(library, ["add", "square", "x1", "add", "square", "x2", "square", "x3"])
    system = Polynomial3D()
    result = falsify(V, system.f, *system.region)
    assert not result.falsified and result.satisfied_share == 1.0 and result.value_at_origin == 0.0
    # V'Px from the Lyapunov equation A'P + PA = -I for the linear system
    A = np.array(StableLinear.A)
    P = torch.as_tensor(scipy.linalg.solve_continuous_lyapunov(A.T, -np.eye(2)))
    linear = StableLinear()
    assert not falsify(lambda x: ((x @ P) * x).sum(-1), linear.f, *linear.region).falsified


def test_non_lyapunov_functions_are_caught_with_real_counterexamples():
    library = TokenLibrary(2, constants=(1.0,))
    circle = expression(library, ["add", "square", "x1", "square", "x2"])
    system = VanDerPolReversed()
    result = falsify(circle, system.f, np.array([-1.2, -1.2]), np.array([1.2, 1.2]))
    # dV/dt = 2 (x1^2 - 1) x2^2 >= 0 where |x1| >= 1 or x2 = 0 (subspace samples): every counterexample is one
    assert result.falsified and 0.5 < result.satisfied_share < 1.0
    x = result.counterexamples
    _, derivative = lie_derivative(circle, system.f, x)
    assert torch.all(derivative.detach() >= 0)
    assert torch.all((x[:, 0].abs() >= 1.0 - 1e-9) | (x[:, 1] == 0))
    assert (x[:, 0].abs() > 1.0).any() and (x[:, 1] == 0).any()
    torch.testing.assert_close(derivative.detach(), 2 * (x[:, 0] ** 2 - 1) * x[:, 1] ** 2)
    # not positive definite: V = x1^2 vanishes on the x2 axis, and it rises along the flow somewhere
    linear = StableLinear()
    degenerate = falsify(expression(library, ["square", "x1"]), linear.f, *linear.region)
    assert degenerate.falsified and degenerate.violation[0] > 0
    # V(0) != 0
    shifted = falsify(expression(library, ["add", "1.0", "add", "square", "x1", "square", "x2"]), linear.f,
                      *linear.region)
    assert shifted.value_at_origin == 1.0 and shifted.falsified


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="unknown system 'lorenz'; known: stable_linear"):
        make_system("lorenz")
    with pytest.raises(ValueError, match="must contain the equilibrium 0"):
        falsify(lambda x: (x * x).sum(-1), StableLinear().f, np.array([0.5, -1.0]), np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="states have 2 entries"):
        StableLinear().f(np.zeros((4, 3)))
