"""Policy evaluation: full episodes on a single env with fixed, seeded starts, so successive
evaluations of a run (and of different runs) are comparable.

An env that reports ``info["violations"]`` (constraint violations in that step, e.g. the control
envs) gets them counted per episode. An env that reports ``info["metrics"]`` (a dict of numbers) at
the end of an episode (goals scored, PnL, ...) gets each averaged over the episodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np


@dataclass(frozen=True)
class EvaluationResult:
    returns: np.ndarray
    lengths: np.ndarray
    violations: np.ndarray  # per episode; zeros where the env reports none
    episode_metrics: dict[str, np.ndarray] = field(default_factory=dict)  # the env's, per episode

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
            **{name: float(np.mean(values)) for name, values in self.episode_metrics.items()},
        }


def evaluate(
    agent: Any, env: gym.Env, episodes: int, seed: int, deterministic: bool = True
) -> EvaluationResult:
    """Run ``episodes`` episodes; episode ``i`` starts from ``env.reset(seed=seed + i)``."""
    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, dtype=np.int64)
    violations = np.zeros(episodes)
    metrics: dict[str, list[float]] = {}
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
        for name, value in episode_metrics(info).items():
            metrics.setdefault(name, []).append(value)
    return EvaluationResult(returns, lengths, violations, {k: np.asarray(v) for k, v in metrics.items()})


_SUMMARY_KEYS = frozenset(
    ("mean_return", "std_return", "mean_length", "std_length", "episodes", "violations_per_episode")
)


def episode_metrics(info: dict[str, Any]) -> dict[str, float]:
    """The scalar entries of ``info["metrics"]`` (prefixed ``env_`` where a name is one of the
    evaluation's own)."""
    raw = info.get("metrics") or {}
    return {
        (f"env_{name}" if name in _SUMMARY_KEYS else str(name)): float(value)
        for name, value in raw.items()
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    }
