"""agent=latent_model_dqn (agents.model_based.latent): the latent distributions against torch.distributions,
the straight-through categorical sample, the latent model learning PanFlute's dynamics, rollouts in latent
space, the agent's save/load round trip and its bad settings."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.distributions import Categorical, Independent, Normal, kl_divergence

from agents.model_based.agents import LatentModelDQN
from agents.model_based.latent import MIN_STD, LatentDistribution, LatentModel
from agents.model_based.models import imagine
from gridworld_data import pan_flute_transitions

CPU = torch.device("cpu")
TINY = dict(hidden=[32, 32], batch_size=40, learning_starts=50, updates_per_step=1, buffer_size=2000,
            model_batch_size=16, rollout_length=4, latent_size=4, latent_classes=3)


def test_gaussian_kl_and_samples_match_torch_distributions():
    dist = LatentDistribution("gaussian", 3, 1)
    gen = torch.Generator().manual_seed(0)
    p, q = torch.randn(5, 6, generator=gen), torch.randn(5, 6, generator=gen)

    def normal(stats):
        mean, raw = stats.chunk(2, -1)
        return Independent(Normal(mean, torch.nn.functional.softplus(raw) + MIN_STD), 1)

    torch.testing.assert_close(dist.kl(p, q), kl_divergence(normal(p), normal(q)))
    assert torch.allclose(dist.kl(p, p), torch.zeros(5), atol=1e-6)
    samples = dist.sample(p[:1].expand(20_000, 6), torch.Generator().manual_seed(1))
    torch.testing.assert_close(samples.mean(0), normal(p[:1]).mean[0], atol=0.05, rtol=0)


def test_categorical_sample_is_one_hot_with_straight_through_gradient_and_kl_matches():
    dist = LatentDistribution("categorical", 4, 3)
    assert (dist.n_stats, dist.dim) == (12, 12)
    stats = torch.randn(6, 12, requires_grad=True)
    sample = dist.sample(stats, torch.Generator().manual_seed(0))
    groups = sample.detach().unflatten(-1, (4, 3))  # one-hot up to the rounding of probs - probs
    assert torch.allclose(groups.sum(-1), torch.ones(6, 4)) and torch.all((groups - groups.round()).abs() < 1e-6)
    (sample * torch.arange(12.0)).sum().backward()  # the gradient reaches the logits through the probabilities
    assert stats.grad is not None and float(stats.grad.abs().sum()) > 0
    other = torch.randn(6, 12)
    expected = kl_divergence(Categorical(logits=stats.detach().unflatten(-1, (4, 3))),
                             Categorical(logits=other.unflatten(-1, (4, 3)))).sum(-1)
    torch.testing.assert_close(dist.kl(stats.detach(), other), expected)
    # the classes are drawn with the softmax probabilities
    peaked = torch.tensor([[0.0, 2.0, -1.0]]).repeat(1, 4).expand(5000, 12)
    frequencies = dist.sample(peaked, torch.Generator().manual_seed(2)).unflatten(-1, (4, 3)).mean((0, 1))
    torch.testing.assert_close(frequencies, torch.softmax(torch.tensor([0.0, 2.0, -1.0]), 0), atol=0.02, rtol=0)


@pytest.mark.parametrize("kind", ["gaussian", "categorical"])
def test_latent_model_learns_pan_flutes_shift_registers(kind):
    torch.manual_seed(0)
    train, held_out = pan_flute_transitions(2000, seed=0), pan_flute_transitions(400, seed=1)
    model = LatentModel(15, 5, [64, 64], 3e-3, CPU, latent=kind)
    model.generator = torch.Generator().manual_seed(0)

    def bit_accuracy():
        _, _, probabilities = model.predict(held_out["obs"], held_out["actions"])
        return float(((probabilities > 0.5).float() == held_out["next_obs"]).float().mean())

    before = bit_accuracy()
    rng = np.random.default_rng(0)
    for _ in range(300):
        rows = torch.as_tensor(rng.integers(2000, size=64))
        losses = model.update({key: value[rows] for key, value in train.items()})
    assert set(losses) == {"reward", "termination", "next_obs", "kl"} and all(np.isfinite(list(losses.values())))
    after = bit_accuracy()
    assert after > 0.93 and after > before + 0.15, (before, after)
    # imagined steps from encoded observations: sampled bits, the true next observation's bits mostly
    model.start(held_out["obs"])
    rewards, continuation, next_obs = model.step(held_out["obs"], held_out["actions"])
    assert set(next_obs.unique().tolist()) <= {0.0, 1.0} and rewards.shape == continuation.shape == (400,)
    assert float((next_obs == held_out["next_obs"]).float().mean()) > 0.88
    assert float(continuation.min()) > 0.9  # a continuing task


def test_latent_rollouts_stay_in_latent_space_and_need_start():
    model = LatentModel(15, 5, [16], 1e-3, CPU, latent="gaussian", latent_size=3)
    model.generator = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="before start"):
        model.step(torch.zeros(2, 15), torch.zeros(2, dtype=torch.long))

    class Uniform:
        def sample_actions(self, obs, generator=None):
            return torch.randint(5, (len(obs),), generator=generator)

    rollouts = imagine(model, Uniform(), torch.zeros(6, 15), 5, torch.Generator().manual_seed(0))
    assert rollouts["obs"].shape == (30, 15) and rollouts["weights"].shape == (30,)
    steps = rollouts["obs"].reshape(6, 5, 15)
    torch.testing.assert_close(steps[:, 1:], rollouts["next_obs"].reshape(6, 5, 15)[:, :-1])  # chained


def test_agent_learns_saves_and_loads(tmp_path):
    env = gym.make("rlkit/ProcMaze-v0")
    agent = LatentModelDQN(env=env, seed=3, device="cpu", **TINY)
    agent.learn(80)
    assert agent.learner.updates == 31 and isinstance(agent.model, LatentModel)
    obs = np.stack([env.reset(seed=s)[0] for s in range(10)])
    agent.save(tmp_path / "agent")
    loaded = LatentModelDQN.load(tmp_path / "agent.zip", env=env, device="cpu")
    np.testing.assert_array_equal(loaded.predict(obs)[0], agent.predict(obs)[0])
    for name, tensor in agent.model.net.state_dict().items():
        assert torch.equal(tensor, loaded.model.net.state_dict()[name]), name
    assert loaded.hyperparameters["latent"] == "categorical"


@pytest.mark.parametrize("settings, message", [
    ({"latent": "vq"}, "latent must be one of gaussian, categorical"),
    ({"latent_size": 0}, "latent_size must be an integer >= 1"),
    ({"latent_classes": 1.5}, "latent_classes must be an integer >= 1"),
    ({"kl_scale": -1.0}, "kl_scale must be a number >= 0"),
    ({"free_nats": float("nan")}, "free_nats must be a number >= 0"),
    ({"rollout_length": 0}, "rollout_length must be an integer >= 1"),
])
def test_bad_latent_settings_are_refused_by_name(settings, message):
    with pytest.raises(ValueError, match=message):
        LatentModelDQN(env=gym.make("rlkit/PanFlute-v0"), **{**TINY, **settings})
