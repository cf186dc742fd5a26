"""ControlSystem.symbolic_f: the SymPy form of every continuous plant equals its numpy dynamics, and
SymPy's exact Jacobian at the equilibrium equals the autograd one."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from envs.control import CSTR, ClippedPendulum, DoubleIntegrator, InvertedPendulum, NLCPendulum


@pytest.mark.parametrize("cls", [CSTR, ClippedPendulum, InvertedPendulum, NLCPendulum])
def test_symbolic_dynamics_equal_the_numeric_ones(cls):
    system = cls()
    states, inputs, rhs = system.symbolic_f()
    assert [str(s) for s in states] == list(system.state_names) and len(rhs) == system.n_states
    rng = np.random.default_rng(0)
    scale = np.maximum(np.abs(system.x_eq), 1.0)
    x = system.x_eq + 0.1 * scale * rng.uniform(-1, 1, (20, system.n_states))
    u = system.u_eq + rng.uniform(-1, 1, (20, system.n_inputs))
    exact = sympy.lambdify([*states, *inputs], rhs, "numpy")(*x.T, *u.T)
    np.testing.assert_allclose(np.stack(np.broadcast_arrays(*exact), -1), system.f(x, u), rtol=1e-10, atol=1e-9)
    jacobian = sympy.Matrix(rhs).jacobian(states).subs(dict(zip([*states, *inputs], [*system.x_eq, *system.u_eq])))
    np.testing.assert_allclose(np.array(jacobian, dtype=float), system.continuous_jacobian()[0], rtol=1e-8, atol=1e-8)


def test_a_natively_discrete_plant_has_no_symbolic_dynamics():
    with pytest.raises(NotImplementedError, match="natively discrete"):
        DoubleIntegrator().symbolic_f()
