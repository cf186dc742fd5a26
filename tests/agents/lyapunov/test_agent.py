"""agent=lyapunov end to end: training from LQR, the certificate it verifies (cross-checked by dense
sampling), save/load, and the environments it refuses."""

from __future__ import annotations

import zipfile

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs  # noqa: F401
from agents.lyapunov.agent import LyapunovAgent
from agents.lyapunov.certificate import recheck

BOX = {"box_low": [-1.0, -1.0], "box_high": [1.0, 1.0]}


@pytest.fixture(scope="module")
def trained():
    env = gym.make("rlkit/InvertedPendulum-v0")
    agent = LyapunovAgent(env=env, seed=0, batch=64, pgd_steps=5, **BOX)
    agent.learn(64 * 10)
    return env, agent


def test_the_certificate_holds_and_sampling_agrees(trained):
    env, agent = trained
    certificate = agent.certificate
    assert certificate["result"]["status"] == "verified" and certificate["rho"] > 0
    assert 0 < certificate["region_volume_fraction_sampled"] <= 1
    grid = torch.cartesian_prod(*[torch.linspace(-1.0, 1.0, 301, dtype=torch.float64)] * 2)
    x_next, decrease, value = agent.closed_loop().evaluate(grid, certificate["kappa"])
    inside = (value <= certificate["rho"]) & (grid.abs().amax(-1) > certificate["hole"])
    stays = ((x_next >= -1.0) & (x_next <= 1.0)).all(-1)
    assert int(inside.sum()) > 100  # the sampled region is not trivially empty
    assert not bool((inside & ((decrease > 0) | ~stays)).any())
    holds, problems, _ = recheck(certificate, agent.closed_loop())
    assert holds, problems


def test_save_and_load_predict_alike_and_keep_the_certificate(trained, tmp_path):
    env, agent = trained
    agent.save(tmp_path / "agent")
    loaded = LyapunovAgent.load(tmp_path / "agent.zip", env=env)
    observations = np.stack([env.reset(seed=i)[0] for i in range(8)])
    assert np.array_equal(loaded.predict(observations)[0], agent.predict(observations)[0])
    assert loaded.certificate == agent.certificate and loaded.num_timesteps == agent.num_timesteps
    assert loaded.hyperparameters == agent.hyperparameters and loaded.seed == agent.seed
    with zipfile.ZipFile(tmp_path / "agent.zip") as archive:  # rlkit's one format: JSON and safetensors
        assert sorted(archive.namelist()) == ["meta.json", "tensors.safetensors"]
    holds, problems, _ = recheck(loaded.certificate, loaded.closed_loop())  # the same tensors, bit for bit
    assert holds, problems


def test_a_changed_controller_no_longer_matches_its_certificate(trained):
    env, agent = trained
    certificate = dict(agent.certificate)
    with torch.no_grad():
        agent.controller.K.mul_(1.0001)
    try:
        holds, problems, _ = recheck(certificate, agent.closed_loop())
    finally:
        with torch.no_grad():
            agent.controller.K.div_(1.0001)
    assert not holds and any("controller hash" in p for p in problems)


def test_bad_environments_and_boxes_are_refused():
    with pytest.raises(ValueError, match="stiffness-limited substeps"):
        LyapunovAgent(env=gym.make("rlkit/CSTR-v0"))
    with pytest.raises(ValueError, match="contain the equilibrium"):
        LyapunovAgent(env=gym.make("rlkit/InvertedPendulum-v0"), box_low=[0.5, 0.5], box_high=[1.0, 1.0])
    with pytest.raises(ValueError, match="exposes no control system"):
        LyapunovAgent(env=gym.make("CartPole-v1"))


def test_z3_back_end_certifies_a_piecewise_linear_closed_loop_and_recheck_uses_it():
    env = gym.make("rlkit/DoubleIntegrator-v0")
    agent = LyapunovAgent(env=env, seed=0, batch=32, pgd_steps=2, controller_hidden=[4], lyapunov_hidden=[4],
                          lyapunov_out=2, backend="z3", z3_timeout_s=20.0, box_low=[-2.0, -2.0],
                          box_high=[2.0, 2.0], hole=0.1, rho_tolerance=0.2, candidate_rollout=20)
    agent.learn(64)
    certificate = agent.certificate
    assert certificate["backend_name"] == "z3" and "z3" in certificate["backend"]
    assert certificate["result"]["status"] == "verified" and certificate["rho"] > 0
    holds, problems, _ = recheck(certificate, agent.closed_loop())
    assert holds, problems
    # the exact answer agrees with the bound verifier and with dense sampling at the same level
    from agents.lyapunov.verifier import verify

    assert verify(agent.closed_loop(), [-2.0, -2.0], [2.0, 2.0], certificate["rho"], certificate["kappa"],
                  certificate["hole"]).status != "falsified"
    grid = torch.cartesian_prod(*[torch.linspace(-2.0, 2.0, 201, dtype=torch.float64)] * 2)
    x_next, decrease, value = agent.closed_loop().evaluate(grid, certificate["kappa"])
    inside = (value <= certificate["rho"]) & (grid.abs().amax(-1) > certificate["hole"])
    assert not bool((inside & ((decrease > 0) | ~((x_next >= -2) & (x_next <= 2)).all(-1))).any())


def test_z3_back_end_refuses_a_plant_with_sin_before_training():
    with pytest.raises(ValueError, match="sin is neither"):
        LyapunovAgent(env=gym.make("rlkit/InvertedPendulum-v0"), backend="z3", **BOX)
    with pytest.raises(ValueError, match="unknown verification back-end 'dreal'"):
        LyapunovAgent(env=gym.make("rlkit/InvertedPendulum-v0"), backend="dreal", **BOX)
