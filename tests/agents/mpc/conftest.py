"""Small linear plants and a minimal control env for the MPC tests (independent of envs.control,
whose real environments are exercised in test_agents.py's integration tests)."""

from __future__ import annotations

from typing import Any

from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from agents.mpc import ExplicitSolution, LinearMPCProblem

DOUBLE_INTEGRATOR = {
    "A": [[1.0, 1.0], [0.0, 1.0]],
    "B": [[0.0], [1.0]],
    "Q": np.eye(2),
    "R": 0.01,
    "state_low": [-10.0, -10.0],
    "state_high": [10.0, 10.0],
    "input_low": [-1.0],
    "input_high": [1.0],
    "H_x": [[1.0, 2.0], [-1.0, -2.0]],
    "h_x": [25.0, 25.0],
}


class LinearSystem:
    """A duck-typed control system ``x+ = x_eq + A (x - x_eq) + B (u - u_eq) + drift``."""

    def __init__(self, A: Any, B: Any, Q: Any, R: Any, state_low: Any, state_high: Any, input_low: Any,
                 input_high: Any, H_x: Any = None, h_x: Any = None, x_eq: Any = None, u_eq: Any = None,
                 drift: Any = None, jacobian_scale: float = 1.0, name: str = "linear") -> None:
        self.A, self.B = np.asarray(A, dtype=np.float64), np.asarray(B, dtype=np.float64)
        n, m = self.B.shape
        self.Q = float(Q) * np.eye(n) if np.ndim(Q) == 0 else np.asarray(Q, dtype=np.float64)
        self.R = float(R) * np.eye(m) if np.ndim(R) == 0 else np.asarray(R, dtype=np.float64)
        self.state_low, self.state_high = np.asarray(state_low, float), np.asarray(state_high, float)
        self.input_low, self.input_high = np.asarray(input_low, float), np.asarray(input_high, float)
        self.H_x = None if H_x is None else np.asarray(H_x, float)
        self.h_x = None if h_x is None else np.asarray(h_x, float)
        self.H_u = self.h_u = None
        self.x_eq = np.zeros(n) if x_eq is None else np.asarray(x_eq, float)
        self.u_eq = np.zeros(m) if u_eq is None else np.asarray(u_eq, float)
        self.drift = np.zeros(n) if drift is None else np.asarray(drift, float)
        self.jacobian_scale = jacobian_scale
        self.name = name

    n_states = property(lambda self: self.A.shape[0])
    n_inputs = property(lambda self: self.B.shape[1])

    def discrete_step(self, x: Any, u: Any) -> Any:
        if torch.is_tensor(x):
            A, B = torch.as_tensor(self.A), torch.as_tensor(self.B)
            x_eq, u_eq, drift = (torch.as_tensor(v) for v in (self.x_eq, self.u_eq, self.drift))
            return x_eq + (x - x_eq) @ A.T + (u - u_eq) @ B.T + drift
        return self.x_eq + (np.asarray(x) - self.x_eq) @ self.A.T + (np.asarray(u) - self.u_eq) @ self.B.T + self.drift

    def linearize(self, x: Any = None, u: Any = None) -> tuple[np.ndarray, np.ndarray]:
        return self.A * self.jacobian_scale, self.B * self.jacobian_scale

    def stage_cost(self, x: np.ndarray, u: np.ndarray) -> float:
        dx, du = x - self.x_eq, u - self.u_eq
        return float(dx @ self.Q @ dx + du @ self.R @ du)


class LinearSystemEnv(gym.Env):
    """Observation = the state; action in [-1, 1] mapped affinely onto the input box; reward = minus
    the stage cost; 30-step episodes from a uniform box around the equilibrium."""

    def __init__(self, system: LinearSystem | None = None, start_low: Any = (-6.0, -2.0),
                 start_high: Any = (6.0, 2.0), episode_steps: int = 30) -> None:
        self.system = system or LinearSystem(**DOUBLE_INTEGRATOR)
        n, m = self.system.n_states, self.system.n_inputs
        self.observation_space = spaces.Box(-np.inf, np.inf, (n,), np.float64)
        self.action_space = spaces.Box(-1.0, 1.0, (m,), np.float32)
        self.start_low, self.start_high = np.asarray(start_low, float), np.asarray(start_high, float)
        self.episode_steps = episode_steps
        self._mid = (self.system.input_high + self.system.input_low) / 2
        self._half = (self.system.input_high - self.system.input_low) / 2

    def observation_to_state(self, obs: Any) -> np.ndarray:
        return np.asarray(obs, dtype=np.float64)

    def state_to_observation(self, x: Any) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)

    def action_to_input(self, action: Any) -> np.ndarray:
        return self._mid + self._half * np.asarray(action, dtype=np.float64)

    def input_to_action(self, u: Any) -> np.ndarray:
        return (np.asarray(u, dtype=np.float64) - self._mid) / self._half

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._x = self.system.x_eq + self.np_random.uniform(self.start_low, self.start_high)
        self._t = 0
        return self._x.copy(), {}

    def step(self, action: Any):
        u = self.action_to_input(np.clip(action, -1, 1))
        reward = -self.system.stage_cost(self._x, u)
        self._x = self.system.discrete_step(self._x, u)
        self._t += 1
        return self._x.copy(), reward, False, self._t >= self.episode_steps, {}


def double_integrator_problem(horizon: int = 10, **changes: Any) -> LinearMPCProblem:
    return LinearMPCProblem(horizon=horizon, **{**DOUBLE_INTEGRATOR, **changes})


@pytest.fixture(scope="session")
def mpc_cache_dir(tmp_path_factory) -> Any:
    return tmp_path_factory.mktemp("explicit_mpc_cache")


@pytest.fixture(scope="session")
def di_solution(mpc_cache_dir) -> ExplicitSolution:
    """The tutorial double integrator, N = 10, solved once per session (cached for the agents)."""
    return ExplicitSolution.solve(double_integrator_problem(), cache_dir=mpc_cache_dir)


@pytest.fixture(scope="session")
def plants() -> SimpleNamespace:
    """The helpers above, for the test modules (conftest is not importable under importlib mode)."""
    return SimpleNamespace(
        LinearSystem=LinearSystem,
        LinearSystemEnv=LinearSystemEnv,
        DOUBLE_INTEGRATOR=DOUBLE_INTEGRATOR,
        double_integrator_problem=double_integrator_problem,
    )
