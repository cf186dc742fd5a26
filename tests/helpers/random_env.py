"""A Gymnasium env of random observations for agent tests that need a space, not a task."""

from __future__ import annotations

import gymnasium as gym
from gymnasium import spaces


class RandomObservations(gym.Env):
    """Observations sampled from ``observation_space`` (seeded by reset), ``Discrete(actions)``,
    reward 1 for ``rewarded_action``; episodes end every ``end_every`` steps and are cut every
    ``cut_every`` (None: never)."""

    def __init__(self, observation_space: spaces.Space, actions: int = 3, rewarded_action: int = 1,
                 end_every: int | None = None, cut_every: int | None = None) -> None:
        self.observation_space, self.action_space = observation_space, spaces.Discrete(actions)
        self.rewarded_action, self.end_every, self.cut_every = rewarded_action, end_every, cut_every
        self.steps = 0

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(seed)
        self.steps = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.steps += 1
        ended = bool(self.end_every) and self.steps % self.end_every == 0
        cut = bool(self.cut_every) and self.steps % self.cut_every == 0
        return self.observation_space.sample(), float(action == self.rewarded_action), ended, cut, {}
