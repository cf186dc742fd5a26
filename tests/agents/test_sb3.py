"""SB3 agents satisfy the agent contract and accept hyper-parameters written in config files."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from stable_baselines3.common.noise import NormalActionNoise
from torch import nn

from agents import sb3
from agents.base import Agent, can_act_in

ENV_FOR = {"PPO": "CartPole-v1", "A2C": "CartPole-v1", "DQN": "CartPole-v1",
           "DDPG": "Pendulum-v1", "TD3": "Pendulum-v1", "SAC": "Pendulum-v1"}
SMALL = {"policy_kwargs": {"net_arch": [16], "activation_fn": "relu"}}


@pytest.mark.parametrize("name", sorted(ENV_FOR))
def test_every_sb3_agent_meets_the_contract_and_round_trips(name, tmp_path):
    agent_class = getattr(sb3, name)
    env = gym.make(ENV_FOR[name])
    extra = {"learning_starts": 10, "buffer_size": 1000} if name in ("DQN", "DDPG", "TD3", "SAC") else {}
    agent = agent_class("MlpPolicy", env, seed=0, device="cpu", **SMALL, **extra)
    assert isinstance(agent, Agent)
    assert set(agent_class.supported_action_spaces) == set(agent.supported_action_spaces)

    agent.learn(64)
    assert agent.num_timesteps >= 64
    observations = np.stack([env.observation_space.sample() for _ in range(8)])
    actions, _ = agent.predict(observations, deterministic=True)
    agent.save(tmp_path / "agent.zip")
    loaded = agent_class.load(tmp_path / "agent.zip", device="cpu")
    np.testing.assert_array_equal(loaded.predict(observations, deterministic=True)[0], actions)


def test_action_spaces_decide_who_can_act():
    assert can_act_in(sb3.DQN, spaces.Discrete(3))
    assert not can_act_in(sb3.DQN, spaces.Box(-1, 1, (2,)))
    assert not can_act_in(sb3.TD3, spaces.Discrete(3))
    assert can_act_in(sb3.PPO, spaces.MultiDiscrete([2, 3]))


def test_activation_names_become_torch_modules():
    kwargs = sb3.config_friendly_kwargs({"policy_kwargs": {"activation_fn": "Tanh"}, "train_freq": [4, "step"]})
    assert kwargs["policy_kwargs"]["activation_fn"] is nn.Tanh
    assert kwargs["train_freq"] == (4, "step")
    with pytest.raises(ValueError, match="unknown activation_fn 'swish'; allowed: tanh, relu"):
        sb3.config_friendly_kwargs({"policy_kwargs": {"activation_fn": "swish"}})


def test_exploration_noise_scales_with_the_action_range():
    box = spaces.Box(low=np.array([-2.0, 0.0]), high=np.array([2.0, 10.0]))
    noise = sb3.exploration_noise({"kind": "normal", "sigma": 0.1}, box)
    assert isinstance(noise, NormalActionNoise)
    np.testing.assert_allclose(noise._sigma, [0.2, 0.5])
    assert sb3.exploration_noise({"kind": "none"}, box) is None
    with pytest.raises(ValueError, match="unknown action_noise kind 'pink'"):
        sb3.exploration_noise({"kind": "pink"}, box)
