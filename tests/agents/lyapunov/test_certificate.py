"""agents.lyapunov.certificate: the checks of a claim that the verifier alone does not make -- V(x_eq) = 0,
a region that is not vacuous, the hashes over each network's definition -- and the claim text."""

from __future__ import annotations

import pytest
import torch

from agents.lyapunov.certificate import claim_text, hash_module, vacuity_problems
from agents.lyapunov.networks import NeuralController, NeuralLyapunov
from agents.lyapunov.verifier import ClosedLoop
from envs.control.inverted_pendulum import InvertedPendulum

BOX = ([-1.0, -1.0], [1.0, 1.0])


class Shifted(torch.nn.Module):
    """V + 1: it decreases wherever V does, but V(x_eq) = 1."""

    def __init__(self, lyapunov):
        super().__init__()
        self.base = lyapunov

    def forward(self, x, ops=None):
        return self.base(x) + 1.0


@pytest.fixture
def loop():
    system = InvertedPendulum()
    return ClosedLoop(system, NeuralController(system, seed=0), NeuralLyapunov(system, seed=1))


def test_a_genuine_region_is_not_vacuous(loop):
    assert vacuity_problems(loop, *BOX, rho=0.5, kappa=0.01, hole=0.01) == []


def test_v_plus_one_is_refused(loop):
    shifted = ClosedLoop(loop.system, loop.controller, Shifted(loop.lyapunov))
    assert any(problem.startswith("V(x_eq) = 1.0, not 0") for problem in
               vacuity_problems(shifted, *BOX, rho=2.0, kappa=0.01, hole=0.01))


@pytest.mark.parametrize("numbers, message", [
    (dict(rho=0.0, kappa=0.01, hole=0.01), "rho is 0.0"),
    (dict(rho=0.5, kappa=0.01, hole=10.0), "the hole 10.0 is not small against the box"),
    (dict(rho=0.5, kappa=1.0, hole=0.01), "kappa is 1.0"),
    (dict(rho=1e-6, kappa=0.01, hole=0.01), "no state of the box outside the hole has V <= rho"),
])
def test_vacuous_numbers_are_named(loop, numbers, message):
    assert any(message in problem for problem in vacuity_problems(loop, *BOX, **numbers))


def test_a_box_without_the_equilibrium_is_named(loop):
    assert "does not hold the equilibrium" in vacuity_problems(loop, [0.5, 0.5], [1.0, 1.0], 0.5, 0.01, 0.01)[0]


def test_the_hashes_cover_activation_and_eps():
    system = InvertedPendulum()
    relu, leaky = NeuralLyapunov(system, seed=1), NeuralLyapunov(system, activation="leaky_relu", seed=1)
    assert hash_module(relu) == hash_module(NeuralLyapunov(system, seed=1))
    assert hash_module(relu) != hash_module(leaky)
    wider = NeuralLyapunov(system, eps=0.02, seed=1)
    wider.load_state_dict(relu.state_dict())  # the same tensors, another eps
    assert hash_module(relu) != hash_module(wider)
    assert hash_module(NeuralController(system, seed=0)) != hash_module(NeuralController(system, activation="tanh",
                                                                                         seed=0))


def test_the_claim_says_what_the_numbers_prove():
    text = claim_text(0.5, 0.01, 0.01, 0.01)
    assert "V(x+) <= (1 - 0.01) V(x) and x+ in B" in text and "asymptotic stability" not in text
    assert "which it does within 848 steps" in text  # floor(log(0.01 * 0.01 / 0.5) / log(0.99)) + 1 = 847 + 1
    assert "no convergence is claimed" in claim_text(0.5, 0.0, 0.01, 0.01)
    assert "converges to x_eq" in claim_text(0.5, 0.01, 0.0, 0.01)
