"""The branch-and-bound verifier: known answers, planted counterexamples found, and every
"verified" cross-checked by dense sampling."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from agents.lyapunov.verifier import ClosedLoop, largest_rho, verify
from envs.control.system import ControlSystem
from lyapunov_cases import scalar_loop




class EulerPendulum(ControlSystem):
    """Yang/Dai's inverted pendulum (m = l = 1, beta = 1, dt = 0.05, explicit Euler, |u| <= 6)."""

    def __init__(self) -> None:
        super().__init__(state_names=("theta", "theta_dot"), input_names=("u",), dt=0.05, x_eq=(0.0, 0.0),
                         u_eq=(0.0,), state_low=(-12.0, -12.0), state_high=(12.0, 12.0), input_low=(-6.0,),
                         input_high=(6.0,), Q=(1.0, 1.0), R=1.0, integrator="euler")

    def _rhs(self, x, u, xp):
        theta, theta_dot = x
        return theta_dot, 9.81 * xp.sin(theta) - theta_dot + u[0]


def _lqr_loop(system, bump: float = 0.0):
    """Saturated LQR with V = x' P x; ``bump`` adds a push away from upright near (0.03, 0)."""
    A, B = system.linearize()
    P = scipy.linalg.solve_discrete_are(A, B, np.eye(2), np.eye(1))
    K = torch.tensor(-np.linalg.solve(B.T @ P @ B + np.eye(1), B.T @ P @ A))
    L = torch.tensor(np.linalg.cholesky(P).T)

    def controller(x, ops):
        u = ops.linear(x, K, None)
        if bump:
            tent = ops.relu(0.01 - ops.abs(x[..., 0] - 0.03) - ops.abs(x[..., 1]))  # a small tent at (0.03, 0)
            u = u + ops.stack([tent]) * bump
        return ops.clamp(u, -6.0, 6.0)

    return ClosedLoop(system, controller, lambda x, ops: ops.sum(ops.square(ops.linear(x, L, None))))


def _sampled_violations(loop, rho, kappa, hole, low, high, points=401):
    axes = [torch.linspace(a, b, points, dtype=torch.float64) for a, b in zip(low, high)]
    grid = torch.cartesian_prod(*axes).reshape(-1, len(low))
    x_next, decrease, value = loop.evaluate(grid, kappa)
    inside = (value <= rho) & ((grid - torch.as_tensor(loop.system.x_eq)).abs().amax(-1) > hole)
    leaves = ~((x_next >= torch.tensor(low)) & (x_next <= torch.tensor(high))).all(-1)
    return int((inside & ((decrease > 0) | leaves)).sum())


@pytest.mark.parametrize("a, kappa, expected", [(0.9, 0.05, "verified"), (0.9, 0.2, "falsified"),
                                                (-0.9, 0.05, "verified"), (1.1, 0.0, "falsified")])
def test_scalar_system_known_answer(a, kappa, expected):
    # V = |x|: V(a x) - (1 - kappa) V(x) = (|a| - 1 + kappa) |x| <= 0 exactly when |a| <= 1 - kappa
    loop = scalar_loop(a)
    result = verify(loop, [-2.0], [2.0], rho=1.5, kappa=kappa, hole=0.01, max_depth=20)
    assert result.status == expected
    if expected == "falsified":
        counterexample = result.counterexamples[0]
        assert counterexample["decrease"] > 0 or counterexample["leaves_box"]
        assert abs(counterexample["x"][0]) <= 1.5  # inside the sublevel set V <= rho


def test_lqr_pendulum_verified_claims_hold_under_dense_sampling():
    loop = _lqr_loop(EulerPendulum())
    for rho in (5.0, 50.0):
        result = verify(loop, [-12.0, -12.0], [12.0, 12.0], rho=rho, kappa=0.01, hole=0.01)
        assert result.holds and result.falsified == 0 and result.timeout == 0
        assert _sampled_violations(loop, rho, 0.01, 0.01, [-12.0, -12.0], [12.0, 12.0]) == 0


def test_a_level_too_large_is_falsified_with_a_real_counterexample():
    loop = _lqr_loop(EulerPendulum())
    result = verify(loop, [-12.0, -12.0], [12.0, 12.0], rho=1000.0, kappa=0.01, hole=0.01)
    assert result.status == "falsified"
    assert _sampled_violations(loop, 1000.0, 0.01, 0.01, [-12.0, -12.0], [12.0, 12.0]) > 0
    x = torch.tensor([result.counterexamples[0]["x"]], dtype=torch.float64)
    _, decrease, value = loop.evaluate(x, 0.01)
    assert value.item() <= 1000.0 and (decrease.item() > 0 or result.counterexamples[0]["leaves_box"])


def test_a_planted_counterexample_is_found():
    loop = _lqr_loop(EulerPendulum(), bump=2000.0)  # up to +20 of torque (saturated at 6) near (0.03, 0)
    result = verify(loop, [-12.0, -12.0], [12.0, 12.0], rho=5.0, kappa=0.01, hole=0.01)
    assert result.status == "falsified"
    near = [c for c in result.counterexamples if abs(c["x"][0] - 0.03) + abs(c["x"][1]) < 0.01]
    assert near, result.counterexamples[:3]


def test_largest_rho_is_sound_and_nearly_tight():
    loop = _lqr_loop(EulerPendulum())
    rho, result = largest_rho(loop, [-12.0, -12.0], [12.0, 12.0], kappa=0.01, hole=0.01, tolerance=0.05)
    assert rho > 0 and result is not None and result.holds
    assert _sampled_violations(loop, rho, 0.01, 0.01, [-12.0, -12.0], [12.0, 12.0]) == 0
    assert not verify(loop, [-12.0, -12.0], [12.0, 12.0], rho=rho * 1.2, kappa=0.01, hole=0.01).holds


def test_bad_problems_are_refused():
    loop = _lqr_loop(EulerPendulum())
    with pytest.raises(ValueError, match="does not contain the equilibrium"):
        verify(loop, [1.0, 1.0], [2.0, 2.0], rho=1.0, kappa=0.01)
    with pytest.raises(ValueError, match="kappa must be in"):
        verify(loop, [-1.0, -1.0], [1.0, 1.0], rho=1.0, kappa=1.5)
    with pytest.raises(ValueError, match="2 lower and upper limits"):
        verify(loop, [-1.0], [1.0], rho=1.0, kappa=0.01)
