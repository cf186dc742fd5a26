"""A Gymnasium environment that runs an autonomous system ``dx/dt = f(x)`` (no inputs), so Lyapunov
analysis agents (``agent=lyapunov_discovery``) plug into ``rlkit train`` / ``rlkit evaluate`` like any
other: the system is the env's model, evaluation rolls the flow out from states of the region."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.control.autonomous import SYSTEMS, AutonomousSystem, make_system


class AutonomousEnv(gym.Env):
    """Follow the flow of an autonomous system from a state of its region.

    ## Description
    ``env.unwrapped.system`` is an :class:`~envs.control.autonomous.AutonomousSystem` (torch, NumPy and
    SymPy forms of one model); each step integrates ``dx/dt = f(x)`` over ``dt`` with one classical
    Runge-Kutta (RK4) step. Nothing is controlled: the env is how a run names the system a Lyapunov
    analysis is about, and how an evaluation watches the state converge (or not).

    ## Action Space
    ``Box(0, 0, (0,), float32)``: there is no input; any action of shape (0,) is accepted.

    ## Observation Space
    ``Box(-inf, inf, (n_states,), float64)``: the state in the system's ``state_names`` order.

    ## Rewards
    ``-|x_{t+1}|^2 dt``: the squared distance from the equilibrium 0, integrated over the step, so an
    episode's return measures how fast the flow settles.

    ## Starting State
    Uniform on the system's region (the box its Lyapunov analysis is stated on), drawn from
    ``self.np_random``; or ``reset(options={"initial_state": x0})`` (a wrongly shaped or non-finite
    ``x0`` is a ValueError).

    ## Episode End
    Truncated after ``episode_steps`` steps; terminated when the state is no longer finite or leaves
    ``escape_radius`` times the region (the flow diverged).

    ## Arguments
    ``system``: a name from :data:`envs.control.autonomous.SYSTEMS` or an ``AutonomousSystem``;
    ``dt`` (0.05), ``episode_steps`` (400), ``escape_radius`` (10).
    """

    metadata = {"render_modes": []}

    def __init__(self, system: str | AutonomousSystem = "stable_linear", dt: float = 0.05, episode_steps: int = 400,
                 escape_radius: float = 10.0) -> None:
        if isinstance(system, str):
            system = make_system(system)
        elif not isinstance(system, AutonomousSystem):
            raise ValueError(f"system must be an AutonomousSystem or one of {', '.join(SYSTEMS)}; got {system!r}")
        if not (dt > 0 and episode_steps >= 1 and escape_radius > 1):
            raise ValueError(f"need dt > 0, episode_steps >= 1, escape_radius > 1; got {dt}, {episode_steps}, "
                             f"{escape_radius}")
        self.system, self.dt, self.episode_steps = system, float(dt), int(episode_steps)
        self.escape_radius = float(escape_radius)
        self.low, self.high = system.region
        self.observation_space = spaces.Box(-np.inf, np.inf, (system.n_states,), np.float64)
        self.action_space = spaces.Box(0.0, 0.0, (0,), np.float32)
        self.state = np.zeros(system.n_states)
        self.steps = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if options and "initial_state" in options:
            x0 = np.asarray(options["initial_state"], dtype=np.float64)
            if x0.shape != (self.system.n_states,) or not np.all(np.isfinite(x0)):
                raise ValueError(f"initial_state must be {self.system.n_states} finite numbers; got {x0.tolist()}")
            self.state = x0.copy()
        else:
            self.state = self.np_random.uniform(self.low, self.high)
        self.steps = 0
        return self.state.copy(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if np.size(action) != 0:
            raise ValueError(f"{self.system.name} has no input: the action must be empty, got {action!r}")
        f, x, h = self.system.f, self.state, self.dt
        k1 = f(x)
        k2 = f(x + h / 2 * k1)
        k3 = f(x + h / 2 * k2)
        k4 = f(x + h * k3)
        self.state = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        self.steps += 1
        bound = self.escape_radius * np.maximum(np.abs(self.low), np.abs(self.high))
        escaped = not np.all(np.abs(self.state) <= bound)  # NaN fails the comparison too
        reward = -float(np.sum(np.clip(np.nan_to_num(self.state, nan=np.inf), -bound, bound) ** 2)) * h
        return self.state.copy(), reward, bool(escaped), self.steps >= self.episode_steps, {}
