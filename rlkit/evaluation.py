"""Policy evaluation: full episodes on a single env with fixed, seeded starts, so successive
evaluations of a run (and of different runs) are comparable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np


@dataclass(frozen=True)
class EvaluationResult:
    returns: np.ndarray
    lengths: np.ndarray

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std_return(self) -> float:
        return float(np.std(self.returns))

    @property
    def mean_length(self) -> float:
        return float(np.mean(self.lengths))

    @property
    def std_length(self) -> float:
        return float(np.std(self.lengths))

    def summary(self) -> dict[str, float]:
        return {
            "mean_return": self.mean_return,
            "std_return": self.std_return,
            "mean_length": self.mean_length,
            "std_length": self.std_length,
            "episodes": int(len(self.returns)),
        }


def evaluate(
    agent: Any, env: gym.Env, episodes: int, seed: int, deterministic: bool = True
) -> EvaluationResult:
    """Run ``episodes`` episodes; episode ``i`` starts from ``env.reset(seed=seed + i)``."""
    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, dtype=np.int64)
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed + episode)
        state, episode_start, done = None, np.ones(1, dtype=bool), False
        while not done:
            action, state = agent.predict(
                observation, state=state, episode_start=episode_start, deterministic=deterministic
            )
            observation, reward, terminated, truncated, _ = env.step(action)
            returns[episode] += float(reward)
            lengths[episode] += 1
            episode_start = np.zeros(1, dtype=bool)
            done = terminated or truncated
    return EvaluationResult(returns, lengths)
