"""Many football games in one engine: the batched mode of ``rlkit/Football-v0``."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector.utils import concatenate, create_empty_array

from envs.batched import BatchedEnv
from envs.football import observations, rewards
from envs.football.engine import FootballEngine
from envs.football.env import (END_REASONS, build_batch, check_actions, check_arguments, draw_game_seed,
                               football_spaces, smm_frame)
from envs.football.state import ENDED_TIME

_END_REASON_NAMES = np.array(END_REASONS)


class FootballVectorEnv(BatchedEnv):
    """``num_envs`` football games stepped together by one engine, with batched observations and rewards.

    The games are those of :class:`~envs.football.env.FootballEnv` (same arguments, spaces per game,
    rewards and info keys) but live side by side in one :class:`~envs.football.engine.FootballEngine`:
    one call of its Numba kernels advances every game, the observation builders and the rewards write
    the whole batch. Game ``i`` reproduces ``FootballEnv`` seeded with the ``i``-th seed under the same
    actions, step for step and across resets. ``gym.make_vec("rlkit/Football-v0", num_envs=n)``
    builds one.

    ## Spaces
    ``single_observation_space`` and ``single_action_space`` are FootballEnv's; ``observation_space``
    and ``action_space`` batch them (``MultiDiscrete([19] * num_envs)`` for one controlled player).
    Rewards, terminations and truncations are arrays of shape ``(num_envs,)``. ``raw`` batches GRF's
    dicts into a dict of arrays, built game by game in Python: use the array representations for
    speed.

    ## Autoreset
    :class:`~envs.batched.BatchedEnv`'s two modes. ``next_step`` (the default, Gymnasium's): the step
    that ends game ``i`` returns its last observation with ``terminated[i]`` or ``truncated[i]``; the
    next ``step`` ignores game ``i``'s action, resets it (its seed drawn from game ``i``'s own
    generator, as ``FootballEnv.reset()`` draws it) and returns its first observation with reward 0,
    not terminated, not truncated. ``same_step``: the ended game restarts in the same step, its last
    observation in ``info["final_obs"]`` (SB3's convention, used by ``vec_env=batched``).

    ## Seeding
    ``reset(seed=s)`` seeds game ``i`` with ``s + i``; a list gives one seed per game; None draws fresh
    entropy for games that have no generator yet. ``reset(options={"reset_mask": mask})`` resets only
    the masked games.

    ## Info
    FootballEnv's keys batched over games (``score`` (n, 2), ``goal``, ``game_mode``, ``end_reason``,
    ``steps``, ``rewards`` (n, n_controlled)), each with Gymnasium's ``_key`` mask: every game after
    ``step``, the reset games after ``reset``.

    ## Arguments
    ``num_envs`` and FootballEnv's arguments; ``backend`` must be ``builtin`` (run the real engine's
    games with ``gym.make_vec(..., vectorization_mode="async", backend="grf")``). ``copy`` (default
    true): return fresh observation arrays each step; false reuses one buffer (cheaper, but a
    returned batch is overwritten by the next step). ``autoreset_mode``: ``next_step`` or
    ``same_step``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10, "autoreset_mode": BatchedEnv.metadata["autoreset_mode"]}

    def __init__(self, num_envs: int = 1, scenario: str = "academy_empty_goal_close",
                 representation: str = "simple115v2", rewards: str = "scoring,checkpoints",
                 n_controlled: int = 1, backend: str = "builtin", difficulty: float | None = None,
                 render_mode: str | None = None, copy: bool = True, autoreset_mode: str = "next_step") -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unknown render_mode {render_mode!r}; allowed: None, rgb_array")
        spec, reward_names = check_arguments(scenario, representation, rewards, n_controlled, backend, difficulty)
        if backend != "builtin":
            raise ValueError(f"FootballVectorEnv runs the builtin engine only, got backend {backend!r}; for "
                             "the real engine use gym.make_vec('rlkit/Football-v0', num_envs=..., "
                             "vectorization_mode='async', backend='grf')")
        self.scenario, self.rewards, self.representation = spec, reward_names, representation
        self.n_controlled, self.backend, self.render_mode, self.copy = int(n_controlled), backend, render_mode, copy
        self.difficulty = None if difficulty is None else float(difficulty)
        self.single_observation_space, self.single_action_space = football_spaces(spec, representation,
                                                                                  self.n_controlled)
        self._setup_batch(num_envs, autoreset_mode)
        self.engine = FootballEngine(spec, n_games=self.num_envs, n_controlled=self.n_controlled,
                                     difficulty=self.difficulty)
        self.state = self.engine.state
        self._steps = np.zeros(self.num_envs, np.int64)
        self._slot_rewards = np.zeros((self.num_envs, self.n_controlled), np.float32)
        self._buffer = None  # the reused observation batch when copy is false

    # -- BatchedEnv ---------------------------------------------------------------------------------
    def _reset_games(self, games: np.ndarray) -> None:
        """Restart ``games`` (indices), each seeded from its own generator as FootballEnv.reset() does."""
        rngs = self.game_rngs
        seeds = np.array([draw_game_seed(rngs[i]) for i in games], np.int64)
        self.engine.reset(games=games, seeds=seeds)
        self._steps[games] = 0
        self._slot_rewards[games] = 0.0

    def _check_actions(self, actions: Any) -> np.ndarray:
        return check_actions(actions, self.n_controlled, (self.num_envs,))

    def _step_games(self, actions: np.ndarray, live: np.ndarray):
        # games to restart are done in the engine already: it leaves them as they are
        self.engine.step(actions)
        slot_rewards = rewards.compute(self.state, self.rewards)
        slot_rewards[~live] = 0.0
        self._slot_rewards = slot_rewards
        self._steps += 1
        done = self.state.done.copy()
        time_up = self.state.end_reason == ENDED_TIME
        return slot_rewards.sum(axis=1, dtype=np.float32), done & ~time_up, done & time_up

    def _observations(self, games: np.ndarray | None = None):
        state, rep, c = self.state, self.representation, self.n_controlled
        if rep == "raw":
            picked = range(self.num_envs) if games is None else games
            items = [tuple(observations.raw(state, g, slot) for slot in range(c)) for g in picked]
            items = [g[0] for g in items] if c == 1 else items
            n = len(items)
            reuse = not self.copy and games is None and self._buffer is not None
            out = self._buffer if reuse else create_empty_array(self.single_observation_space, n)
            if games is None:
                self._buffer = out
            return concatenate(self.single_observation_space, items, out)
        if self.copy or games is not None:
            batch = build_batch(state, rep, self.scenario)
        else:
            self._buffer = batch = build_batch(state, rep, self.scenario, out=self._buffer)
        batch = batch[:, 0] if c == 1 else batch
        return batch if games is None else batch[games]

    def _step_info(self) -> dict[str, Any]:
        return self._info(self._slot_rewards)

    def _reset_info(self, games: np.ndarray) -> dict[str, Any]:
        mask = np.zeros(self.num_envs, np.bool_)
        mask[games] = True
        return self._info(np.zeros((self.num_envs, self.n_controlled), np.float32), mask)

    def _info(self, slot_rewards: np.ndarray, mask: np.ndarray | None = None) -> dict[str, Any]:
        """FootballEnv's info of every game; ``mask``: the games it is news for (default all)."""
        state, n = self.state, self.num_envs
        info = {"score": state.score.copy(), "goal": state.goal.astype(np.int64),
                "game_mode": state.game_mode.astype(np.int64), "end_reason": _END_REASON_NAMES[state.end_reason],
                "steps": self._steps.copy(), "rewards": slot_rewards}
        return self.batched_info(info, np.ones(n, np.bool_) if mask is None else mask)

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode is None:
            return None
        planes = observations.extracted(self.state)[:, 0]
        return tuple(smm_frame(p) for p in planes)
