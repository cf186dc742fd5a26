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


class ActsIn(gym.Env):
    """A one-step env with the given action space."""

    observation_space = spaces.Box(-1.0, 1.0, (2,))

    def __init__(self, action_space: spaces.Space) -> None:
        self.action_space = action_space

    def reset(self, *, seed=None, options=None):
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, True, False, {}


ACTION_SPACES = [spaces.Discrete(3), spaces.Box(-1.0, 1.0, (2,)), spaces.MultiDiscrete([2, 3]), spaces.MultiBinary(2)]


def assert_declares_what_sb3_accepts(agent_class: type) -> None:
    """The action spaces the class declares are those its SB3 algorithm accepts at construction."""
    for space in ACTION_SPACES:
        extra = {} if agent_class in (sb3.PPO, sb3.A2C) else {"buffer_size": 10}
        try:
            agent_class("MlpPolicy", ActsIn(space), device="cpu", **SMALL, **extra)
            accepted = True
        except AssertionError:  # SB3's "The algorithm only supports ... as action spaces"
            accepted = False
        assert can_act_in(agent_class, space) == accepted, f"{agent_class.__name__} in {space}"


@pytest.mark.parametrize("name", sorted(ENV_FOR))
def test_every_sb3_agent_meets_the_contract_and_round_trips(name, tmp_path):
    agent_class = getattr(sb3, name)
    env = gym.make(ENV_FOR[name])
    extra = {"learning_starts": 10, "buffer_size": 1000} if name in ("DQN", "DDPG", "TD3", "SAC") else {}
    agent = agent_class("MlpPolicy", env, seed=0, device="cpu", **SMALL, **extra)
    assert isinstance(agent, Agent)
    assert_declares_what_sb3_accepts(agent_class)

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
