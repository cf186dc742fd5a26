"""The condensed MPC problem: its QP is the MPC cost and constraints; with the DARE terminal cost
the unconstrained MPC is the LQR; set-ups that cannot be posed are refused with clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from agents.mpc import LinearMPCProblem, MPCSetupError


def random_problem(rng, n=3, m=2, horizon=5, **kwargs):
    A = rng.normal(size=(n, n)) * 0.6
    B = rng.normal(size=(n, m))
    Q = np.diag(rng.uniform(0.5, 2.0, n))
    R = np.diag(rng.uniform(0.1, 1.0, m))
    return LinearMPCProblem(A, B, Q, R, horizon, **kwargs)


def test_condensed_cost_equals_a_rollout_of_the_cost():
    rng = np.random.default_rng(0)
    problem = random_problem(rng, x_eq=[1.0, -2.0, 0.5], u_eq=[0.3, 0.0])
    qp = problem.condensed()
    for _ in range(20):
        dx, U = rng.normal(size=3), rng.normal(size=problem.horizon * 2)
        assert qp.objective(dx, U) == pytest.approx(problem.rollout_cost(dx, U), rel=1e-10, abs=1e-10)


def test_condensed_constraints_equal_the_constraints_along_the_rollout(plants):
    problem = plants.double_integrator_problem(horizon=4, x_eq=[1.0, 0.0], u_eq=[0.0],
                                               input_low=[-0.5], input_high=[1.5])
    qp = problem.condensed()
    rng = np.random.default_rng(1)
    for _ in range(200):
        x0 = rng.uniform(-12, 12, 2)
        U_abs = rng.uniform(-2, 2, problem.horizon)
        # simulate in absolute coordinates and check every constraint directly
        x, ok = x0.copy(), True
        for u in U_abs:
            ok &= bool(-0.5 <= u <= 1.5)
            x = problem.x_eq + problem.A @ (x - problem.x_eq) + problem.B[:, 0] * (u - problem.u_eq[0])
            ok &= bool(np.all(np.abs(x) <= 10) and abs(x[0] + 2 * x[1]) <= 25)
        U = U_abs - problem.u_eq[0]
        assert bool(np.all(qp.G @ U <= qp.W + qp.S @ (x0 - problem.x_eq))) == ok


def test_dare_terminal_cost_makes_the_unconstrained_mpc_the_lqr():
    rng = np.random.default_rng(2)
    problem = random_problem(rng, horizon=6)
    qp = problem.condensed()
    assert qp.G.shape[0] == 0  # no constraints
    P = scipy.linalg.solve_discrete_are(problem.A, problem.B, problem.Q, problem.R)
    K = -np.linalg.solve(problem.R + problem.B.T @ P @ problem.B, problem.B.T @ P @ problem.A)
    np.testing.assert_allclose(problem.K_lqr, K, atol=1e-10)
    for _ in range(10):
        dx = rng.normal(size=3)
        U = np.linalg.solve(qp.H, -qp.F @ dx)
        np.testing.assert_allclose(U[:2], K @ dx, atol=1e-8)
        # the whole sequence is the closed-loop LQR, and the optimal cost is x'Px
        x = dx.copy()
        for k in range(problem.horizon):
            np.testing.assert_allclose(U[2 * k:2 * k + 2], K @ x, atol=1e-8)
            x = problem.A @ x + problem.B @ (K @ x)
        assert qp.objective(dx, U) == pytest.approx(dx @ P @ dx, rel=1e-9)


def test_saturated_lqr_respects_the_input_box(plants):
    problem = plants.double_integrator_problem()
    u = problem.lqr_input(np.array([[9.0, 5.0], [-9.0, -5.0], [0.01, 0.0]]))
    assert u[0, 0] == -1.0 and u[1, 0] == 1.0
    assert u[2, 0] == pytest.approx((problem.K_lqr @ [0.01, 0.0])[0])


# -- bad set-ups ------------------------------------------------------------------------------
def test_constraints_that_exclude_the_equilibrium_are_an_infeasible_setup(plants):
    with pytest.raises(MPCSetupError, match="infeasible MPC set-up.*excludes the equilibrium"):
        plants.double_integrator_problem(h_x=[-1.0, 25.0])  # x1 + 2 x2 <= -1 excludes the origin
    with pytest.raises(MPCSetupError, match="infeasible MPC set-up.*input box"):
        plants.double_integrator_problem(input_low=[0.5], input_high=[1.0])


def test_an_empty_box_is_an_infeasible_setup(plants):
    with pytest.raises(MPCSetupError, match=r"state box is empty \(state_low\[1\] = 1.0 > state_high\[1\] = -1.0\)"):
        plants.double_integrator_problem(state_low=[-10, 1], state_high=[10, -1])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"horizon": 0}, "horizon must be an integer >= 1"),
        ({"R": 0.0}, "R must be symmetric positive definite"),
        ({"Q": -np.eye(2)}, "Q must be symmetric positive semi-definite"),
        ({"A": [[1.0, np.nan], [0.0, 1.0]]}, "A has non-finite entries"),
        ({"B": [[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]]}, "B has shape"),
        ({"H_x": [[1.0, 2.0]], "h_x": None}, "give both H_x and h_x"),
    ],
)
def test_malformed_problems_are_refused(plants, changes, message):
    horizon = changes.pop("horizon", 10)
    with pytest.raises(MPCSetupError, match=message):
        plants.double_integrator_problem(horizon=horizon, **changes)


def test_no_stabilising_terminal_cost_is_refused():
    # an unstable mode the input cannot reach: (A, B) is not stabilisable
    with pytest.raises(MPCSetupError, match="Riccati equation has no stabilising solution"):
        LinearMPCProblem([[2.0, 0.0], [0.0, 0.5]], [[0.0], [1.0]], np.eye(2), 1.0, 5)


def test_from_system_linearises_at_the_equilibrium(plants):
    system = plants.LinearSystem(**plants.DOUBLE_INTEGRATOR, x_eq=[2.0, 0.0], u_eq=[0.0])
    problem = LinearMPCProblem.from_system(system, horizon=3)
    np.testing.assert_array_equal(problem.A, system.A)
    np.testing.assert_array_equal(problem.x_eq, [2.0, 0.0])
    np.testing.assert_array_equal(problem.state_high, [10.0, 10.0])


def test_a_system_whose_equilibrium_is_not_a_fixed_point_is_refused(plants):
    system = plants.LinearSystem(**plants.DOUBLE_INTEGRATOR, drift=[0.0, 0.1], name="drifting")
    message = r"drifting: .* is not an equilibrium: \|\|F\(x_eq, u_eq\) - x_eq\|\| = 0.1"
    with pytest.raises(MPCSetupError, match=message):
        LinearMPCProblem.from_system(system, horizon=3)


def test_a_system_with_non_finite_jacobians_is_refused(plants):
    system = plants.LinearSystem(**plants.DOUBLE_INTEGRATOR, jacobian_scale=np.nan, name="singular")
    with pytest.raises(MPCSetupError, match="singular: the Jacobians at the equilibrium are not finite"):
        LinearMPCProblem.from_system(system, horizon=3)


def test_a_system_with_a_non_finite_equilibrium_is_refused(plants):
    system = plants.LinearSystem(**plants.DOUBLE_INTEGRATOR, x_eq=[np.nan, 0.0], name="nowhere")
    with pytest.raises(MPCSetupError, match="nowhere: no valid linearisation point"):
        LinearMPCProblem.from_system(system, horizon=3)


def test_the_fingerprint_changes_with_any_number():
    rng = np.random.default_rng(3)
    a, b = random_problem(rng), random_problem(np.random.default_rng(3))
    assert a.fingerprint() == b.fingerprint()
    c = LinearMPCProblem(a.A, a.B, a.Q, a.R, a.horizon, input_high=[1.0, 1.0])
    assert c.fingerprint() != a.fingerprint()


def test_linear_safety_constraints_become_mpc_state_constraints():
    from envs.control.cstr import CSTR

    system = CSTR(T_safe=(321.0, 327.0), Tc_low=290.0, Tc_high=310.0)
    problem = LinearMPCProblem.from_system(system, 5)
    rows = {tuple(row) + (bound,) for row, bound in zip(problem.H_x.tolist(), problem.h_x.tolist())}
    assert {(0.0, -1.0, -321.0), (0.0, 1.0, 327.0)} <= rows
    assert LinearMPCProblem.from_system(CSTR(), 5).h_x.size == 0
