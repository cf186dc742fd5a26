"""agents.model_based.multiseed: N er_dqn / model_dqn seeds with stacked parameters (torch.func) match N
separate single-seed learners and models, stay independent, and train together on PanFlute."""

from __future__ import annotations


import numpy as np
import pytest
import torch

import gymnasium as gym

from agents.model_based.agents import ERDQN, ModelDQN
from agents.model_based.learner import DQNLearner, adamw
from agents.model_based.models import LearnedModel, imagine
from agents.model_based.multiseed import StackedDQNLearner, StackedLearnedModel, StackedSeeds, train_seeds

CPU = torch.device("cpu")
OBS_DIM, N_ACTIONS = 6, 4
PAN_FLUTE = "rlkit/PanFlute-v0"


def seed_learner(seed: int) -> DQNLearner:
    """A learner (32 x 32, target refresh every 2 updates) with the initial weights of ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return DQNLearner(OBS_DIM, N_ACTIONS, [32, 32], 1e-3, 0.9, 0.1, target_update_every=2, device=CPU)


def seed_model(seed: int) -> LearnedModel:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LearnedModel(OBS_DIM, N_ACTIONS, [32, 32], 1e-3, CPU)


def random_batch(gen: torch.Generator, n: int = 40) -> dict[str, torch.Tensor]:
    return {"obs": torch.rand(n, OBS_DIM, generator=gen), "actions": torch.randint(N_ACTIONS, (n,), generator=gen),
            "rewards": torch.randn(n, generator=gen), "next_obs": torch.rand(n, OBS_DIM, generator=gen),
            "continuation": (torch.rand(n, generator=gen) > 0.2).float(), "weights": torch.rand(n, generator=gen)}


def stack(batches: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {key: torch.stack([b[key] for b in batches]) for key in batches[0]}


def learners(seeds=(0, 1, 2)):
    return [seed_learner(s) for s in seeds]


@pytest.mark.parametrize("cls", [ERDQN, ModelDQN])
def test_stacked_seeds_start_from_the_single_seed_agents_weights(cls):
    from envs.gridworlds.pan_flute import PanFluteEnv

    stacked = StackedSeeds(cls, lambda: PanFluteEnv(pipes=3), [7, 9], hidden=[32, 32], buffer_size=100)
    for i, seed in enumerate((7, 9)):
        agent = cls(env=PanFluteEnv(pipes=3), seed=seed, device="cpu", hidden=[32, 32], buffer_size=100)
        for target in (False, True):
            reference = (agent.learner.target_q if target else agent.learner.q).state_dict()
            for name, value in stacked.learner.seed_state_dict(i, target=target).items():
                assert torch.equal(value, reference[name]), name
        if cls is ModelDQN:
            for name, value in stacked.learned_model.seed_state_dict(i).items():
                assert torch.equal(value, agent.model.net.state_dict()[name]), name


def test_vectorised_updates_equal_separate_single_seed_updates():
    singles = learners()
    stacked = StackedDQNLearner(singles, 1e-3)  # copies the initial weights
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
    fresh = seed_learner(0).q.state_dict()
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
        stacked = StackedDQNLearner(learners(), 1e-3)
        for _ in range(3):
            stacked.update(stack(run_batches))
        runs.append(stacked)
    for i, same in ((0, True), (1, False), (2, True)):
        a, b = runs[0].seed_state_dict(i), runs[1].seed_state_dict(i)
        differs = any(not torch.allclose(a[k], b[k], rtol=0, atol=1e-7) for k in a)
        assert differs != same, i


def model_batch(gen: torch.Generator, n: int = 16) -> dict[str, torch.Tensor]:
    return {"obs": torch.randint(2, (n, OBS_DIM), generator=gen).float(),
            "actions": torch.randint(N_ACTIONS, (n,), generator=gen), "rewards": torch.randn(n, generator=gen),
            "next_obs": torch.randint(2, (n, OBS_DIM), generator=gen).float(),
            "terminated": (torch.rand(n, generator=gen) > 0.8).float()}


def test_stacked_model_updates_and_steps_equal_separate_models():
    singles = [seed_model(s) for s in (0, 1, 2)]
    stacked = StackedLearnedModel(singles, 1e-3)
    gen = torch.Generator().manual_seed(3)
    for _ in range(4):
        batches = [model_batch(gen) for _ in singles]
        losses = stacked.update(stack(batches))
        for i, (model, batch) in enumerate(zip(singles, batches)):
            single = model.update(batch)
            for name, value in single.items():
                np.testing.assert_allclose(losses[name][i], value, rtol=1e-5, atol=1e-6)
    for i, model in enumerate(singles):
        for name, value in stacked.seed_state_dict(i).items():
            torch.testing.assert_close(value, model.net.state_dict()[name], rtol=0, atol=1e-5)
    # one step of all seeds: each seed's own model's predictions
    obs, actions = torch.randint(2, (3, 7, OBS_DIM)).float(), torch.randint(N_ACTIONS, (3, 7))
    rewards, continuation, next_obs = stacked.step(obs, actions)
    assert next_obs.shape == (3, 7, OBS_DIM) and set(next_obs.unique().tolist()) <= {0.0, 1.0}
    for i, model in enumerate(singles):
        mean, going_on, _ = model.predict(obs[i], actions[i])
        torch.testing.assert_close(rewards[i], mean, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(continuation[i], going_on, rtol=1e-5, atol=1e-5)


def test_stacked_rollouts_follow_each_seeds_own_policy():
    singles = learners((0, 1))
    for learner, preferred in zip(singles, (1, 3)):  # seed 0 prefers action 1, seed 1 action 3
        with torch.no_grad():
            learner.q.net[-1].weight.zero_()
            learner.q.net[-1].bias.copy_(torch.nn.functional.one_hot(torch.tensor(preferred), N_ACTIONS) * 10.0)
    policy = StackedDQNLearner(singles, 1e-3)
    policy.temperature = 0.01
    model = StackedLearnedModel([seed_model(s) for s in (0, 1)], 1e-3)
    rollouts = imagine(model, policy, torch.zeros(2, 4, OBS_DIM), 3, torch.Generator().manual_seed(0))
    assert rollouts["obs"].shape == (2, 12, OBS_DIM) and rollouts["weights"].shape == (2, 12)
    assert torch.all(rollouts["actions"][0] == 1) and torch.all(rollouts["actions"][1] == 3)
    chained = rollouts["obs"].reshape(2, 4, 3, OBS_DIM)[:, :, 1:]
    torch.testing.assert_close(chained, rollouts["next_obs"].reshape(2, 4, 3, OBS_DIM)[:, :, :-1])


@pytest.mark.parametrize("agent", ["er_dqn", "model_dqn"])
def test_train_seeds_on_pan_flute_returns_per_seed_evaluations(agent):
    extra = {"model_batch_size": 8, "rollout_length": 4} if agent == "model_dqn" else {}
    results = train_seeds(PAN_FLUTE, n_seeds=2, total_timesteps=120, agent=agent, env_kwargs={"pipes": 3},
                          hidden=[32, 32], batch_size=32, learning_starts=50, updates_per_step=2, buffer_size=500,
                          eval_every=60, n_eval_episodes=2, **extra)
    assert [r["seed"] for r in results] == [0, 1]
    for r in results:
        assert [step for step, _ in r["eval"]] == [60, 120]
        assert all(np.isfinite(value) and value >= 0 for _, value in r["eval"])
        assert r["final_return"] == r["eval"][-1][1]
        assert r["updates"] == 2 * (120 - 50 + 1)
        assert len(r["train_episode_returns"]) == 1  # one 100-step episode ended
    assert results[0]["ms_per_update"] > 0


def test_train_seeds_rejects_bad_input():
    with pytest.raises(ValueError, match="takes er_dqn, model_dqn .*perfect_model_dqn"):
        train_seeds(PAN_FLUTE, 2, 10, agent="perfect_model_dqn")
    with pytest.raises(ValueError, match="rollout_length must be an integer >= 1"):
        train_seeds(PAN_FLUTE, 2, 10, agent=ModelDQN, rollout_length=0)
    with pytest.raises(ValueError, match="n_seeds"):
        train_seeds(PAN_FLUTE, 0, 10)
    with pytest.raises(TypeError, match="unexpected keyword argument 'rollout_length'"):
        train_seeds(PAN_FLUTE, 2, 10, rollout_length=3)  # er_dqn has no model
    with pytest.raises(ValueError, match="learning_rate"):
        train_seeds(PAN_FLUTE, 2, 10, learning_rate=-1.0)


def test_train_seeds_runs_the_one_iteration_loop_with_the_hosts_callback():
    counters = []

    def stop_at_70(local_vars, global_vars):  # the host's callback, called after every iteration
        counters.append(local_vars["self"].num_timesteps)
        return counters[-1] < 70

    results = train_seeds(PAN_FLUTE, n_seeds=2, total_timesteps=100, env_kwargs={"pipes": 3}, hidden=[16],
                          batch_size=16, learning_starts=40, updates_per_step=1, buffer_size=500, eval_every=50,
                          n_eval_episodes=1, callback=stop_at_70)
    assert counters == list(range(1, 71))  # one call per env step of every seed; False at 70 stops training
    for r in results:  # evaluated at 50 and where training stopped
        assert [step for step, _ in r["eval"]] == [50, 70] and r["updates"] == 70 - 40 + 1


def test_a_diverging_stacked_run_is_stopped_by_the_nan_guard():
    stacked = StackedSeeds(ERDQN, lambda: gym.make(PAN_FLUTE, pipes=3), [0, 1], hidden=[8], batch_size=8,
                           learning_starts=5, updates_per_step=1, buffer_size=100)
    with torch.no_grad():
        next(iter(stacked.learner.params.values())).fill_(float("nan"))  # every loss becomes NaN
    stacked.learn(50)
    assert stacked.num_timesteps == 5  # the first update's loss stopped it


def test_train_seeds_model_dqn_with_no_imagined_share_is_er_dqn_exactly():
    common = dict(n_seeds=2, total_timesteps=100, env_kwargs={"pipes": 3}, hidden=[16], batch_size=16,
                  learning_starts=40, updates_per_step=1, buffer_size=500, eval_every=50, n_eval_episodes=1)
    er = train_seeds(PAN_FLUTE, agent="er_dqn", **common)
    replay = train_seeds(PAN_FLUTE, agent=ModelDQN, imagined_share=0.0, **common)
    for a, b in zip(er, replay):
        assert a["eval"] == b["eval"] and a["train_episode_returns"] == b["train_episode_returns"]
        assert a["updates"] == b["updates"] == 61
