"""Counterexample-guided training on Yang/Dai's inverted pendulum, from the saturated LQR and the
LQR-shaped neural Lyapunov function: fewer counterexamples afterwards without giving up the region,
a falling loss, determinism, early stopping by the callback, and refused settings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agents.lyapunov.falsifier import find_counterexamples
from agents.lyapunov.networks import NeuralController, NeuralLyapunov
from agents.lyapunov.training import train_lyapunov
from envs.control.inverted_pendulum import InvertedPendulum

torch.set_num_threads(1)
BOX_LOW, BOX_HIGH = [-1.0, -1.0], [1.0, 1.0]
SETTINGS = dict(box_low=BOX_LOW, box_high=BOX_HIGH, kappa=0.01, rho=1.0, hole=0.01)


def networks(system, seed=0):
    return NeuralController(system, seed=seed), NeuralLyapunov(system, seed=seed)


def audit(system, controller, lyapunov):
    """Counterexamples on the box (a fixed search) and the share of the candidate region [-0.5,
    0.5]^2 inside the level set."""
    found = find_counterexamples(system, controller, lyapunov, n_samples=2000, pgd_steps=30, seed=123, **SETTINGS)
    candidates = torch.rand(20000, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64) - 0.5
    with torch.no_grad():
        covered = float((lyapunov(candidates) <= SETTINGS["rho"]).double().mean())
    return len(found), covered


def test_training_from_lqr_removes_counterexamples_and_keeps_the_region():
    system = InvertedPendulum()
    controller, lyapunov = networks(system)
    violations_before, covered_before = audit(system, controller, lyapunov)
    assert covered_before == 1.0
    start = {f"{prefix}.{name}": p.detach().clone() for prefix, module in (("controller", controller),
             ("lyapunov", lyapunov)) for name, p in module.named_parameters()}
    assert violations_before > 100  # the LQR-shaped start breaks the conditions at level 1 on this box

    history = train_lyapunov(system, controller, lyapunov, iterations=40, batch=256, lr=0.01, seed=0, **SETTINGS)

    violations_after, covered_after = audit(system, controller, lyapunov)
    assert violations_after <= violations_before / 10
    assert covered_after > 0.9  # not bought by shrinking the level set onto the equilibrium
    assert np.mean(history["loss"][-5:]) < history["loss"][0]
    assert history["iterations"] == 40
    for key in ("loss", "condition_loss", "roa_loss", "violations", "worst_violation", "level_set_fraction",
                "wall_time"):
        assert len(history[key]) == 40, key
    assert history["violations"][0] > 0
    assert all(b >= a for a, b in zip(history["wall_time"], history["wall_time"][1:]))
    # both networks were trained: the controller's gain and MLP, V's shape matrix and phi
    moved = {f"{prefix}.{name}" for prefix, module in (("controller", controller), ("lyapunov", lyapunov))
             for name, p in module.named_parameters() if not torch.equal(p, start[f"{prefix}.{name}"])}
    assert {"controller.K", "controller.mlp.layers.2.weight", "lyapunov.R", "lyapunov.phi.layers.0.weight"} <= moved


def test_training_is_deterministic_for_a_seed():
    system = InvertedPendulum()
    runs = []
    for seed in (3, 3, 4):
        controller, lyapunov = networks(system)
        history = train_lyapunov(system, controller, lyapunov, iterations=4, batch=64, lr=0.01, seed=seed,
                                 falsifier_samples=64, pgd_steps=3, **SETTINGS)
        end = [p.detach().clone() for p in (*controller.parameters(), *lyapunov.parameters())]
        runs.append((history, end))
    (first, end), (second, end_again), (other, _) = runs
    assert first["loss"] == second["loss"] and first["violations"] == second["violations"]
    assert all(torch.equal(a, b) for a, b in zip(end, end_again))
    assert first["loss"] != other["loss"]


def test_callback_sees_every_step_and_can_stop_training():
    system = InvertedPendulum()
    controller, lyapunov = networks(system)
    seen = []

    def callback(iteration, record):
        seen.append((iteration, record["loss"]))
        return iteration < 2  # stop after the third step

    history = train_lyapunov(system, controller, lyapunov, iterations=10, batch=32, lr=0.01, seed=0,
                             callback=callback, falsifier_samples=32, pgd_steps=1, **SETTINGS)
    assert history["iterations"] == 3 and [i for i, _ in seen] == [0, 1, 2]
    assert [loss for _, loss in seen] == history["loss"]


@pytest.mark.parametrize("change, message", [
    ({"rho": math.inf}, "rho must be finite for training"),
    ({"iterations": 0}, "iterations must be a positive integer"),
    ({"batch": 1.5}, "batch must be a positive integer"),
    ({"lr": -1.0}, "lr must be a positive number"),
    ({"candidate_scale": 0.0}, r"candidate_scale must be a number in \(0, 1\]"),
    ({"margin": -1.0}, "margin must be a non-negative number"),
    ({"kappa": -0.1}, r"kappa \(the decrease rate\) must be a number in \[0, 1\)"),
    ({"callback": 3}, "callback must be callable or None"),
    ({"seed": 1.5}, "seed must be an integer"),
])
def test_training_refuses_bad_settings(change, message):
    system = InvertedPendulum()
    controller, lyapunov = networks(system)
    arguments = dict(SETTINGS, iterations=1, batch=8, lr=0.01, seed=0)
    arguments.update(change)
    with pytest.raises(ValueError, match=message):
        train_lyapunov(system, controller, lyapunov, **arguments)


def test_rollout_candidates_are_the_states_the_controller_brings_home():
    from agents.lyapunov.networks import NeuralController
    from agents.lyapunov.training import _converging
    from envs.control.inverted_pendulum import InvertedPendulum

    system = InvertedPendulum()
    controller = NeuralController(system, seed=0)  # the saturated LQR
    low, high = torch.tensor([-1.0, -1.0], dtype=torch.float64), torch.tensor([1.0, 1.0], dtype=torch.float64)
    states = torch.tensor([[0.05, 0.0], [1.0, 1.0], [-0.3, 0.2]], dtype=torch.float64)
    kept = _converging(system, controller, states, 100, low, high, torch.zeros(2, dtype=torch.float64), 0.5)
    # independently: step the plant 100 times with the controller and look where each state ends
    x = states.clone()
    with torch.no_grad():
        for _ in range(100):
            x = system.discrete_step(x, controller(x))
    home = (x.abs() <= 0.05).all(-1)
    assert kept.tolist() == states[home].tolist()
    assert bool(home[0]) and not bool(home[1])  # near upright comes home; (1, 1) falls beyond |u| <= 6
    with pytest.raises(ValueError, match="candidate_rollout must be an integer >= 0"):
        from agents.lyapunov.networks import NeuralLyapunov
        from agents.lyapunov.training import train_lyapunov

        train_lyapunov(system, controller, NeuralLyapunov(system, seed=1), [-1, -1], [1, 1], 0.01, 1.0, 0.01, 1, 8,
                       1e-3, 0, candidate_rollout=-1)
