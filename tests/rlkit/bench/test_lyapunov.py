"""rlkit bench lyapunov, shrunk to seconds: the table has both controllers per system, verified, with
region volumes that agree with an independent count, and the suite refuses unknown systems."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from rlkit.bench import lyapunov, suite_factory

COLUMNS = ["system", "controller", "seed", "box", "kappa", "hole", "rho", "region_volume_fraction",
           "proof_coverage", "status", "train_s", "verify_s"]


def test_suite_verifies_lqr_and_learned_certificates_on_the_pendulum(tmp_path):
    lyapunov.run(tmp_path, systems=["nlc_pendulum"], seeds=1, iterations=3, rho_tolerance=0.2)
    table = pd.read_csv(tmp_path / "results.csv")
    assert list(table.columns) == COLUMNS
    assert list(table["controller"]) == ["lqr", "learned"]
    assert (table["status"] == "verified").all()
    assert (table["rho"] > 0).all() and (table["verify_s"] > 0).all() and (table["train_s"] >= 0).all()
    assert table["region_volume_fraction"][0] > 0.5  # the LQR ellipse (3 training steps leave V rough)
    assert ((table["region_volume_fraction"] > 0) & (table["region_volume_fraction"] <= 1)).all()
    # a verified claim's proof covers the whole box (up to the hole)
    assert (table["proof_coverage"] > 0.99).all()
    assert (tmp_path / "results.md").read_text().count("| nlc_pendulum |") == 2
    assert (tmp_path / "regions_nlc_pendulum.png").stat().st_size > 1000

    # the LQR row's sampled volume, recounted independently on a grid of the box [-1, 1]^2
    from agents.lyapunov.networks import QuadraticLyapunov
    from envs.control.inverted_pendulum import NLCPendulum

    grid = torch.cartesian_prod(*[torch.linspace(-1, 1, 401, dtype=torch.float64)] * 2)
    with torch.no_grad():
        counted = float((QuadraticLyapunov(NLCPendulum())(grid) <= table["rho"][0]).double().mean())
    assert table["region_volume_fraction"][0] == pytest.approx(counted, abs=0.01)


def test_suite_is_registered_and_refuses_unknown_systems(tmp_path):
    assert suite_factory("lyapunov") == "rlkit.bench.lyapunov:run"
    with pytest.raises(ValueError, match="unknown systems.*allowed: inverted_pendulum"):
        lyapunov.run(tmp_path, systems=["double_pendulum"])
    with pytest.raises(ValueError, match="iterations must be a positive integer"):
        lyapunov.run(tmp_path, systems=["nlc_pendulum"], iterations=0)


def test_the_region_weights_follow_the_falsifier_and_bad_settings_are_refused():
    # the training options the suite's recipe can turn on (agents/lyapunov/training.py)
    from agents.lyapunov.networks import NeuralController, NeuralLyapunov
    from agents.lyapunov.training import train_lyapunov
    from envs.control.inverted_pendulum import InvertedPendulum

    system = InvertedPendulum()
    settings = dict(box_low=[-1.0, -1.0], box_high=[1.0, 1.0], kappa=0.01, rho=1.0, hole=0.01, batch=32, lr=1e-3,
                    seed=0, falsifier_samples=32, pgd_steps=2)
    history = train_lyapunov(system, NeuralController(system, seed=0), NeuralLyapunov(system, seed=1),
                             iterations=6, boundary_weight=1.0, region_growth=2.0, region_growth_limit=4.0, **settings)
    scale = 1.0
    for found, used in zip(history["violations"], history["region_scale"]):
        assert used == scale
        scale = min(max(scale * (2.0 if found == 0 else 0.5), 0.25), 4.0)
    assert all(value >= 0 for value in history["boundary_loss"])
    for option, value, message in (("boundary_weight", -1.0, "boundary_weight must be a non-negative"),
                                   ("boundary_band", 1.0, "boundary_band must be a number > 1"),
                                   ("region_growth", 0.5, "region_growth must be a number >= 1")):
        with pytest.raises(ValueError, match=message):
            train_lyapunov(system, NeuralController(system), NeuralLyapunov(system), iterations=1,
                           **{option: value}, **settings)
