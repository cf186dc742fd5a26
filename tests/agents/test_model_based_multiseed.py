"""agents.model_based.multiseed: N er_dqn seeds with stacked parameters (torch.func) match N separate
single-seed learners, stay independent, and train together on PanFlute."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from agents.model_based.agents import ER_DEFAULTS, ERDQN
from agents.model_based.learner import adamw
from agents.model_based.multiseed import StackedDQNLearner, seed_learner, train_seeds

CPU = torch.device("cpu")
OBS_DIM, N_ACTIONS = 6, 4
SETTINGS = dict(ER_DEFAULTS, hidden=[32, 32], learning_rate=1e-3, target_update_every=2)


def random_batch(gen: torch.Generator, n: int = 40) -> dict[str, torch.Tensor]:
    return {"obs": torch.rand(n, OBS_DIM, generator=gen), "actions": torch.randint(N_ACTIONS, (n,), generator=gen),
            "rewards": torch.randn(n, generator=gen), "next_obs": torch.rand(n, OBS_DIM, generator=gen),
            "continuation": (torch.rand(n, generator=gen) > 0.2).float(), "weights": torch.rand(n, generator=gen)}


def stack(batches: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {key: torch.stack([b[key] for b in batches]) for key in batches[0]}


def learners(seeds=(0, 1, 2)):
    return [seed_learner(s, OBS_DIM, N_ACTIONS, SETTINGS, CPU) for s in seeds]


def test_seed_learner_has_the_single_seed_agents_initial_weights():
    from envs.gridworlds.pan_flute import PanFluteEnv

    agent = ERDQN(env=PanFluteEnv(pipes=3), seed=7, device="cpu", hidden=[32, 32])
    learner = seed_learner(7, 6, 3, agent.hyperparameters, CPU)
    for name, value in agent.learner.q.state_dict().items():
        assert torch.equal(value, learner.q.state_dict()[name])


def test_vectorised_updates_equal_separate_single_seed_updates():
    singles = learners()
    stacked = StackedDQNLearner(singles, SETTINGS["learning_rate"])  # copies the initial weights
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):  # target refresh every 2 updates is exercised
        batches = [random_batch(gen) for _ in singles]
        losses = stacked.update(stack(batches))
        single_losses = [learner.update(batch) for learner, batch in zip(singles, batches)]
        np.testing.assert_allclose(losses, single_losses, rtol=1e-5, atol=1e-6)
    assert stacked.updates == 5
    for i, learner in enumerate(singles):
        for target in (False, True):
            reference = (learner.target_q if target else learner.q).state_dict()
            for name, value in stacked.seed_state_dict(i, target=target).items():
                torch.testing.assert_close(value, reference[name], rtol=0, atol=1e-5)
    # the weights moved (the comparison is not vacuous)
    fresh = seed_learner(0, OBS_DIM, N_ACTIONS, SETTINGS, CPU).q.state_dict()
    assert any((stacked.seed_state_dict(0)[k] - fresh[k]).abs().max() > 1e-3 for k in fresh)


def test_adamw_on_stacked_tensors_equals_separate_adamw_steps():
    gen = torch.Generator().manual_seed(1)
    stacked = torch.randn(3, 5, 4, generator=gen).requires_grad_(True)
    separate = [stacked[i].detach().clone().requires_grad_(True) for i in range(3)]
    optimizer, optimizers = adamw([stacked], 1e-2), [adamw([p], 1e-2) for p in separate]
    for _ in range(4):
        grads = torch.randn(3, 5, 4, generator=gen)
        stacked.grad = grads.clone()
        optimizer.step()
        for i, (p, opt) in enumerate(zip(separate, optimizers)):
            p.grad = grads[i].clone()
            opt.step()
    for i, p in enumerate(separate):
        torch.testing.assert_close(stacked.detach()[i], p.detach(), rtol=0, atol=1e-6)


def test_seeds_are_independent():
    gen = torch.Generator().manual_seed(2)
    batches = [random_batch(gen) for _ in range(3)]
    changed = [batches[0], random_batch(gen), batches[2]]  # only seed 1's batch differs
    runs = []
    for run_batches in (batches, changed):
        stacked = StackedDQNLearner(learners(), SETTINGS["learning_rate"])
        for _ in range(3):
            stacked.update(stack(run_batches))
        runs.append(stacked)
    for i, same in ((0, True), (1, False), (2, True)):
        a, b = runs[0].seed_state_dict(i), runs[1].seed_state_dict(i)
        differs = any(not torch.allclose(a[k], b[k], rtol=0, atol=1e-7) for k in a)
        assert differs != same, i


def test_train_seeds_on_pan_flute_returns_per_seed_evaluations():
    results = train_seeds("pan_flute", n_seeds=2, total_timesteps=120, env_kwargs={"pipes": 3}, hidden=[32, 32],
                          batch_size=32, learning_starts=50, updates_per_step=2, buffer_size=500, eval_every=60,
                          n_eval_episodes=2)
    assert [r["seed"] for r in results] == [0, 1]
    for r in results:
        assert [step for step, _ in r["eval"]] == [60, 120]
        assert all(np.isfinite(value) and value >= 0 for _, value in r["eval"])
        assert r["final_return"] == r["eval"][-1][1]
        assert r["updates"] == 2 * (120 - 50 + 1)
        assert len(r["train_episode_returns"]) == 1  # one 100-step episode ended
    assert results[0]["ms_per_update"] > 0


def test_train_seeds_rejects_bad_input():
    with pytest.raises(ValueError, match="er_dqn.* only"):
        train_seeds("pan_flute", 2, 10, agent="model_dqn")
    with pytest.raises(ValueError, match="n_seeds"):
        train_seeds("pan_flute", 0, 10)
    with pytest.raises(ValueError, match="unknown er_dqn settings"):
        train_seeds("pan_flute", 2, 10, rollout_length=3)
    with pytest.raises(ValueError, match="learning_rate"):
        train_seeds("pan_flute", 2, 10, learning_rate=-1.0)
