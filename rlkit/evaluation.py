"""Policy evaluation: full episodes on a single env with fixed, seeded starts, so successive
evaluations of a run (and of different runs) are comparable.

An env that reports ``info["violations"]`` (constraint violations in that step, e.g. the control
envs) gets them counted per episode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np


@dataclass(frozen=True)
class EvaluationResult:
    returns: np.ndarray
    lengths: np.ndarray
    violations: np.ndarray  # per episode; zeros where the env reports none

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
            "violations_per_episode": float(np.mean(self.violations)),
        }


def evaluate(
    agent: Any, env: gym.Env, episodes: int, seed: int, deterministic: bool = True
) -> EvaluationResult:
    """Run ``episodes`` episodes; episode ``i`` starts from ``env.reset(seed=seed + i)``."""
    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, dtype=np.int64)
    violations = np.zeros(episodes)
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed + episode)
        state, episode_start, done = None, np.ones(1, dtype=bool), False
        while not done:
            action, state = agent.predict(
                observation, state=state, episode_start=episode_start, deterministic=deterministic
            )
            observation, reward, terminated, truncated, info = env.step(action)
            returns[episode] += float(reward)
            violations[episode] += float(info.get("violations", 0))
            lengths[episode] += 1
            episode_start = np.zeros(1, dtype=bool)
            done = terminated or truncated
    return EvaluationResult(returns, lengths, violations)
