"""The Lyapunov networks: the MLP, the LQR-initialised controller, Yang/Dai's Lyapunov function, the
quadratic LQR Lyapunov function, and the LQR (checked against the Riccati equation and agents.mpc).
The networks are also run on an independent interval-arithmetic backend, as the verifier runs them
on its bound objects."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agents.lyapunov.networks import MLP, NeuralController, NeuralLyapunov, QuadraticLyapunov, lqr
from agents.lyapunov.ops import TORCH_OPS
from agents.mpc import LinearMPCProblem
from envs.control.inverted_pendulum import InvertedPendulum
from envs.control.pendulum import ClippedPendulum

torch.set_num_threads(1)
F64 = torch.float64


class Interval:
    """A box ``lo <= value <= hi``, elementwise: the simplest sound bound object."""

    def __init__(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        self.lo, self.hi = lo, hi

    def __add__(self, other):
        if isinstance(other, Interval):
            return Interval(self.lo + other.lo, self.hi + other.hi)
        return Interval(self.lo + other, self.hi + other)

    __radd__ = __add__

    def __neg__(self):
        return Interval(-self.hi, -self.lo)

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def __mul__(self, factor):
        a, b = self.lo * factor, self.hi * factor
        return Interval(torch.minimum(a, b), torch.maximum(a, b))

    __rmul__ = __mul__

    def __getitem__(self, index):
        return Interval(self.lo[index], self.hi[index])


class IntervalOps:
    """Interval arithmetic with TorchOps' methods (only those the networks use)."""

    @staticmethod
    def linear(x, weight, bias):
        center, radius = (x.hi + x.lo) / 2, (x.hi - x.lo) / 2
        mid = center @ weight.T + (0 if bias is None else bias)
        spread = radius @ weight.abs().T
        return Interval(mid - spread, mid + spread)

    @staticmethod
    def relu(x):
        return Interval(torch.relu(x.lo), torch.relu(x.hi))

    @staticmethod
    def leaky_relu(x, slope):
        act = torch.nn.functional.leaky_relu
        return Interval(act(x.lo, slope), act(x.hi, slope))

    @staticmethod
    def tanh(x):
        return Interval(torch.tanh(x.lo), torch.tanh(x.hi))

    @staticmethod
    def abs(x):
        lo = torch.where(x.lo > 0, x.lo, torch.where(x.hi < 0, -x.hi, torch.zeros_like(x.lo)))
        return Interval(lo, torch.maximum(x.lo.abs(), x.hi.abs()))

    @staticmethod
    def square(x):
        a = IntervalOps.abs(x)
        return Interval(a.lo**2, a.hi**2)

    @staticmethod
    def clamp(x, low, high):
        return Interval(torch.clamp(x.lo, low, high), torch.clamp(x.hi, low, high))

    @staticmethod
    def sum(x):
        return Interval(x.lo.sum(-1), x.hi.sum(-1))


def _random_states(count: int, low: float, high: float, seed: int = 0, n: int = 2) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(count, n, generator=generator, dtype=F64)


def _perturb(module: torch.nn.Module, scale: float, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=generator, dtype=p.dtype))


@pytest.fixture(scope="module")
def pendulum():
    return InvertedPendulum()


# -- MLP -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh"])
def test_mlp_computes_the_layers_it_holds(activation):
    mlp = MLP(3, 2, hidden=(5, 4), activation=activation, seed=1)
    x = _random_states(7, -2, 2, n=3)
    act = {"relu": torch.relu, "tanh": torch.tanh,
           "leaky_relu": lambda h: torch.where(h > 0, h, 0.01 * h)}[activation]
    (W1, b1), (W2, b2), (W3, b3) = ((layer.weight, layer.bias) for layer in mlp.layers)
    expected = act(act(x @ W1.T + b1) @ W2.T + b2) @ W3.T + b3
    torch.testing.assert_close(mlp(x), expected)
    assert mlp(x.reshape(7, 1, 3)).shape == (7, 1, 2)
    assert mlp.in_features == 3 and mlp.out_features == 2


def test_mlp_seed_fixes_weights_without_touching_the_global_random_state():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a, b = MLP(2, 1, seed=7), MLP(2, 1, seed=7)
    after = torch.rand(3)
    assert torch.equal(before, after)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    assert not torch.equal(MLP(2, 1, seed=8).layers[0].weight, a.layers[0].weight)


@pytest.mark.parametrize("kwargs, message", [
    ({"activation": "sigmoid"}, "unknown activation 'sigmoid'; allowed: relu, leaky_relu, tanh"),
    ({"hidden": (4, 0)}, "hidden must be a sequence of positive integers"),
    ({"out_features": 0}, "out_features must be a positive integer"),
])
def test_mlp_refuses_bad_settings(kwargs, message):
    arguments = {"in_features": 2, "out_features": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        MLP(**arguments)


# -- LQR -----------------------------------------------------------------------------------------
def test_lqr_solves_the_riccati_equation_and_matches_agents_mpc(pendulum):
    K, P = lqr(pendulum)
    A, B = pendulum.linearize()
    Q, R = pendulum.Q, pendulum.R
    # the discrete algebraic Riccati equation and the gain it gives
    residual = A.T @ P @ A - P - A.T @ P @ B @ np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A) + Q
    assert np.abs(residual).max() < 1e-8 * np.abs(P).max()
    assert np.abs(np.linalg.eigvals(A + B @ K)).max() < 1
    # the gain and P agents.mpc's LQR uses
    problem = LinearMPCProblem(A, B, Q, R, horizon=1)
    np.testing.assert_allclose(K, problem.K_lqr, rtol=1e-9)
    np.testing.assert_allclose(P, problem.P, rtol=1e-9)
    # other weights give another gain
    K_cheap, _ = lqr(pendulum, R=0.01)
    assert np.abs(K_cheap).max() > np.abs(K).max()


class _LinearPlant:
    """The parts of a control system lqr needs, for a linear plant."""

    def __init__(self, A, B):
        self.A, self.B = np.asarray(A, float), np.asarray(B, float)
        self.Q, self.R, self.name = np.eye(len(self.A)), np.eye(self.B.shape[1]), "linear_plant"

    def linearize(self):
        return self.A, self.B


def test_lqr_refuses_an_unstabilisable_linearisation():
    # the unstable mode (eigenvalue 1.1) is the first state, which the input does not reach
    plant = _LinearPlant([[1.1, 0.0], [0.0, 0.5]], [[0.0], [1.0]])
    with pytest.raises(ValueError, match=r"linear_plant: no LQR, .* not stabilisable: the mode with eigenvalue 1\.1"):
        lqr(plant)
    # the same structure with the unreachable mode stable is fine
    K, P = lqr(_LinearPlant([[0.5, 0.0], [0.0, 1.1]], [[0.0], [1.0]]))
    assert np.abs(np.linalg.eigvals(np.diag([0.5, 1.1]) + np.array([[0.0], [1.0]]) @ K)).max() < 1
    with pytest.raises(ValueError, match="R must be symmetric positive definite"):
        lqr(plant, R=0.0)


# -- the controller ------------------------------------------------------------------------------
def test_untrained_controller_is_the_saturated_lqr(pendulum):
    controller = NeuralController(pendulum, hidden=(8, 8), seed=0)
    K, _ = lqr(pendulum)
    x = _random_states(500, -2, 2)
    expected = np.clip(x.numpy() @ K.T, -6.0, 6.0)
    np.testing.assert_allclose(controller(x).detach().numpy(), expected, rtol=1e-12, atol=1e-12)
    assert np.any(np.abs(expected) == 6.0) and np.any(np.abs(expected) < 6.0)  # both regimes seen


def test_controller_keeps_the_equilibrium_and_the_input_box_for_any_weights():
    plant = ClippedPendulum(max_torque=3.0)
    controller = NeuralController(plant, activation="tanh", seed=2)
    _perturb(controller, 1.0, seed=3)
    x_eq = torch.as_tensor(plant.x_eq)
    torch.testing.assert_close(controller(x_eq), torch.as_tensor(plant.u_eq), atol=1e-12, rtol=0)
    u = controller(_random_states(1000, -3, 3)).detach()
    assert u.shape == (1000, 1)
    assert float(u.min()) >= -3.0 and float(u.max()) <= 3.0
    fixed = NeuralController(plant, train_gain=False)
    assert "K" not in dict(fixed.named_parameters()) and "K" in dict(fixed.named_buffers())
    with pytest.raises(ValueError, match=r"K must have shape \(1, 2\)"):
        NeuralController(plant, K=np.zeros((2, 2)))


# -- the Lyapunov functions ----------------------------------------------------------------------
def test_neural_lyapunov_is_zero_at_the_equilibrium_and_grows_at_least_like_eps(pendulum):
    eps = 0.05
    x = torch.cat([_random_states(2000, -1, 1, seed=4), _random_states(2000, -1e-3, 1e-3, seed=5)])
    for seed, activation in enumerate(["relu", "leaky_relu", "tanh"]):
        lyapunov = NeuralLyapunov(pendulum, activation=activation, eps=eps, seed=seed)
        _perturb(lyapunov, 2.0, seed=seed + 10)  # any weights, R included
        x_eq = torch.as_tensor(pendulum.x_eq)
        assert lyapunov(x_eq).item() == 0.0
        value = lyapunov(x)
        distance_2 = (x - x_eq).norm(dim=-1)
        assert bool((value >= eps * distance_2 * (1 - 1e-12)).all())
        # hence the l1 form with eps / sqrt(n)
        assert bool((value >= eps / math.sqrt(2) * (x - x_eq).abs().sum(-1) * (1 - 1e-12)).all())


def test_neural_lyapunov_without_phi_and_r_is_eps_times_the_l1_distance(pendulum):
    lyapunov = NeuralLyapunov(pendulum, eps=0.3, seed=0)
    with torch.no_grad():
        lyapunov.R.zero_()
        lyapunov.phi.layers[-1].weight.zero_()
    x = _random_states(100, -2, 2)
    torch.testing.assert_close(lyapunov(x), 0.3 * x.abs().sum(-1))


def test_neural_lyapunov_starts_with_the_lqr_shape_and_batches(pendulum):
    _, P = lqr(pendulum)
    lyapunov = NeuralLyapunov(pendulum, eps=1e-3, seed=0)
    eigenvalues, vectors = np.linalg.eigh(P)
    root = vectors @ np.diag(np.sqrt(eigenvalues)) @ vectors.T
    np.testing.assert_allclose(lyapunov.shape_matrix().detach().numpy(), root / np.sqrt(eigenvalues.max()),
                               rtol=1e-9, atol=1e-12)
    x = _random_states(24, -1, 1).reshape(2, 3, 4, 2)
    value = lyapunov(x)
    assert value.shape == (2, 3, 4)
    torch.testing.assert_close(value[1, 2], lyapunov(x[1, 2]))
    narrow = NeuralLyapunov(pendulum, rank=1, out=3, seed=0)
    assert narrow.R.shape == (1, 2) and narrow.phi.out_features == 3
    with pytest.raises(ValueError, match="eps must be a positive number"):
        NeuralLyapunov(pendulum, eps=0.0)
    with pytest.raises(ValueError, match=r"P must be a finite symmetric \(2, 2\) matrix"):
        NeuralLyapunov(pendulum, P=np.ones((3, 3)))


def test_quadratic_lyapunov_is_the_riccati_form(pendulum):
    _, P = lqr(pendulum)
    x = _random_states(50, -3, 3).numpy()
    value = QuadraticLyapunov(pendulum)(torch.as_tensor(x))
    np.testing.assert_allclose(value.numpy(), np.einsum("bi,ij,bj->b", x, P, x), rtol=1e-12)
    with pytest.raises(ValueError, match="P must be positive semi-definite"):
        QuadraticLyapunov(pendulum, P=-np.eye(2))


# -- written against the ops backend -------------------------------------------------------------
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh"])
def test_networks_run_on_another_ops_backend_and_bound_their_values(pendulum, activation):
    networks = [
        NeuralController(pendulum, activation=activation, seed=1),
        NeuralLyapunov(pendulum, activation=activation, seed=1),
        QuadraticLyapunov(pendulum),
        MLP(2, 3, activation=activation, seed=1),
    ]
    _perturb(networks[0], 0.5, seed=2)
    low = torch.tensor([[-0.5, -0.3], [0.1, 0.2], [-2.0, 1.0]], dtype=F64)
    high = low + torch.tensor([[0.2, 0.1], [0.05, 0.3], [1.0, 0.5]], dtype=F64)
    samples = low + (high - low) * torch.rand(400, 3, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    with torch.no_grad():
        for network in networks:
            bound = network(Interval(low, high), ops=IntervalOps())
            values = network(samples, ops=TORCH_OPS)
            assert bound.lo.shape == values.shape[1:]
            assert bool((values >= bound.lo - 1e-12).all()) and bool((values <= bound.hi + 1e-12).all())
