"""One Gymnasium environment for any :class:`~envs.control.system.ControlSystem`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.control.system import ControlSystem

OBSERVATION_SCALINGS = ("physical", "normalized")


class ControlEnv(gym.Env):
    """Drive a control system with a quadratic cost, counting constraint violations.

    ## Description
    Wraps any :class:`~envs.control.system.ControlSystem` (its model is ``env.unwrapped.system``):
    each step applies one input for one step ``dt`` of the system's integrator. The task is to keep
    the state at a reference (a fixed equilibrium, or a schedule of setpoints for tracking) at small
    input cost, within the state box, the polytopic state constraints and the safety constraints.

    ## Action Space
    ``Box(-1, 1, (n_inputs,), float32)``, mapped affinely onto the input box:
    ``u = input_low + (action + 1) / 2 * (input_high - input_low)`` (:meth:`action_to_input`;
    :meth:`input_to_action` is its inverse). Actions outside [-1, 1] are clipped first, so the input
    box always holds. A NaN or wrongly shaped action is a ValueError.

    ## Observation Space
    ``Box(-inf, inf, (n_obs,), float64)``: the state ``x`` (in the system's ``state_names`` order)
    followed, when ``observe_reference`` is true, by the current reference state ``x_ref``, so
    ``n_obs = n_states`` or ``2 n_states``. With ``observation_scaling="physical"`` these are in
    physical units; with ``"normalized"`` every component is mapped affinely by the state box,
    ``2 (x - state_low) / (state_high - state_low) - 1`` (the box must then be finite), so the box
    is [-1, 1] (states outside it give values beyond +-1). :meth:`observation_to_state`,
    :meth:`state_to_observation` and :meth:`observation_to_reference` convert.

    ## Rewards
    ``reward_t = -l(x_t, u_t) - violation_penalty * [x_{t+1} violates a constraint]`` with the
    system's stage cost ``l(x, u) = (x - x_ref)' Q (x - x_ref) + (u - u_ref)' R (u - u_ref)`` at the
    state *before* the step, the input applied and the reference in force at step t, in physical
    units and unscaled (with the default ``violation_penalty = 0`` the reward is exactly minus the
    stage cost, which is what an MPC minimises).

    ## Starting State
    Uniform on the box [``initial_state_low``, ``initial_state_high``], drawn from
    ``self.np_random`` (``reset(seed=...)`` makes it reproducible), or
    ``reset(options={"initial_state": x0})``; a starting state outside the state box is a ValueError.

    ## Episode End
    Truncated after ``episode_steps`` steps. Terminated at the first step whose new state violates a
    constraint if ``terminate_on_violation``.

    ## Info
    ``reset`` and every ``step`` return: ``state`` (the physical state now), ``reference`` (the
    reference state now), ``constraint_values`` (every state constraint at the state now as
    ``c <= 0``, named by ``system.constraint_names``), ``violations`` (how many of them are > 0),
    ``violated`` (violations > 0) and ``episode_violations`` (the number of steps so far in this
    episode whose new state violated a constraint; 0 at reset, which does not count the starting
    state). ``step`` adds ``input`` (the physical input applied) and ``stage_cost``.

    ## Arguments
    - ``system``: the :class:`ControlSystem` to drive.
    - ``episode_steps``: steps per episode.
    - ``initial_state_low``, ``initial_state_high``: the box the starting state is drawn from
      (equal bounds give a fixed starting state); inside the state box.
    - ``reference_schedule``: ``None`` (regulate to ``system.x_ref``, ``system.u_ref``) or a sequence
      of ``(start_step, x_ref, u_ref)``, the first starting at step 0, in increasing order.
    - ``observe_reference``: append the reference state to the observation (default: true exactly
      when there is a schedule).
    - ``observation_scaling``: ``"physical"`` (default) or ``"normalized"``.
    - ``terminate_on_violation``: end the episode at a constraint violation (default false).
    - ``violation_penalty``: subtracted from the reward at each violating step (default 0).
    - ``render_mode``: only ``None`` (no rendering).

    ## Version History
    - v0: initial version.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        system: ControlSystem,
        *,
        episode_steps: int,
        initial_state_low: Any,
        initial_state_high: Any,
        reference_schedule: Sequence[tuple[int, Any, Any]] | None = None,
        observe_reference: bool | None = None,
        observation_scaling: str = "physical",
        terminate_on_violation: bool = False,
        violation_penalty: float = 0.0,
        render_mode: str | None = None,
    ) -> None:
        if not isinstance(system, ControlSystem):
            raise ValueError(f"system must be a ControlSystem, got {type(system).__name__}")
        if render_mode is not None:
            raise ValueError(f"render_mode {render_mode!r} is not supported; allowed: None")
        if observation_scaling not in OBSERVATION_SCALINGS:
            raise ValueError(f"unknown observation_scaling {observation_scaling!r}; "
                             f"allowed: {', '.join(OBSERVATION_SCALINGS)}")
        if int(episode_steps) != episode_steps or episode_steps < 1:
            raise ValueError(f"episode_steps must be a positive integer, got {episode_steps!r}")
        if not np.isfinite(violation_penalty) or violation_penalty < 0:
            raise ValueError(f"violation_penalty must be a finite number >= 0, got {violation_penalty!r}")
        self.system = system
        self.render_mode = render_mode
        self.episode_steps = int(episode_steps)
        self.observation_scaling = observation_scaling
        self.terminate_on_violation = bool(terminate_on_violation)
        self.violation_penalty = float(violation_penalty)
        n, m = system.n_states, system.n_inputs

        low = system.check_in_box(initial_state_low, "initial_state_low")
        high = system.check_in_box(initial_state_high, "initial_state_high")
        if np.any(low > high):
            raise ValueError("initial_state_low must not exceed initial_state_high")
        self.initial_state_low, self.initial_state_high = low, high

        self.reference_schedule = self._schedule(reference_schedule)
        self.observe_reference = (reference_schedule is not None) if observe_reference is None \
            else bool(observe_reference)

        if observation_scaling == "normalized":
            if not (np.all(np.isfinite(system.state_low)) and np.all(np.isfinite(system.state_high))):
                raise ValueError(f"observation_scaling='normalized' needs a finite state box; "
                                 f"{system.name} has state_low {system.state_low}, "
                                 f"state_high {system.state_high}")
            self._obs_offset = system.state_low.copy()
            self._obs_scale = (system.state_high - system.state_low) / 2.0
        else:
            self._obs_offset, self._obs_scale = None, None

        n_obs = 2 * n if self.observe_reference else n
        self.observation_space = spaces.Box(-np.inf, np.inf, (n_obs,), np.float64)
        self.action_space = spaces.Box(-1.0, 1.0, (m,), np.float32)
        self._u_half = (system.input_high - system.input_low) / 2.0
        self._u_mid = (system.input_high + system.input_low) / 2.0

        self._x = low.copy()
        self._t = 0
        self._episode_violations = 0

    # -- references ------------------------------------------------------------------------
    def _schedule(self, schedule) -> list[tuple[int, np.ndarray, np.ndarray]]:
        system = self.system
        if schedule is None:
            return [(0, system.x_ref.copy(), system.u_ref.copy())]
        entries = []
        for entry in schedule:
            if len(entry) != 3:
                raise ValueError(f"reference_schedule entries are (start_step, x_ref, u_ref), got {entry!r}")
            start, x_ref, u_ref = entry
            x_ref = np.asarray(system.check_state(np.asarray(x_ref, dtype=np.float64)))
            u_ref = np.asarray(system.check_input(np.asarray(u_ref, dtype=np.float64)))
            if x_ref.shape != (system.n_states,) or u_ref.shape != (system.n_inputs,):
                raise ValueError(f"reference_schedule: x_ref must have shape ({system.n_states},) and u_ref "
                                 f"shape ({system.n_inputs},)")
            entries.append((int(start), x_ref, u_ref))
        starts = [s for s, _, _ in entries]
        if not entries or starts[0] != 0 or any(b <= a for a, b in zip(starts, starts[1:])):
            raise ValueError(f"reference_schedule must start at step 0 with increasing start steps, got {starts}")
        return entries

    def reference_at(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """The reference (x_ref, u_ref) in force at ``step`` of an episode."""
        current = self.reference_schedule[0]
        for entry in self.reference_schedule:
            if entry[0] > step:
                break
            current = entry
        return current[1], current[2]

    def reference(self) -> tuple[np.ndarray, np.ndarray]:
        """The reference (x_ref, u_ref) in force now."""
        return self.reference_at(self._t)

    @property
    def state(self) -> np.ndarray:
        """The physical state now (a copy)."""
        return self._x.copy()

    # -- scaling ---------------------------------------------------------------------------
    def action_to_input(self, action: Any) -> np.ndarray:
        """The physical input for ``action`` (shape (..., n_inputs)); affine, no clipping."""
        return self._u_mid + self._u_half * np.asarray(action, dtype=np.float64)

    def input_to_action(self, u: Any) -> np.ndarray:
        """The action for the physical input ``u`` (shape (..., n_inputs)); inverse of action_to_input."""
        return (np.asarray(u, dtype=np.float64) - self._u_mid) / self._u_half

    def _scale(self, x: np.ndarray) -> np.ndarray:
        return x if self._obs_scale is None else (x - self._obs_offset) / self._obs_scale - 1.0

    def _unscale(self, z: np.ndarray) -> np.ndarray:
        return z if self._obs_scale is None else (z + 1.0) * self._obs_scale + self._obs_offset

    def _check_observation(self, obs: Any) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        width = self.observation_space.shape[0]
        if obs.ndim == 0 or obs.shape[-1] != width:
            raise ValueError(f"an observation must have shape (..., {width}), got {obs.shape}")
        return obs

    def observation_to_state(self, obs: Any) -> np.ndarray:
        """The physical state in an observation (shape (..., n_obs) -> (..., n_states))."""
        obs = self._check_observation(obs)
        return self._unscale(obs[..., : self.system.n_states])

    def observation_to_reference(self, obs: Any) -> np.ndarray:
        """The physical reference state in an observation (only with ``observe_reference``)."""
        if not self.observe_reference:
            raise ValueError("this env does not observe its reference (observe_reference=False); "
                             "use env.unwrapped.reference()")
        obs = self._check_observation(obs)
        return self._unscale(obs[..., self.system.n_states:])

    def state_to_observation(self, x: Any, x_ref: Any = None) -> np.ndarray:
        """The observation of the physical state ``x`` (shape (..., n_states)); with
        ``observe_reference``, ``x_ref`` is the reference to show (default: the current one)."""
        x = np.asarray(self.system.check_state(np.asarray(x, dtype=np.float64)))
        obs = self._scale(x)
        if not self.observe_reference:
            return obs
        ref = self.reference()[0] if x_ref is None else np.asarray(
            self.system.check_state(np.asarray(x_ref, dtype=np.float64)))
        ref = np.broadcast_to(self._scale(ref), obs.shape)
        return np.concatenate([obs, ref], axis=-1)

    def _observation(self) -> np.ndarray:
        obs = self._scale(self._x)
        if not self.observe_reference:
            return obs.copy()
        return np.concatenate([obs, self._scale(self.reference()[0])])

    # -- the episode -----------------------------------------------------------------------
    def _info(self, constraint_values: np.ndarray) -> dict[str, Any]:
        violations = int(np.count_nonzero(constraint_values > 0.0))
        return {
            "state": self._x.copy(),
            "reference": self.reference()[0].copy(),
            "constraint_values": constraint_values,
            "violations": violations,
            "violated": violations > 0,
            "episode_violations": self._episode_violations,
        }

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        unknown = set(options) - {"initial_state"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; allowed: initial_state")
        if options.get("initial_state") is not None:
            x0 = self.system.check_in_box(options["initial_state"], "initial_state")
            if x0.shape != (self.system.n_states,):
                raise ValueError(f"initial_state must have shape ({self.system.n_states},), got {x0.shape}")
        else:
            x0 = self.np_random.uniform(self.initial_state_low, self.initial_state_high)
        self._x = np.array(x0, dtype=np.float64)
        self._t = 0
        self._episode_violations = 0
        info = self._info(self.system.state_constraints_of(self._x))
        return self._observation(), info

    def checked_action(self, action: Any) -> np.ndarray:
        """``action`` as a float64 array, or the ValueError ``step`` raises for it (the batched engine
        raises the same one for a game's action)."""
        a = np.asarray(action, dtype=np.float64)
        if a.shape != self.action_space.shape:
            raise ValueError(f"action must have shape {self.action_space.shape}, got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action contains NaN or inf: {a.tolist()}; allowed: finite values in [-1, 1]")
        return a

    def step(self, action: Any):
        a = self.checked_action(action)
        u = self.action_to_input(np.clip(a, -1.0, 1.0))
        system = self.system
        x_ref, u_ref = self.reference()
        cost = float(system._stage_cost(self._x, u, x_ref, u_ref))
        self._x = system.step_state(self._x, u)
        self._t += 1
        constraint_values = system.state_constraints_of(self._x)
        violated = bool(np.any(constraint_values > 0.0))
        self._episode_violations += violated
        terminated = self.terminate_on_violation and violated
        truncated = self._t >= self.episode_steps and not terminated
        reward = -cost - self.violation_penalty * violated
        info = self._info(constraint_values)
        info["input"] = u
        info["stage_cost"] = cost
        return self._observation(), reward, terminated, truncated, info
