"""The control-system models: dynamics on every backend, linearisation, integrators, the CSTR's
steady states, constraints and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from envs.control import CSTR, ClippedPendulum, ControlSystem, DoubleIntegrator

SYSTEMS = {
    "cstr": lambda **kw: CSTR(**kw),
    "cstr_safe": lambda **kw: CSTR(Tc_low=290.0, Tc_high=310.0, T_safe=(321.0, 327.0), **kw),
    "pendulum": lambda **kw: ClippedPendulum(**kw),
    "double_integrator": lambda **kw: DoubleIntegrator(**kw),
}


def sample_states(system: ControlSystem, rng: np.random.Generator, count: int) -> np.ndarray:
    low, high = system.state_low, system.state_high
    if isinstance(system, CSTR):  # the operating range: no runaway within a step
        low, high = np.array([0.7, 315.0]), np.array([0.95, 335.0])
    return rng.uniform(low, high, (count, system.n_states))


def sample_inputs(system: ControlSystem, rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.uniform(system.input_low, system.input_high, (count, system.n_inputs))


@pytest.fixture(params=list(SYSTEMS))
def system(request) -> ControlSystem:
    return SYSTEMS[request.param]()


def test_sizes_and_types(system):
    assert system.n_states == len(system.state_names) == system.x_eq.shape[0]
    assert system.n_inputs == len(system.input_names) == system.u_eq.shape[0]
    for name in ("x_eq", "u_eq", "state_low", "state_high", "input_low", "input_high", "Q", "R", "x_ref", "u_ref"):
        assert getattr(system, name).dtype == np.float64, name
    assert system.integrator == "rk4"


def test_the_equilibrium_is_one(system):
    assert system.equilibrium_residual() < 1e-10


def test_torch_numpy_and_scalar_steps_agree(system):
    rng = np.random.default_rng(0)
    x, u = sample_states(system, rng, 64), sample_inputs(system, rng, 64)
    if isinstance(system, CSTR):  # and through a runaway, where substeps shorten
        x[:4] = rng.uniform([0.3, 350.0], [0.9, 380.0], (4, 2))
    batch_numpy = system.discrete_step(x, u)
    batch_torch = system.discrete_step(torch.as_tensor(x), torch.as_tensor(u)).numpy()
    one_by_one = np.stack([system.step_state(a, b) for a, b in zip(x, u)])
    scale = np.maximum(np.abs(batch_torch), 1.0)
    assert np.max(np.abs(batch_numpy - batch_torch) / scale) < 1e-9
    assert np.max(np.abs(one_by_one - batch_torch) / scale) < 1e-9


def test_dynamics_batch_over_leading_dimensions_and_broadcast(system):
    rng = np.random.default_rng(1)
    x = torch.as_tensor(sample_states(system, rng, 15).reshape(5, 3, -1))
    u = torch.as_tensor(system.u_eq)
    x_next = system.discrete_step(x, u)
    assert x_next.shape == x.shape and x_next.dtype == torch.float64
    assert torch.allclose(x_next[2, 1], system.discrete_step(x[2, 1], u), rtol=1e-12, atol=1e-12)
    assert system.safety(x).shape == (5, 3, system.n_safety)
    assert system.state_constraints(x).shape == (5, 3, len(system.constraint_names))
    assert system.stage_cost(x, u).shape == (5, 3)


def test_discrete_step_is_differentiable(system):
    rng = np.random.default_rng(2)
    x = torch.tensor(sample_states(system, rng, 3), requires_grad=True)
    u = torch.tensor(sample_inputs(system, rng, 3), requires_grad=True)
    assert torch.autograd.gradcheck(system.discrete_step, (x, u))
    system.stage_cost(system.discrete_step(x, u), u).sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(u.grad).all()


def central_differences(system: ControlSystem, x: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    def column(point, i, step_of):
        eps = 1e-6 * max(1.0, abs(point[i]))
        plus, minus = point.copy(), point.copy()
        plus[i] += eps
        minus[i] -= eps
        return (step_of(plus) - step_of(minus)) / (2 * eps)

    A = np.column_stack([column(x, i, lambda p: system.step_state(p, u)) for i in range(len(x))])
    B = np.column_stack([column(u, j, lambda p: system.step_state(x, p)) for j in range(len(u))])
    return A, B


def test_linearize_matches_central_differences(system):
    rng = np.random.default_rng(3)
    points = [(system.x_eq, system.u_eq)]
    points += [(sample_states(system, rng, 1)[0], sample_inputs(system, rng, 1)[0]) for _ in range(2)]
    if isinstance(system, CSTR):  # the open-loop unstable steady state
        points.append(CSTR.steady_state_for_Ca(0.4999))
    for x, u in points:
        if isinstance(system, ClippedPendulum):
            x = x * np.array([0.9, 1.0])  # stay off the wrap-around at theta = +-pi
        A, B = system.linearize(x, u)
        A_fd, B_fd = central_differences(system, x, u)
        assert A.shape == (system.n_states, system.n_states) and B.shape == (system.n_states, system.n_inputs)
        assert np.allclose(A, A_fd, rtol=1e-6, atol=1e-7), (A, A_fd)
        assert np.allclose(B, B_fd, rtol=1e-6, atol=1e-7), (B, B_fd)


def test_linearize_defaults_to_the_equilibrium(system):
    A, B = system.linearize()
    A_eq, B_eq = system.linearize(system.x_eq, system.u_eq)
    assert np.array_equal(A, A_eq) and np.array_equal(B, B_eq)


@pytest.mark.parametrize("name", ["cstr", "pendulum"])
def test_rk4_and_euler_converge_at_their_orders(name):
    """Halving the substep divides the one-step error by about 2 (Euler: global order 1 over a
    fixed horizon) and 16 (RK4: order 4)."""
    rng = np.random.default_rng(4)
    x0 = sample_states(SYSTEMS[name](), rng, 4)
    u = sample_inputs(SYSTEMS[name](), rng, 4)
    if name == "pendulum":
        x0[:, 0] *= 0.5  # no wrap-around within the step
    exact = SYSTEMS[name](substeps=512).discrete_step(x0, u)
    for integrator, order, substeps in (("euler", 1, (16, 32, 64)), ("rk4", 4, (4, 8, 16))):
        errors = [np.max(np.abs(SYSTEMS[name](integrator=integrator, substeps=n).discrete_step(x0, u) - exact))
                  for n in substeps]
        ratios = np.array(errors[:-1]) / np.array(errors[1:])
        assert np.all(np.abs(np.log2(ratios) - order) < 0.35), (integrator, errors, ratios)


def test_cstr_steady_state_at_tc_300_is_open_loop_unstable():
    system = CSTR()
    x = system.steady_state(300.0, x_guess=(0.5, 350.0))
    assert x[0] == pytest.approx(0.4999, abs=1e-4) and x[1] == pytest.approx(350.0, abs=0.01)
    assert np.abs(system.f(x, [300.0])).max() < 1e-9
    A_c, _ = system.continuous_jacobian(x, [300.0])
    assert sorted(np.linalg.eigvals(A_c).real) == pytest.approx([-0.454, 2.834], abs=1e-3)
    # the discrete linearisation shows the same instability: one eigenvalue outside the unit circle
    A, _ = system.linearize(x, [300.0])
    assert np.max(np.abs(np.linalg.eigvals(A))) == pytest.approx(np.exp(2.834 * system.dt), rel=1e-3)


def test_cstr_equilibrium_is_the_steady_state_of_its_concentration():
    for Ca in (0.85, 0.87, 0.9):
        x, u = CSTR.steady_state_for_Ca(Ca)
        assert x[0] == Ca and np.abs(CSTR().f(x, u)).max() < 1e-9
    system = CSTR()
    assert system.x_eq == pytest.approx([0.87, 325.268], abs=1e-3) and system.u_eq == pytest.approx([300.446], abs=1e-3)
    assert CSTR(Ca_eq=0.4999).u_eq == pytest.approx([300.0], abs=1e-3)
    with pytest.raises(ValueError, match=r"concentration must lie in \(0, 1\)"):
        CSTR.steady_state_for_Ca(1.2)


def test_cstr_runaway_is_integrated_stably():
    """Full coolant heat drives the reactor into runaway (over 450 K), where its Jacobian reaches
    the thousands: the stability-limited substeps follow a fine fixed-step solution."""
    system = CSTR(Tc_high=310.0)
    fine = CSTR(Tc_high=310.0, substeps=2048)  # h = 2e-4 min, stable everywhere on the way
    x_ours = x_fine = np.array([0.87, 325.0])
    peak = 0.0
    for _ in range(12):
        x_ours = system.step_state(x_ours, np.array([310.0]))
        x_fine = fine.step_state(x_fine, np.array([310.0]))
        peak = max(peak, x_ours[1])
        assert np.allclose(x_ours, x_fine, rtol=5e-5, atol=1e-5)  # about 0.01 K at the peak
    assert peak > 450.0


def test_cstr_safety_is_the_temperature_band():
    system = CSTR(T_safe=(321.0, 327.0))
    g = system.safety(np.array([[0.87, 320.0], [0.87, 324.0], [0.87, 328.0]]))
    assert g.tolist() == [[1.0, -7.0], [-3.0, -3.0], [-7.0, 1.0]]
    assert CSTR().safety(np.array([0.87, 324.0])).shape == (0,)
    assert system.constraint_names[-2:] == ("g[0](x) <= 0", "g[1](x) <= 0")


def test_stage_cost_is_the_quadratic_form(system):
    rng = np.random.default_rng(5)
    x, u = sample_states(system, rng, 1)[0], sample_inputs(system, rng, 1)[0]
    dx, du = x - system.x_ref, u - system.u_ref
    expected = dx @ system.Q @ dx + du @ system.R @ du
    assert system.stage_cost(x, u) == pytest.approx(expected, rel=1e-12)
    assert float(system.stage_cost(torch.as_tensor(x), torch.as_tensor(u))) == pytest.approx(expected, rel=1e-12)
    x_ref = sample_states(system, rng, 1)[0]
    dx = x - x_ref
    assert system.stage_cost(x, u, x_ref=x_ref) == pytest.approx(dx @ system.Q @ dx + du @ system.R @ du, rel=1e-12)


def test_double_integrator_is_the_tutorial_model():
    system = DoubleIntegrator()
    A, B = system.linearize(np.array([3.0, -2.0]), np.array([0.5]))
    assert A.tolist() == [[1.0, 1.0], [0.0, 1.0]] and B.tolist() == [[0.0], [1.0]]
    assert system.discrete_step(np.array([3.0, -2.0]), np.array([0.5])).tolist() == [1.0, -1.5]
    assert np.array_equal(system.Q, np.eye(2)) and np.array_equal(system.R, [[0.01]])
    assert system.input_low.tolist() == [-1.0] and system.state_high.tolist() == [10.0, 10.0]
    assert system.H_x.tolist() == [[1.0, 2.0], [-1.0, -2.0]] and system.h_x.tolist() == [25.0, 25.0]
    assert system.state_constraints(np.array([9.0, 9.0]))[-2] == pytest.approx(2.0)  # 9 + 18 - 25
    with pytest.raises(NotImplementedError, match="natively discrete"):
        system.f(np.zeros(2), np.zeros(1))


def test_pendulum_follows_gymnasium_conventions_and_wraps_its_angle():
    system = ClippedPendulum()
    assert (system.g, system.m, system.l, system.dt) == (10.0, 1.0, 1.0, 0.05)
    assert system.input_high.tolist() == [2.0] and system.x_eq.tolist() == [0.0, 0.0]
    A, B = system.linearize()
    assert A[1, 0] == pytest.approx(15.0 * system.dt, rel=0.05)  # 3 g / (2 l), unstable upright
    x = system.discrete_step(np.array([[np.pi - 0.01, 2.0], [-np.pi + 0.01, -2.0]]), np.zeros(1))
    assert np.all((-np.pi <= x[:, 0]) & (x[:, 0] < np.pi))
    assert x[0, 0] < 0 < x[1, 0]  # crossed the bottom


def test_bad_input_is_a_clear_value_error():
    with pytest.raises(ValueError, match="unknown integrator 'rk5'; allowed: rk4, euler"):
        CSTR(integrator="rk5")
    system = CSTR()
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 2\) \(Ca, T\), got shape \(3,\)"):
        system.discrete_step(np.zeros(3), np.zeros(1))
    with pytest.raises(ValueError, match=r"u must have shape \(\.\.\., 1\) \(Tc\)"):
        system.f(np.array([0.8, 330.0]), np.zeros(2))
    with pytest.raises(ValueError, match="u contains NaN"):
        system.discrete_step(np.array([0.8, 330.0]), np.array([np.nan]))
    with pytest.raises(ValueError, match="x contains NaN"):
        system.f(torch.tensor([np.nan, 330.0]), torch.tensor([300.0]))
    with pytest.raises(ValueError, match="linearize at one point"):
        system.linearize(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"outside the state box \(T\); allowed: Ca in \[0, 1\], T in \[290, 400\]"):
        system.check_in_box([0.5, 450.0])
    with pytest.raises(ValueError, match="substeps must be a positive integer"):
        CSTR(substeps=0)
    with pytest.raises(ValueError, match="R must be symmetric positive definite"):
        CSTR(R=0.0)
    with pytest.raises(ValueError, match="T_safe must be"):
        CSTR(T_safe=(327.0, 321.0))
    with pytest.raises(ValueError, match="max_torque must be a positive number"):
        ClippedPendulum(max_torque=-1.0)


def test_rollout_stacks_the_steps(system):
    rng = np.random.default_rng(6)
    x0 = torch.as_tensor(sample_states(system, rng, 3))
    inputs = torch.as_tensor(sample_inputs(system, rng, 15).reshape(3, 5, -1))
    states = system.rollout(x0, inputs)
    assert states.shape == (3, 6, system.n_states)
    assert torch.equal(states[:, 0], x0)
    assert torch.allclose(states[:, 3], system.discrete_step(states[:, 2], inputs[:, 2]), rtol=1e-12, atol=1e-12)
