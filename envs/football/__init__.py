"""Google Research Football's tasks on a fast built-in engine, for single games or thousands at once.

The package, one job per module, data flowing down the list:

- :mod:`~envs.football.state`: the game state of a batch of games as plain NumPy arrays;
- :mod:`~envs.football.scenarios`: GRF's academy and full-game scenarios (positions, roles, rules);
- :mod:`~envs.football.engine`: the Numba engine (physics, ball control, the built-in AI) that
  steps every game of a batch in one call;
- :mod:`~envs.football.observations`: GRF's representations (``raw``, ``simple115v2``,
  ``extracted``) and a ``graph`` view, from the state (fast, batched) or from a GRF raw dict;
- :mod:`~envs.football.rewards`: GRF's ``scoring`` and ``checkpoints`` rewards;
- :mod:`~envs.football.env`: :class:`FootballEnv`, the Gymnasium env ``rlkit/Football-v0``;
- :mod:`~envs.football.vector`: :class:`FootballVectorEnv`, many games in one engine
  (``gym.make_vec("rlkit/Football-v0", num_envs=n)``);
- :mod:`~envs.football.grf`: :class:`GRFFootballEnv`, the same env on GRF's own engine
  (``backend="grf"``; needs the optional ``gfootball``).

Importing this package is cheap (no numba): the classes load on first use, and
:func:`register_football_envs` registers the env with Gymnasium.
"""

from __future__ import annotations

import importlib
from typing import Any

# Gymnasium id -> (entry point, vector entry point)
FOOTBALL_ENVS = {
    "rlkit/Football-v0": ("envs.football.env:FootballEnv", "envs.football.vector:FootballVectorEnv"),
}

_LAZY = {
    "FootballEnv": "envs.football.env",
    "FootballVectorEnv": "envs.football.vector",
    "GRFFootballEnv": "envs.football.grf",
    "FootballEngine": "envs.football.engine",
    "FootballState": "envs.football.state",
    "SCENARIOS": "envs.football.scenarios",
    "REPRESENTATIONS": "envs.football.observations",
    "REWARDS": "envs.football.rewards",
}

__all__ = ["FOOTBALL_ENVS", "register_football_envs", *_LAZY]


def register_football_envs() -> None:
    """Register ``rlkit/Football-v0`` with Gymnasium (idempotent; imports neither numba nor the env
    modules: Gymnasium loads the entry points on ``gym.make`` / ``gym.make_vec``). The env truncates
    itself at the scenario's time limit, so no TimeLimit wrapper."""
    import gymnasium as gym

    for env_id, (entry_point, vector_entry_point) in FOOTBALL_ENVS.items():
        if env_id not in gym.envs.registry:
            gym.register(env_id, entry_point=entry_point, vector_entry_point=vector_entry_point)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'envs.football' has no attribute {name!r}")
