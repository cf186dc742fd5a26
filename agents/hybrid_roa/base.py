"""What every car-tracking controller shares: reading the env's model, the observation's parts, the
LQR gain schedule per friction mode, and the agent surface (act, save, load) of a controller.

The controllers act on the deviation ``e = x - x_eq(p)`` of the tracking-error state from steady
cornering on the reference (``envs.hybrid.car.CarTracking.equilibrium``), where ``p`` are the
parameters ``[v_ref, omega_ref, a_ref, mu_scale]`` the observation implies.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import scipy.linalg
import torch
from gymnasium import spaces

from agents.base import unwrapped_env
from agents.checkpoint import Checkpointed
from agents.rollout import StepRunner
from envs.hybrid.car import CarTracking
from envs.hybrid.car_env import FIELD, OBSERVATION_FIELDS, CarHybridEnv, reference_params

N_OBS = len(OBSERVATION_FIELDS)
DEFAULT_Q = (1.0, 10.0, 0.1, 1.0, 10.0, 1.0, 1.0)  # x, y, steering, speed, heading, yaw rate, slip
DEFAULT_R = (1.0, 1.0)


def car_env_model(env: Any) -> tuple[CarTracking, bool]:
    """(the car system, whether the env takes reference commands) of a car_hybrid env, plain, wrapped
    or inside an SB3 VecEnv; a ValueError naming the requirement otherwise."""
    if env is None:
        raise ValueError("this agent needs the car_hybrid env (rlkit/CarHybrid-v0) to act in; got no env")
    unwrapped = unwrapped_env(env)
    system = getattr(unwrapped, "system", None)
    if not isinstance(system, CarTracking):
        raise ValueError(f"this agent controls the hybrid car: it needs env=car_hybrid or car_hybrid_planned "
                         f"(rlkit/CarHybrid-v0), not {type(unwrapped).__name__}")
    return system, bool(getattr(unwrapped, "reference_commands", False))


# -- hyper-parameters: the keyword-only arguments of an agent's constructor ------------------------
def keyword_only(init: Callable) -> list[str]:
    """The keyword-only arguments of the constructor ``init``: the agent's hyper-parameters."""
    return [name for name, parameter in inspect.signature(init).parameters.items()
            if parameter.kind is parameter.KEYWORD_ONLY]


def hyperparameters_of(init: Callable, arguments: dict[str, Any]) -> dict[str, Any]:
    """The hyper-parameters of the constructor ``init`` with their values in its ``locals()``
    (what a checkpoint rebuilds the agent from)."""
    return {name: arguments[name] for name in keyword_only(init)}


def weights(name: str, value: Any, size: int, positive: bool) -> list[float]:
    """A list of ``size`` finite diagonal weights (non-negative, or positive), or a ValueError."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a list of {size} numbers (got {value!r})") from None
    if array.ndim != 1 or len(array) != size:
        raise ValueError(f"{name} must be a list of {size} diagonal weights (got {value!r})")
    if not np.all(np.isfinite(array)) or np.any(array <= 0 if positive else array < 0):
        raise ValueError(f"{name}'s weights must be finite and {'positive' if positive else 'non-negative'} "
                         f"(got {value!r})")
    return array.tolist()


def integer(name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` as an int in [low, high], or a ValueError naming ``name`` and the range."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (
            high is not None and value > high):
        allowed = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
        raise ValueError(f"{name} must be {allowed} (got {value!r})")
    return int(value)


def as_batch(observation: Any) -> tuple[np.ndarray, bool]:
    """Observations as a float64 (N, 17) batch and whether a single one was given."""
    obs = np.asarray(observation, dtype=np.float64)
    single = obs.ndim == 1
    obs = obs.reshape(-1, obs.shape[-1])
    if obs.shape[-1] != N_OBS:
        raise ValueError(f"a car_hybrid observation has {N_OBS} entries ({', '.join(OBSERVATION_FIELDS)}); "
                         f"got shape {np.shape(observation)}")
    return obs, single


def deviation(system: CarTracking, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(params, e = x - x_eq, x_eq, u_eq) for a batch of observations (float64 numpy)."""
    params = reference_params(obs)
    x_eq, u_eq = system.equilibrium(params)
    return params, obs[:, :7] - x_eq, x_eq, u_eq


class LQRSchedule:
    """Discrete-time LQR gains of the car linearised about steady cornering, per parameter vector.

    The gain depends on speed, turn rate and friction; gains are cached on the parameters rounded to
    ``resolution`` (3 decimals), so a drive over a road solves a few hundred Riccati equations at most.
    """

    def __init__(self, system: CarTracking, Q: Any = DEFAULT_Q, R: Any = DEFAULT_R, resolution: int = 3) -> None:
        self.system = system
        self.Q = np.diag(np.asarray(Q, dtype=np.float64))
        self.R = np.diag(np.asarray(R, dtype=np.float64))
        if self.Q.shape != (7, 7) or self.R.shape != (2, 2):
            raise ValueError(f"Q needs 7 and R 2 diagonal weights (got {len(Q)} and {len(R)})")
        if np.any(np.diag(self.Q) < 0) or np.any(np.diag(self.R) <= 0):
            raise ValueError("Q's weights must be non-negative and R's positive")
        self.resolution = resolution
        self._cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def gain_and_cost(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(K, P): u = u_eq - K e, cost-to-go e' P e, for one parameter vector."""
        key = tuple(np.round(np.asarray(params, dtype=np.float64), self.resolution))
        if key not in self._cache:
            A, B, _, _ = self.system.linearize_mode(torch.tensor(key, dtype=torch.float64))
            dt = self.system.dt
            Ad, Bd = np.eye(7) + dt * A, dt * B  # the env's explicit Euler step
            P = scipy.linalg.solve_discrete_are(Ad, Bd, self.Q, self.R)
            K = np.linalg.solve(self.R + Bd.T @ P @ Bd, Bd.T @ P @ Ad)
            self._cache[key] = (K, P)
        return self._cache[key]

    def control(self, params: np.ndarray, e: np.ndarray, u_eq: np.ndarray) -> np.ndarray:
        """Saturated LQR inputs for a batch."""
        u = np.empty((len(e), 2))
        for row in range(len(e)):
            K, _ = self.gain_and_cost(params[row])
            u[row] = u_eq[row] - K @ e[row]
        return np.clip(u, -self.system.input_limit, self.system.input_limit)


class CarControllerAgent(Checkpointed, StepRunner):
    """The agent surface of a car controller.

    A subclass takes its hyper-parameters as keyword-only constructor arguments (``**unknown`` goes
    to :func:`refuse_unknown`), checks them and calls ``super().__init__(env, seed, device, verbose,
    hyperparameters_of(<its __init__>, locals()))`` -- positionally, so the catalogue reads the
    subclass's keywords alone. It defines ``control(obs) -> u`` (N, 2) and may override
    ``reference(obs)`` (the planner's ``[speed, offset]`` commands; by default the segment's nominal
    speed on the centreline) and ``checkpoint_state()`` / ``restore_checkpoint(state)`` for what
    ``save`` keeps besides the hyper-parameters (:class:`agents.checkpoint.Checkpointed`: ``load``
    rebuilds the agent from them, then restores that state).
    """

    save_format: ClassVar[int] = 3  # 1: a pickle (data.pkl), no longer read; 2: the env's settings beside "agent"
    supported_action_spaces: ClassVar[tuple[type[spaces.Space], ...]] = (spaces.Box,)

    @classmethod
    def check_env(cls, env: Any) -> None:
        car_env_model(env)

    def __init__(self, env: Any, seed: int | None, device: Any, verbose: int,
                 hyperparameters: dict[str, Any], /) -> None:
        self.system, self.reference_commands = car_env_model(env)
        self.env, self.seed, self.device, self.verbose = env, seed, device, verbose
        self.hyperparameters = hyperparameters
        self.num_timesteps, self._total_timesteps, self._last_obs, self._logger = 0, 0, None, None

    # -- acting ---------------------------------------------------------------------------------
    def control(self, obs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def reference(self, obs: np.ndarray) -> np.ndarray:
        return np.stack([obs[:, FIELD["nominal_speed"]], np.zeros(len(obs))], axis=-1)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Actions for a batch of observations: the inputs, plus the reference commands where the env
        takes them. With commands, the inputs are computed for the commanded reference."""
        if not self.reference_commands:
            return self.control(obs)
        command = self.reference(obs)
        moved = shift_reference(obs, command)
        return np.concatenate([self.control(moved), command], axis=-1)

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        obs, single = as_batch(observation)
        if not np.all(np.isfinite(obs)):
            raise ValueError(f"{type(self).__name__}: the observation holds NaN or infinite values")
        actions = self.act(obs).astype(np.float32)
        return (actions[0] if single else actions), state

    def _actions(self, env: Any) -> np.ndarray:
        return self.predict(self._last_obs)[0]

    def get_env(self) -> Any:
        return self.env

    def set_env(self, env: Any) -> None:
        self.system, self.reference_commands = car_env_model(env)
        self.env, self._last_obs = env, None

    # -- saving (agents.checkpoint.Checkpointed: the hyper-parameters and a state tree) ------------
    def checkpoint_state(self) -> dict[str, Any]:
        """The car env's settings (``load`` without an env makes one like it); a subclass adds its
        own state to this dict."""
        return {"reference_commands": self.reference_commands, "dt": self.system.dt,
                "input_limit": self.system.input_limit}

    @classmethod
    def rebuild(cls, hyperparameters: dict[str, Any], state: dict[str, Any], *, seed: Any, env: Any, device: Any,
                verbose: int) -> CarControllerAgent:
        """Built on ``env``, or without one on a car env like the one it was saved with (its step,
        input limit and reference commands), which it does not keep."""
        saved_env = env if env is not None else CarHybridEnv(
            reference_commands=state["reference_commands"], dt=state["dt"], input_limit=state["input_limit"])
        agent = super().rebuild(hyperparameters, state, seed=seed, env=saved_env, device=device, verbose=verbose)
        agent.env = env
        return agent


def shift_reference(obs: np.ndarray, command: np.ndarray) -> np.ndarray:
    """The observations as they will read once the reference moves to ``command`` = [speed, offset]
    (the env's own bookkeeping: the speed and lateral errors and the yaw-rate error shift)."""
    moved = obs.copy()
    speed, offset = command[:, 0], command[:, 1]
    before = reference_params(obs)[:, 1]
    moved[:, FIELD["speed_error"]] -= speed - obs[:, FIELD["reference_speed"]]
    moved[:, FIELD["y_error"]] -= offset - obs[:, FIELD["offset"]]
    moved[:, FIELD["reference_speed"]] = speed
    moved[:, FIELD["offset"]] = offset
    moved[:, FIELD["yaw_rate_error"]] -= reference_params(moved)[:, 1] - before
    return moved
