"""stable-baselines3's algorithms as rlkit agents.

Each class is SB3's own, with three additions: ``supported_action_spaces`` as a class attribute (so a
host can refuse an env before building anything), hyper-parameters that can be written in a
config file (``policy_kwargs.activation_fn`` may be a name (``tanh``, ``relu``, ...) and
``train_freq`` may be a list ``[4, "step"]``), and ``save``/``load`` in rlkit's checkpoint format
instead of SB3's pickles (:mod:`agents.sb3.persistence`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import stable_baselines3 as sb3
from gymnasium import spaces
from stable_baselines3.common.noise import (
    ActionNoise,
    NormalActionNoise,
    OrnsteinUhlenbeckActionNoise,
)
from torch import nn

from agents.sb3.persistence import SB3Persistence

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
}


def config_friendly_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Turn config-file values into the Python objects SB3 expects."""
    kwargs = dict(kwargs)
    policy_kwargs = dict(kwargs.get("policy_kwargs") or {})
    activation = policy_kwargs.get("activation_fn")
    if isinstance(activation, str):
        try:
            policy_kwargs["activation_fn"] = ACTIVATIONS[activation.lower()]
        except KeyError:
            raise ValueError(
                f"unknown activation_fn {activation!r}; allowed: {', '.join(ACTIVATIONS)}"
            ) from None
    if policy_kwargs:
        kwargs["policy_kwargs"] = policy_kwargs
    if isinstance(kwargs.get("train_freq"), list):
        kwargs["train_freq"] = tuple(kwargs["train_freq"])
    return kwargs


def exploration_noise(spec: Any, action_space: spaces.Space) -> ActionNoise | None:
    """Build SB3 action noise from ``{kind: normal|ornstein_uhlenbeck|none, sigma: s}``.

    ``sigma`` is a fraction of each action dimension's half-range, so the same config suits
    actions in [-1, 1] and in [-2, 2].
    """
    if spec is None or isinstance(spec, ActionNoise):
        return spec
    kind = spec.get("kind", "normal")
    if kind == "none":
        return None
    if not isinstance(action_space, spaces.Box):
        raise ValueError(f"action_noise needs a Box action space, got {action_space}")
    half_range = (action_space.high - action_space.low) / 2.0
    sigma = float(spec.get("sigma", 0.1)) * np.where(np.isfinite(half_range), half_range, 1.0)
    mean = np.zeros(action_space.shape, dtype=np.float64)
    if kind == "normal":
        return NormalActionNoise(mean=mean, sigma=sigma)
    if kind == "ornstein_uhlenbeck":
        return OrnsteinUhlenbeckActionNoise(mean=mean, sigma=sigma)
    raise ValueError(f"unknown action_noise kind {kind!r}; allowed: normal, ornstein_uhlenbeck, none")


_ALL_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


class PPO(SB3Persistence, sb3.PPO):
    supported_action_spaces = _ALL_SPACES

    def __init__(self, policy: Any, env: Any, **kwargs: Any) -> None:
        super().__init__(policy, env, **config_friendly_kwargs(kwargs))


class A2C(SB3Persistence, sb3.A2C):
    supported_action_spaces = _ALL_SPACES

    def __init__(self, policy: Any, env: Any, **kwargs: Any) -> None:
        super().__init__(policy, env, **config_friendly_kwargs(kwargs))


class DQN(SB3Persistence, sb3.DQN):
    supported_action_spaces = (spaces.Discrete,)

    def __init__(self, policy: Any, env: Any, **kwargs: Any) -> None:
        super().__init__(policy, env, **config_friendly_kwargs(kwargs))


class CnnDQN(DQN):
    """DQN with SB3's Nature CNN (``CnnPolicy``) on image observations, e.g. football's SMM planes;
    refuses a non-image env before anything is built."""

    env_requirements = {"representation": "extracted"}  # the SMM planes

    @classmethod
    def check_env(cls, env: Any) -> None:
        from stable_baselines3.common.preprocessing import is_image_space

        space = env.observation_space
        if not is_image_space(space, check_channels=True):
            raise ValueError(
                f"cnn_dqn needs image observations (a uint8 Box of height x width x 1, 3 or 4 channels), "
                f"the observation space is {space}; for football use env.kwargs.representation=extracted"
            )

    def __init__(self, policy: Any = "CnnPolicy", env: Any = None, **kwargs: Any) -> None:
        if env is not None:
            self.check_env(env)
        super().__init__(policy, env, **kwargs)


class DDPG(SB3Persistence, sb3.DDPG):
    supported_action_spaces = (spaces.Box,)

    def __init__(self, policy: Any, env: Any, action_noise: Any = None, **kwargs: Any) -> None:
        noise = exploration_noise(action_noise, env.action_space) if env is not None else None
        super().__init__(policy, env, action_noise=noise, **config_friendly_kwargs(kwargs))


class TD3(SB3Persistence, sb3.TD3):
    supported_action_spaces = (spaces.Box,)

    def __init__(self, policy: Any, env: Any, action_noise: Any = None, **kwargs: Any) -> None:
        noise = exploration_noise(action_noise, env.action_space) if env is not None else None
        super().__init__(policy, env, action_noise=noise, **config_friendly_kwargs(kwargs))


class SAC(SB3Persistence, sb3.SAC):
    supported_action_spaces = (spaces.Box,)

    def __init__(self, policy: Any, env: Any, **kwargs: Any) -> None:
        super().__init__(policy, env, **config_friendly_kwargs(kwargs))


__all__ = ["A2C", "DDPG", "DQN", "PPO", "SAC", "TD3", "config_friendly_kwargs", "exploration_noise"]
