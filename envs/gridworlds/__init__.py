"""Combinatorial gridworlds of Young et al. (ICML 2023), "The Benefits of Model-Based Generalization in
Reinforcement Learning": small discrete tasks with many combinations but a factored structure.

- :mod:`envs.gridworlds.proc_maze` -- ``rlkit/ProcMaze-v0``: a new random maze every episode;
- :mod:`envs.gridworlds.button_grid` -- ``rlkit/ButtonGrid-v0``: switch every button on (continuing);
- :mod:`envs.gridworlds.pan_flute` -- ``rlkit/PanFlute-v0``: play the pipes in one order (continuing);
- :mod:`envs.gridworlds.vector` -- their batched engines, many games stepped together with numpy
  (``gym.make_vec(id, num_envs=n, vectorization_mode="vector_entry_point")``).

Observations are flat vectors of 0/1 floats; every env can save and restore its full simulator state
(``get_state()`` / ``set_state(state)``, random generator included, ``supports_state_restore = True``)
so that a "perfect model" agent can roll out on the true simulator from saved states. The envs are
registered with a 100-step time limit (the paper evaluates 100-step episodes); the continuing ones
are thus cut into 100-step episodes for rlkit's host.
"""

from __future__ import annotations

import importlib
import numbers
from typing import Any

# Gymnasium id -> entry point; the short names in rlkit/conf/env/ point at these ids.
GRIDWORLD_ENVS = {
    "rlkit/ProcMaze-v0": "envs.gridworlds.proc_maze:ProcMazeEnv",
    "rlkit/ButtonGrid-v0": "envs.gridworlds.button_grid:ButtonGridEnv",
    "rlkit/PanFlute-v0": "envs.gridworlds.pan_flute:PanFluteEnv",
}
# Gymnasium id -> its batched engine (gym.make_vec(id, num_envs=n, vectorization_mode="vector_entry_point"))
GRIDWORLD_VECTOR_ENVS = {
    "rlkit/ProcMaze-v0": "envs.gridworlds.vector:ProcMazeVectorEnv",
    "rlkit/ButtonGrid-v0": "envs.gridworlds.vector:ButtonGridVectorEnv",
    "rlkit/PanFlute-v0": "envs.gridworlds.vector:PanFluteVectorEnv",
}
EPISODE_STEPS = 100  # the paper's evaluation episodes

# The grid envs' actions, as (row, column) offsets: 0 no-op, 1 up, 2 left, 3 down, 4 right.
MOVES = ((0, 0), (-1, 0), (0, -1), (1, 0), (0, 1))
ACTION_NAMES = ("no-op", "up", "left", "down", "right")

_LAZY = {
    "ProcMazeEnv": "envs.gridworlds.proc_maze",
    "carve_maze": "envs.gridworlds.proc_maze",
    "ButtonGridEnv": "envs.gridworlds.button_grid",
    "PanFluteEnv": "envs.gridworlds.pan_flute",
    "ProcMazeVectorEnv": "envs.gridworlds.vector",
    "ButtonGridVectorEnv": "envs.gridworlds.vector",
    "PanFluteVectorEnv": "envs.gridworlds.vector",
}

__all__ = ["GRIDWORLD_ENVS", "GRIDWORLD_VECTOR_ENVS", "EPISODE_STEPS", "MOVES", "ACTION_NAMES",
           "register_gridworld_envs", *_LAZY]


def register_gridworld_envs() -> None:
    """Register the gridworlds with Gymnasium (idempotent), each with a 100-step time limit and its
    batched engine as the vector entry point (which takes the time limit as ``max_episode_steps``)."""
    import gymnasium as gym

    for env_id, entry_point in GRIDWORLD_ENVS.items():
        if env_id not in gym.envs.registry:
            gym.register(env_id, entry_point=entry_point, vector_entry_point=GRIDWORLD_VECTOR_ENVS[env_id],
                         max_episode_steps=EPISODE_STEPS)


def checked_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]``, or a ValueError naming the allowed range."""
    allowed = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be {allowed} (got {value!r})")
    value = int(value)
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be {allowed} (got {value})")
    return value


def checked_probability(name: str, value: Any) -> float:
    """``value`` as a float in ``[0, 1]``, or a ValueError naming the allowed range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1] (got {value!r})")
    return float(value)


def checked_action(action: Any, n: int) -> int:
    """The action as an int in ``[0, n)``, or a ValueError naming the allowed range."""
    try:
        index = int(action)
    except (TypeError, ValueError):
        index = -1
    if index != action or not 0 <= index < n:
        raise ValueError(f"action must be an integer in [0, {n - 1}] (got {action!r})")
    return index


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'envs.gridworlds' has no attribute {name!r}")
