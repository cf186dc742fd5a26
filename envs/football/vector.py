"""Many football games in one engine: the batched mode of ``rlkit/Football-v0``."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array

from envs.football import observations, rewards
from envs.football.engine import FootballEngine
from envs.football.env import (END_REASONS, build_batch, check_actions, check_arguments, draw_game_seed,
                               football_spaces, smm_frame)
from envs.football.state import ENDED_TIME

_END_REASON_NAMES = np.array(END_REASONS)


class FootballVectorEnv(VectorEnv):
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
    Gymnasium's next-step mode (``metadata["autoreset_mode"]``): the step that ends game ``i`` returns
    its last observation with ``terminated[i]`` or ``truncated[i]``; the next ``step`` ignores game
    ``i``'s action, resets it (its seed drawn from game ``i``'s own generator, as ``FootballEnv.reset()``
    draws it) and returns its first observation with reward 0, not terminated, not truncated.

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
    returned batch is overwritten by the next step).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, scenario: str = "academy_empty_goal_close",
                 representation: str = "simple115v2", rewards: str = "scoring,checkpoints",
                 n_controlled: int = 1, backend: str = "builtin", difficulty: float | None = None,
                 render_mode: str | None = None, copy: bool = True) -> None:
        if isinstance(num_envs, bool) or int(num_envs) != num_envs or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unknown render_mode {render_mode!r}; allowed: None, rgb_array")
        spec, reward_names = check_arguments(scenario, representation, rewards, n_controlled, backend, difficulty)
        if backend != "builtin":
            raise ValueError(f"FootballVectorEnv runs the builtin engine only, got backend {backend!r}; for "
                             "the real engine use gym.make_vec('rlkit/Football-v0', num_envs=..., "
                             "vectorization_mode='async', backend='grf')")
        self.num_envs = int(num_envs)
        self.scenario, self.rewards, self.representation = spec, reward_names, representation
        self.n_controlled, self.backend, self.render_mode, self.copy = int(n_controlled), backend, render_mode, copy
        self.difficulty = None if difficulty is None else float(difficulty)
        self.single_observation_space, self.single_action_space = football_spaces(spec, representation,
                                                                                  self.n_controlled)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.engine = FootballEngine(spec, n_games=self.num_envs, n_controlled=self.n_controlled,
                                     difficulty=self.difficulty)
        self.state = self.engine.state
        self._game_rngs: list[np.random.Generator | None] = [None] * self.num_envs
        self._steps = np.zeros(self.num_envs, np.int64)
        self._autoreset = np.zeros(self.num_envs, np.bool_)
        self._started = False
        self._buffer = None  # the reused observation batch when copy is false

    # -- seeding and resets ------------------------------------------------------------------------
    def _seeds(self, seed) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, (int, np.integer)):
            return [int(seed) + i for i in range(self.num_envs)]
        seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"seed must be None, an int or {self.num_envs} seeds, got {len(seeds)} seeds")
        return seeds

    def _reset_games(self, games: np.ndarray) -> None:
        """Restart ``games`` (indices), each seeded from its own generator as FootballEnv.reset() does."""
        rngs = self._game_rngs
        seeds = np.array([draw_game_seed(rngs[i]) for i in games], np.int64)
        self.engine.reset(games=games, seeds=seeds)
        self._steps[games] = 0
        self._autoreset[games] = False

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed if isinstance(seed, (int, np.integer)) else None)
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if options:
            raise ValueError(f"unknown reset options {sorted(options)}; allowed: reset_mask")
        if mask is None:
            mask = np.ones(self.num_envs, np.bool_)
        else:
            mask = np.asarray(mask)
            if mask.shape != (self.num_envs,) or mask.dtype != np.bool_:
                raise ValueError(f"options['reset_mask'] must be a bool array of shape ({self.num_envs},), "
                                 f"got {mask.dtype} {mask.shape}")
            if not self._started and not mask.all():
                raise ValueError("the first reset() must reset every game (no reset_mask)")
        games = np.flatnonzero(mask)
        for i, s in zip(games, np.asarray(self._seeds(seed), dtype=object)[games]):
            if s is not None or self._game_rngs[i] is None:
                self._game_rngs[i] = seeding.np_random(None if s is None else int(s))[0]
        self._reset_games(games)
        self._started = True
        n, c = self.num_envs, self.n_controlled
        return self._observations(), self._info(np.zeros((n, c), np.float32), mask)

    # -- stepping ------------------------------------------------------------------------------------
    def step(self, actions: Any):
        if not self._started:
            raise RuntimeError("call reset() before step()")
        a = check_actions(actions, self.n_controlled, (self.num_envs,))
        restart = self._autoreset
        self.engine.step(a)  # games that ended last step are done: the engine leaves them as they are
        slot_rewards = rewards.compute(self.state, self.rewards)
        self._steps += 1
        if restart.any():
            games = np.flatnonzero(restart)
            self._reset_games(games)  # after the rewards, so a restarted game's first state pays nothing
            slot_rewards[games] = 0.0
        done = self.state.done.copy()
        time_up = self.state.end_reason == ENDED_TIME
        terminated, truncated = done & ~time_up, done & time_up
        self._autoreset = done
        return (self._observations(), slot_rewards.sum(axis=1, dtype=np.float32), terminated, truncated,
                self._info(slot_rewards))

    def _observations(self):
        state, rep, c = self.state, self.representation, self.n_controlled
        if rep == "raw":
            games = [tuple(observations.raw(state, g, slot) for slot in range(c)) for g in range(self.num_envs)]
            items = [g[0] for g in games] if c == 1 else games
            out = self._buffer if not self.copy and self._buffer is not None else \
                create_empty_array(self.single_observation_space, self.num_envs)
            self._buffer = out
            return concatenate(self.single_observation_space, items, out)
        if self.copy:
            batch = build_batch(state, rep, self.scenario)
        else:
            self._buffer = batch = build_batch(state, rep, self.scenario, out=self._buffer)
        return batch[:, 0] if c == 1 else batch

    def _info(self, slot_rewards: np.ndarray, mask: np.ndarray | None = None) -> dict[str, Any]:
        """FootballEnv's info of every game; ``mask``: the games it is news for (default all)."""
        state, n = self.state, self.num_envs
        info = {"score": state.score.copy(), "goal": state.goal.astype(np.int64),
                "game_mode": state.game_mode.astype(np.int64), "end_reason": _END_REASON_NAMES[state.end_reason],
                "steps": self._steps.copy(), "rewards": slot_rewards}
        mask = np.ones(n, np.bool_) if mask is None else mask
        for key in list(info):
            info[f"_{key}"] = mask.copy()
        return info

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode is None:
            return None
        planes = observations.extracted(self.state)[:, 0]
        return tuple(smm_frame(p) for p in planes)
