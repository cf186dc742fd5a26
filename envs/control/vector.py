"""Many games of one control task in one engine: the batched mode of the ``rlkit/<control task>-v0`` ids.

:class:`ControlVectorEnv` batches any :class:`~envs.control.env.ControlEnv`; the thin subclasses
below (one per registered task) take exactly their single env's keyword arguments, so that
``gym.make_vec(id, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)`` builds the task.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from envs.batched import BatchedEnv, live_box_actions
from envs import libm
from envs.control.cstr import CSTREnv, CSTRSafeEnv
from envs.control.double_integrator import DoubleIntegratorEnv
from envs.control.env import ControlEnv
from envs.control.inverted_pendulum import InvertedPendulumEnv, NLCPendulumEnv
from envs.control.pendulum import ClippedPendulumEnv
from envs.control.system import NUMPY


class LIBM(NUMPY):
    """The numpy backend with libm's transcendental functions: element ``i`` of a batched step is
    then the single env's step of state ``i`` (its SCALAR backend calls libm through ``math``) bit for
    bit, as the rest is IEEE arithmetic in the same order."""

    exp, sin, cos = libm.exp, libm.sin, libm.cos


class ControlVectorEnv(BatchedEnv):
    """``num_envs`` games of one :class:`~envs.control.env.ControlEnv` stepped together on arrays.

    The games share the single env ``env`` (its system, reference schedule, scaling, episode length
    and penalties; ``env.unwrapped``-style attributes are on ``self.env`` and ``self.system``) but
    each has its own state, step counter and violation count. One ``step`` advances every game with
    the system's own model on arrays (its ``_advance``, ``_constraints`` and ``_stage_cost``, with
    libm's ``exp``/``sin``/``cos``, so the batch computes exactly what the single env computes in
    Python floats): game ``i`` reproduces the single env seeded with the ``i``-th seed under the same
    actions, bit for bit, step for step and across resets. ``gym.make_vec(id, num_envs=n,
    vectorization_mode="vector_entry_point")`` builds one for every registered control task.

    ## Spaces
    ``single_observation_space`` (``Box(-inf, inf, (n_obs,), float64)``: the state, followed by the
    reference state where the task observes it, physical or normalized) and ``single_action_space``
    (``Box(-1, 1, (n_inputs,), float32)``, mapped affinely onto the input box after clipping) are the
    single env's; ``observation_space`` and ``action_space`` batch them. Rewards are float64 (the
    single env's Python floats, exactly), terminations and truncations bool, all of shape
    ``(num_envs,)``.

    ## Rewards
    Per game, the single env's: ``-l(x_t, u_t) - violation_penalty * [x_{t+1} violates a
    constraint]`` with the stage cost ``l`` at the state before the step and the reference in force.

    ## Episode End
    Per game: truncated after ``episode_steps`` steps; terminated at the first violating step if
    ``terminate_on_violation``. :class:`~envs.batched.BatchedEnv`'s two autoreset modes:
    ``next_step`` (default) restarts an ended game on the next ``step`` (its action ignored, reward
    0); ``same_step`` restarts it at once, its last observation in ``info["final_obs"]``. A restart
    draws the starting state from the game's own generator as the single env's ``reset()`` does.

    ## Seeding
    ``reset(seed=s)`` seeds game ``i`` with ``s + i``, a list one seed per game, None keeps each
    game's generator; ``reset(options={"reset_mask": mask})`` restarts only the masked games (the
    single env's ``initial_state`` option has no batched form).

    ## Info
    The single env's keys batched over games, each with its ``_key`` mask: ``state`` (n, n_states),
    ``reference`` (n, n_states), ``constraint_values`` (n, n_constraints), ``violations`` (ints),
    ``violated``, ``episode_violations``, after every ``step`` for every game; ``input`` (n, n_inputs)
    and ``stage_cost`` for the games that stepped (not those restarted by a ``next_step`` step, whose
    entries are their reset info, as the single env's ``reset`` returns it). ``violations`` is in
    ``step_info_keys``, so SB3's adapter passes it on every step.

    ## Arguments
    - ``env``: the single :class:`ControlEnv` to batch (used as the task's description; it is not
      stepped).
    - ``num_envs``: the number of games.
    - ``autoreset_mode``: ``next_step`` or ``same_step``.

    Bit-for-bit equality holds where the system's ``Q`` and ``R`` are diagonal (every registered
    task): a full ``Q`` goes through BLAS, whose matrix-vector and matrix-matrix kernels may round a
    sum of products differently in the last bit.
    """

    metadata = {"render_modes": [], "autoreset_mode": BatchedEnv.metadata["autoreset_mode"]}
    step_info_keys = ("violations",)

    def __init__(self, env: ControlEnv, num_envs: int = 1, autoreset_mode: str = "next_step") -> None:
        if not isinstance(env, ControlEnv):
            raise ValueError(f"env must be a ControlEnv, got {type(env).__name__}")
        self.env, self.system, self.render_mode = env, env.system, None
        self.single_observation_space = env.observation_space
        self.single_action_space = env.action_space
        self._setup_batch(num_envs, autoreset_mode)
        schedule = env.reference_schedule
        self._reference_starts = np.array([start for start, _, _ in schedule], np.int64)
        self._x_refs = np.stack([x_ref for _, x_ref, _ in schedule])
        self._u_refs = np.stack([u_ref for _, _, u_ref in schedule])
        self._observed_refs = env._scale(self._x_refs)  # the single env scales its reference the same way
        n, m, games = self.system.n_states, self.system.n_inputs, self.num_envs
        self._n_constraints = len(self.system.constraint_names)
        self._x = np.zeros((games, n))
        self._t = np.zeros(games, np.int64)
        self._episode_violations = np.zeros(games, np.int64)
        self._constraint_values = np.zeros((games, self._n_constraints))
        self._input = np.zeros((games, m))
        self._stage_cost = np.zeros(games)
        self._stepped = np.zeros(games, np.bool_)  # games whose latest event is a step, not a restart

    # -- the maths ----------------------------------------------------------------------------------
    def _constraints(self, x: np.ndarray) -> np.ndarray:
        """Every state constraint of the states ``x`` (k, n) as ``c <= 0``, shape (k, n_constraints)."""
        parts = self.system._constraints(tuple(x.T), LIBM)
        if not parts:
            return np.zeros((len(x), 0))
        return np.stack(np.broadcast_arrays(*parts), axis=1)

    def _entries(self, t: np.ndarray) -> np.ndarray:
        """The reference schedule's entry in force at steps ``t``: the last starting at or before."""
        return np.searchsorted(self._reference_starts, t, side="right") - 1

    # -- BatchedEnv ---------------------------------------------------------------------------------
    def _reset_games(self, games: np.ndarray) -> None:
        env, rngs = self.env, self.game_rngs
        if len(games) == 0:
            return
        self._x[games] = [rngs[i].uniform(env.initial_state_low, env.initial_state_high) for i in games]
        self._t[games] = 0
        self._episode_violations[games] = 0
        self._constraint_values[games] = self._constraints(self._x[games])
        self._stepped[games] = False

    def _step_games(self, actions: Any, live: np.ndarray):
        env, system, n_games = self.env, self.system, self.num_envs
        rows, a = live_box_actions(actions, live, env.checked_action)
        u = env.action_to_input(np.clip(a, -1.0, 1.0))
        x, t = self._x[rows], self._t[rows]
        entries = self._entries(t)
        cost = system._stage_cost(x, u, self._x_refs[entries], self._u_refs[entries])
        x = np.stack(np.broadcast_arrays(*system._advance(tuple(x.T), tuple(u.T), LIBM)), axis=1)
        t = t + 1
        constraint_values = self._constraints(x)
        violated = (constraint_values > 0.0).any(axis=1)
        terminated = violated & env.terminate_on_violation
        truncated = (t >= env.episode_steps) & ~terminated

        self._x[rows], self._t[rows] = x, t
        self._episode_violations[rows] += violated
        self._constraint_values[rows] = constraint_values
        self._input[rows], self._stage_cost[rows] = u, cost
        self._stepped[rows] = True
        rewards = np.zeros(n_games)
        rewards[rows] = -cost - env.violation_penalty * violated
        all_terminated, all_truncated = np.zeros(n_games, np.bool_), np.zeros(n_games, np.bool_)
        all_terminated[rows], all_truncated[rows] = terminated, truncated
        return rewards, all_terminated, all_truncated

    def _observations(self, games: np.ndarray | None = None) -> np.ndarray:
        rows = slice(None) if games is None else games
        obs = self.env._scale(self._x[rows])
        if not self.env.observe_reference:
            return np.array(obs, copy=True)
        return np.concatenate([obs, self._observed_refs[self._entries(self._t[rows])]], axis=1)

    def _info(self, rows: Any) -> dict[str, Any]:
        constraint_values = self._constraint_values[rows]
        violations = np.count_nonzero(constraint_values > 0.0, axis=1)
        return {"state": self._x[rows], "reference": self._x_refs[self._entries(self._t[rows])],
                "constraint_values": constraint_values, "violations": violations, "violated": violations > 0,
                "episode_violations": self._episode_violations[rows]}

    def _step_info(self) -> dict[str, Any]:
        every = np.ones(self.num_envs, np.bool_)
        values = {key: np.array(value, copy=True) for key, value in self._info(slice(None)).items()}
        info = self.batched_info(values, every)
        stepped = self._stepped.copy()
        info.update(self.batched_info({"input": self._input.copy(), "stage_cost": self._stage_cost.copy()}, stepped))
        return info

    def _reset_info(self, games: np.ndarray) -> dict[str, Any]:
        mask = np.zeros(self.num_envs, np.bool_)
        mask[games] = True
        values = {key: np.array(value, copy=True) for key, value in self._info(slice(None)).items()}
        return self.batched_info(values, mask)

    def render(self) -> None:
        return None


class _TaskVectorEnv(ControlVectorEnv):
    """A registered task's batched engine: built from exactly its single env's keyword arguments."""

    task: ClassVar[type[ControlEnv]]

    def __init__(self, num_envs: int = 1, autoreset_mode: str = "next_step", **kwargs: Any) -> None:
        super().__init__(self.task(**kwargs), num_envs=num_envs, autoreset_mode=autoreset_mode)


class CSTRVectorEnv(_TaskVectorEnv):
    """``num_envs`` games of :class:`~envs.control.cstr.CSTREnv` (``rlkit/CSTR-v0``), batched as
    :class:`ControlVectorEnv` describes.

    ## Spaces, rewards, episode end
    CSTREnv's per game: observation ``(Ca, T, Ca_ref, T_ref)`` (float64), action ``Box(-1, 1, (1,))``
    onto the coolant temperature, reward minus the stage cost, truncated after ``episode_steps`` (60).

    ## Arguments
    ``num_envs``, ``autoreset_mode`` (``next_step`` or ``same_step``) and exactly CSTREnv's keyword
    arguments (``setpoints``, ``steps_per_setpoint``, ``episode_steps``, ``initial_state_low``, ...).
    """

    task = CSTREnv


class CSTRSafeVectorEnv(_TaskVectorEnv):
    """``num_envs`` games of :class:`~envs.control.cstr.CSTRSafeEnv` (``rlkit/CSTRSafe-v0``), batched
    as :class:`ControlVectorEnv` describes.

    ## Spaces, rewards, episode end
    CSTRSafeEnv's per game: as the CSTR, with the safety band 321 <= T <= 327 K counted in
    ``info["violations"]`` (and ending the episode with ``terminate_on_violation``).

    ## Arguments
    ``num_envs``, ``autoreset_mode`` and exactly CSTRSafeEnv's keyword arguments.
    """

    task = CSTRSafeEnv


class ClippedPendulumVectorEnv(_TaskVectorEnv):
    """``num_envs`` games of :class:`~envs.control.pendulum.ClippedPendulumEnv`
    (``rlkit/PendulumClipped-v0``), batched as :class:`ControlVectorEnv` describes.

    ## Spaces, rewards, episode end
    ClippedPendulumEnv's per game: observation ``(theta, theta_dot)``, action ``Box(-1, 1, (1,))``
    onto the torque, Pendulum-v1's reward, truncated after ``episode_steps`` (200).

    ## Arguments
    ``num_envs``, ``autoreset_mode`` and exactly ClippedPendulumEnv's keyword arguments.
    """

    task = ClippedPendulumEnv


class DoubleIntegratorVectorEnv(_TaskVectorEnv):
    """``num_envs`` games of :class:`~envs.control.double_integrator.DoubleIntegratorEnv`
    (``rlkit/DoubleIntegrator-v0``), batched as :class:`ControlVectorEnv` describes.

    ## Spaces, rewards, episode end
    DoubleIntegratorEnv's per game: observation ``(position, velocity)``, action ``Box(-1, 1, (1,))``
    onto the force, reward ``-(x'x + 0.01 u^2)``, truncated after ``episode_steps`` (50); the box and
    the polytope are counted in ``info["violations"]``.

    ## Arguments
    ``num_envs``, ``autoreset_mode`` and exactly DoubleIntegratorEnv's keyword arguments.
    """

    task = DoubleIntegratorEnv


class InvertedPendulumVectorEnv(_TaskVectorEnv):
    """``num_envs`` games of :class:`~envs.control.inverted_pendulum.InvertedPendulumEnv`
    (``rlkit/InvertedPendulum-v0``), batched as :class:`ControlVectorEnv` describes.

    ## Spaces, rewards, episode end
    InvertedPendulumEnv's per game: observation ``(theta, theta_dot)``, action ``Box(-1, 1, (1,))``
    onto the torque, reward ``-(x'x + u^2)``, truncated after ``episode_steps`` (200).

    ## Arguments
    ``num_envs``, ``autoreset_mode`` and exactly InvertedPendulumEnv's keyword arguments.
    """

    task = InvertedPendulumEnv


class NLCPendulumVectorEnv(_TaskVectorEnv):
    """``num_envs`` games of :class:`~envs.control.inverted_pendulum.NLCPendulumEnv`
    (``rlkit/NLCPendulum-v0``), batched as :class:`ControlVectorEnv` describes.

    ## Spaces, rewards, episode end
    NLCPendulumEnv's per game: observation ``(theta, theta_dot)``, action ``Box(-1, 1, (1,))`` onto
    the torque, reward ``-(x'x + u^2)``, truncated after ``episode_steps`` (500).

    ## Arguments
    ``num_envs``, ``autoreset_mode`` and exactly NLCPendulumEnv's keyword arguments.
    """

    task = NLCPendulumEnv


__all__ = ["CSTRSafeVectorEnv", "CSTRVectorEnv", "ClippedPendulumVectorEnv", "ControlVectorEnv",
           "DoubleIntegratorVectorEnv", "InvertedPendulumVectorEnv", "LIBM", "NLCPendulumVectorEnv"]
