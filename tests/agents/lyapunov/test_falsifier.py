"""The falsifier: the decrease violation, and the counterexample search on the inverted pendulum
(Yang/Dai's, explicit Euler, recomputed by hand here) with a controller broken on purpose, with the
LQR on a small box where its quadratic Lyapunov function holds, and with successors leaving the box."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agents.lyapunov.falsifier import Counterexamples, decrease_violation, find_counterexamples
from agents.lyapunov.networks import NeuralController, QuadraticLyapunov, lqr
from envs.control.inverted_pendulum import InvertedPendulum

torch.set_num_threads(1)
KAPPA = 0.01


@pytest.fixture(scope="module")
def pendulum():
    return InvertedPendulum()


@pytest.fixture(scope="module")
def lqr_parts(pendulum):
    K, P = lqr(pendulum)
    return K, P, NeuralController(pendulum, seed=0), QuadraticLyapunov(pendulum, P)


def euler_step(x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Yang/Dai's pendulum (g = 9.81, m = l = beta = 1, dt = 0.05), one explicit Euler step."""
    theta, theta_dot = x[..., 0], x[..., 1]
    theta_ddot = 9.81 * np.sin(theta) - theta_dot + u[..., 0]
    return np.stack([theta + 0.05 * theta_dot, theta_dot + 0.05 * theta_ddot], -1)


def inscribed_level(P: np.ndarray, half_width: float) -> float:
    """The largest rho with {x' P x <= rho} inside the cube |x|_inf <= half_width."""
    return min(half_width**2 / np.linalg.inv(P)[i, i] for i in range(len(P)))


def test_decrease_violation_is_v_next_minus_contracted_v(pendulum, lqr_parts):
    K, P, controller, lyapunov = lqr_parts
    x = torch.rand(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1
    xs = x.numpy()
    successor = euler_step(xs, np.clip(xs @ K.T, -6, 6))
    quadratic = lambda z: np.einsum("bi,ij,bj->b", z, P, z)  # noqa: E731
    expected = quadratic(successor) - (1 - KAPPA) * quadratic(xs)
    violation = decrease_violation(pendulum, controller, lyapunov, x, KAPPA)
    np.testing.assert_allclose(violation.detach().numpy(), expected, rtol=1e-9, atol=1e-9)


def test_lqr_with_its_quadratic_lyapunov_function_has_no_counterexample_on_a_small_box(pendulum, lqr_parts):
    _, P, controller, lyapunov = lqr_parts
    half_width = 0.05
    found = find_counterexamples(pendulum, controller, lyapunov, [-half_width] * 2, [half_width] * 2,
                                 rho=inscribed_level(P, half_width), kappa=KAPPA, hole=1e-3, n_samples=2000,
                                 pgd_steps=30, seed=0)
    assert isinstance(found, Counterexamples) and len(found) == 0
    assert found.states.shape == (0, 2)
    assert found.n_searched > 1000  # many states of the sublevel set were searched


class BrokenController(torch.nn.Module):
    """The saturated LQR, except full positive torque where theta > 0.005 (driving it further out;
    the level set of the 0.05 box reaches theta = 0.0136)."""

    def __init__(self, lqr_controller):
        super().__init__()
        self.lqr_controller = lqr_controller

    def forward(self, x):
        broken = x[..., :1] > 0.005
        return torch.where(broken, torch.full_like(x[..., :1], 6.0), self.lqr_controller(x))


def test_falsifier_finds_a_planted_counterexample_region(pendulum, lqr_parts):
    K, P, lqr_controller, lyapunov = lqr_parts
    half_width = 0.05
    rho = inscribed_level(P, half_width)
    found = find_counterexamples(pendulum, BrokenController(lqr_controller), lyapunov, [-half_width] * 2,
                                 [half_width] * 2, rho=rho, kappa=KAPPA, hole=1e-3, n_samples=1000,
                                 pgd_steps=20, seed=1)
    assert len(found) > 20
    states = found.states.numpy()
    assert np.all(states[:, 0] > 0.005)  # only in the broken region
    # in the searched region: the box, outside the hole, inside the sublevel set
    assert np.all(np.abs(states) <= half_width) and np.all(np.abs(states).max(-1) > 1e-3)
    assert np.all(np.einsum("bi,ij,bj->b", states, P, states) <= rho * (1 + 1e-12))
    # the reported violations, recomputed by hand, and worst first
    successor = euler_step(states, np.full((len(states), 1), 6.0))
    expected = (np.einsum("bi,ij,bj->b", successor, P, successor)
                - (1 - KAPPA) * np.einsum("bi,ij,bj->b", states, P, states))
    np.testing.assert_allclose(found.violation.numpy(), expected, rtol=1e-9, atol=1e-12)
    assert bool(found.decrease_violated.all())
    assert bool((found.score[:-1] >= found.score[1:]).all())
    torch.testing.assert_close(found.score, torch.maximum(found.violation, found.box_excess))
    # the gradient ascent finds a worse state than sampling alone, from the same starts
    sampled = find_counterexamples(pendulum, BrokenController(lqr_controller), lyapunov, [-half_width] * 2,
                                   [half_width] * 2, rho=rho, kappa=KAPPA, hole=1e-3, n_samples=1000,
                                   pgd_steps=0, seed=1)
    assert 0 < len(sampled) and float(found.score[0]) > float(sampled.score[0])


def test_falsifier_reports_successors_leaving_the_box(pendulum, lqr_parts):
    # without a level set, the whole box is claimed: near theta = half_width with theta_dot > 0
    # the next theta = theta + dt theta_dot leaves the box whatever the input
    K, _, controller, lyapunov = lqr_parts
    half_width = 0.05
    found = find_counterexamples(pendulum, controller, lyapunov, [-half_width] * 2, [half_width] * 2,
                                 rho=math.inf, kappa=KAPPA, hole=1e-3, n_samples=500, pgd_steps=10, seed=2)
    leaving = found.leaves_box.numpy()
    assert leaving.any()
    states = found.states.numpy()
    successor = euler_step(states, np.clip(states @ K.T, -6, 6))
    outside = np.clip(np.maximum(-half_width - successor, successor - half_width), 0, None).max(-1)
    np.testing.assert_allclose(found.box_excess.numpy(), outside, rtol=1e-9, atol=1e-12)
    assert np.all(outside[leaving] > 0)


def test_falsifier_is_deterministic_for_a_seed_and_leaves_gradients_alone(pendulum, lqr_parts):
    _, P, lqr_controller, _ = lqr_parts
    controller = NeuralController(pendulum, seed=3)
    with torch.no_grad():
        controller.mlp.layers[-1].weight.normal_(generator=torch.Generator().manual_seed(0))
    lyapunov = QuadraticLyapunov(pendulum, P)
    arguments = dict(box_low=[-1, -1], box_high=[1, 1], rho=math.inf, kappa=KAPPA, hole=0.01, n_samples=300,
                     pgd_steps=5)
    first = find_counterexamples(pendulum, controller, lyapunov, seed=4, **arguments)
    second = find_counterexamples(pendulum, controller, lyapunov, seed=4, **arguments)
    other = find_counterexamples(pendulum, controller, lyapunov, seed=5, **arguments)
    assert len(first) > 0
    assert torch.equal(first.states, second.states) and torch.equal(first.score, second.score)
    assert not torch.equal(first.states, other.states)
    assert all(p.requires_grad and p.grad is None for p in controller.parameters())


@pytest.mark.parametrize("change, message", [
    ({"box_low": [0.1, -1]}, r"must contain the equilibrium \[0.0, 0.0\] in its interior"),
    ({"box_low": [-1]}, "box_low and box_high must have 2 entries"),
    ({"hole": 2.0}, "the hole .* must lie inside the box"),
    ({"hole": -0.1}, "hole must be a non-negative number"),
    ({"kappa": 1.0}, r"kappa \(the decrease rate\) must be a number in \[0, 1\)"),
    ({"rho": 0.0}, "rho .* must be a positive number or inf"),
    ({"n_samples": 0}, "n_samples must be a positive integer"),
    ({"pgd_steps": -1}, "pgd_steps must be a non-negative integer"),
    ({"seed": None}, "seed must be an integer"),
])
def test_falsifier_refuses_bad_regions_and_settings(pendulum, lqr_parts, change, message):
    _, _, controller, lyapunov = lqr_parts
    arguments = dict(box_low=[-1, -1], box_high=[1, 1], rho=1.0, kappa=KAPPA, hole=0.01, n_samples=10,
                     pgd_steps=1, seed=0)
    arguments.update(change)
    with pytest.raises(ValueError, match=message):
        find_counterexamples(pendulum, controller, lyapunov, **arguments)
