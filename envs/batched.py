"""The common base of rlkit's batched engines: many games of one env stepped together.

A family that trains at volume writes one :class:`BatchedEnv` subclass: its games live side by side
in arrays (or a compiled kernel) and one ``step`` advances all of them. Game ``i`` must replay the
family's single env seeded with game ``i``'s seed under the same actions, step for step and across
resets; this base owns what makes that true for every family alike:

- one random generator per game, created exactly as the single env's ``reset(seed=s)`` creates its
  ``np_random`` and drawn from only by that game, so a game's random stream is the single env's;
- seeding (``reset(seed=s)`` seeds game ``i`` with ``s + i``, a list gives one seed per game, None
  keeps a game's generator or draws fresh entropy for one that has none) and partial resets
  (``reset(options={"reset_mask": mask})``, Gymnasium's convention);
- the autoreset mode, chosen per instance (``autoreset_mode=``):

  - ``next_step`` (Gymnasium's default, what RLlib's env runners expect): the step that ends game
    ``i`` returns its last observation with ``terminated[i]`` or ``truncated[i]``; the next ``step``
    ignores game ``i``'s action and returns its first observation, reward 0, not done;
  - ``same_step`` (what SB3's VecEnv expects): the step that ends game ``i`` resets it at once and
    returns the next game's first observation; the last one is in ``info["final_obs"][i]`` (an object
    array, ``info["_final_obs"]`` marks the games that ended).

A subclass sets ``single_observation_space`` and ``single_action_space``, calls
:meth:`_setup_batch`, and implements three methods:

- ``_reset_games(games)``: restart the games at these indices, each drawing only from
  ``self.game_rngs[i]``, exactly as the single env's ``reset()`` draws from its ``np_random``;
- ``_step_games(actions, live)``: advance the games where ``live`` is true by one step (leaving the
  others untouched: no state change, no random draw) and return ``(rewards, terminated, truncated)``
  for every game (float and bool arrays of shape ``(num_envs,)``, fresh arrays; rewards in the
  single env's precision, float64 where it returns Python floats);
- ``_observations(games)``: the observations of ``games`` (all games when None), a fresh batch.

and may override ``_check_actions(actions)`` (the default checks the batch's shape, and the range of
discrete actions), ``_step_info()`` (the info of a step, a dict of arrays, by default empty: called
after the restarts in ``next_step`` mode, before them in ``same_step`` mode so that an ended game's
entries describe its end) and ``_reset_info(games)``.

``step_info_keys`` names the info entries that are meaningful on every step (say ``violations``):
SB3's adapter copies them into each game's info dict; the others reach a game's info only on the step
that ends it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

AUTORESET_MODES = {"next_step": AutoresetMode.NEXT_STEP, "same_step": AutoresetMode.SAME_STEP}


def batched_engine(env_id: str) -> type | None:
    """The :class:`BatchedEnv` class registered as ``env_id``'s vector entry point, or None when the env
    has none (other vector entry points, such as Gymnasium's own, lack the same-step mode and the
    per-game seeding that rlkit's trainers rely on)."""
    import gymnasium as gym

    spec = gym.envs.registry.get(env_id)
    entry = getattr(spec, "vector_entry_point", None)
    if entry is None:
        return None
    creator = gym.envs.registration.load_env_creator(entry) if isinstance(entry, str) else entry
    return creator if isinstance(creator, type) and issubclass(creator, BatchedEnv) else None


def checked_num_envs(num_envs: Any) -> int:
    """``num_envs`` as a positive int, or a ValueError naming what is allowed."""
    if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
    return int(num_envs)


def checked_autoreset_mode(mode: Any) -> AutoresetMode:
    """An autoreset mode given by name (``next_step``, ``same_step``) or as Gymnasium's enum."""
    if isinstance(mode, AutoresetMode) and mode in AUTORESET_MODES.values():
        return mode
    if isinstance(mode, str) and mode.lower() in AUTORESET_MODES:
        return AUTORESET_MODES[mode.lower()]
    raise ValueError(f"unknown autoreset_mode {mode!r}; allowed: {', '.join(AUTORESET_MODES)}")


def put_games(space: spaces.Space, batch: Any, games: np.ndarray, rows: Any) -> None:
    """Write ``rows`` (a batch of ``len(games)``) into the rows ``games`` of ``batch``, in place."""
    if isinstance(space, spaces.Dict):
        for key, sub in space.spaces.items():
            put_games(sub, batch[key], games, rows[key])
    elif isinstance(space, spaces.Tuple):
        for sub, part, row in zip(space.spaces, batch, rows):
            put_games(sub, part, games, row)
    else:
        batch[games] = rows


def live_box_actions(actions: Any, live: np.ndarray, check_one: Any) -> tuple[Any, np.ndarray]:
    """``(rows, actions of the live games as float64)`` for a Box-action engine; ``rows`` indexes the
    live games (a full slice when all are). A game whose action is not finite gets the single env's
    own error, from ``check_one(action)``; games that are restarting are not checked (their action
    is ignored)."""
    games = np.flatnonzero(live)
    rows = slice(None) if len(games) == len(live) else games
    a = np.asarray(actions, dtype=np.float64)[rows]
    bad = ~np.isfinite(a).all(axis=1)
    if bad.any():
        check_one(a[np.argmax(bad)])  # raises the single env's error for that game's action
    return rows, a


def game_observation(space: spaces.Space, batch: Any, game: int) -> Any:
    """One game's observation out of a batch, as the single env returns it (copied)."""
    if isinstance(space, spaces.Dict):
        return {key: game_observation(sub, batch[key], game) for key, sub in space.spaces.items()}
    if isinstance(space, spaces.Tuple):
        return tuple(game_observation(sub, part, game) for sub, part in zip(space.spaces, batch))
    return np.array(batch[game], copy=True)


class BatchedEnv(VectorEnv):
    """``num_envs`` games of one env in one engine; see the module docstring for the contract."""

    metadata: ClassVar[dict[str, Any]] = {"autoreset_mode": AutoresetMode.NEXT_STEP}
    step_info_keys: ClassVar[tuple[str, ...]] = ()

    # -- what a family implements ------------------------------------------------------------------
    def _reset_games(self, games: np.ndarray) -> None:
        raise NotImplementedError

    def _step_games(self, actions: Any, live: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _observations(self, games: np.ndarray | None = None) -> Any:
        raise NotImplementedError

    def _check_actions(self, actions: Any) -> Any:
        """The batch of actions as the engine takes it; a ValueError for a wrong shape or, for
        discrete spaces, an action out of range. Box actions are passed on as the single env takes them."""
        actions = np.asarray(actions)
        space = self.action_space
        if actions.shape != space.shape:
            raise ValueError(f"actions must have shape {space.shape} ({self.num_envs} games of "
                             f"{self.single_action_space}), got {actions.shape}")
        if isinstance(space, spaces.MultiDiscrete):
            if not np.issubdtype(actions.dtype, np.integer) and not np.array_equal(actions, np.round(actions)):
                raise ValueError(f"actions must be integers, got {actions.dtype}")
            actions = actions.astype(np.int64, copy=False)
            if actions.size and ((actions < space.start).any() or (actions >= space.start + space.nvec).any()):
                raise ValueError(f"actions must lie in {self.single_action_space}, got values "
                                 f"{actions.min()}..{actions.max()}")
        return actions

    def _step_info(self) -> dict[str, Any]:
        """The info of a step (default: none)."""
        return {}

    def _reset_info(self, games: np.ndarray) -> dict[str, Any]:
        """The info ``reset()`` returns for ``games`` (default: none)."""
        return {}

    # -- the machinery -------------------------------------------------------------------------------
    def _setup_batch(self, num_envs: Any, autoreset_mode: Any = "next_step") -> None:
        """Call once the single spaces are set: batch spaces, per-game generators, autoreset mode."""
        self.num_envs = checked_num_envs(num_envs)
        mode = checked_autoreset_mode(autoreset_mode)
        self.metadata = {**type(self).metadata, "autoreset_mode": mode}
        self.autoreset_mode = mode
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.game_rngs: list[np.random.Generator | None] = [None] * self.num_envs
        self._ended = np.zeros(self.num_envs, np.bool_)  # next_step: games to restart on the next step
        self._started = False

    def _game_seeds(self, seed: Any) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            return [int(seed) + i for i in range(self.num_envs)]
        seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"seed must be None, an int or a list of {self.num_envs} seeds, got {len(seeds)} seeds")
        return [None if s is None else int(s) for s in seeds]

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
        seeds = self._game_seeds(seed)
        for i in games:
            if seeds[i] is not None or self.game_rngs[i] is None:
                self.game_rngs[i] = seeding.np_random(seeds[i])[0]  # as Env.reset(seed=...) makes np_random
        self._reset_games(games)
        self._ended[games] = False
        self._started = True
        return self._observations(), self._reset_info(games)

    def step(self, actions: Any):
        if not self._started:
            raise RuntimeError("call reset() before step()")
        actions = self._check_actions(actions)
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            return self._step_next_step(actions)
        return self._step_same_step(actions)

    def _step_next_step(self, actions: Any):
        restart = self._ended
        rewards, terminated, truncated = self._step_games(actions, ~restart)
        if restart.any():
            games = np.flatnonzero(restart)
            self._reset_games(games)
            rewards[games] = 0.0
            terminated[games] = truncated[games] = False
        self._ended = terminated | truncated
        return self._observations(), rewards, terminated, truncated, self._step_info()

    def _step_same_step(self, actions: Any):
        rewards, terminated, truncated = self._step_games(actions, np.ones(self.num_envs, np.bool_))
        observations, info = self._observations(), self._step_info()
        ended = terminated | truncated
        if ended.any():
            games = np.flatnonzero(ended)
            final = np.empty(self.num_envs, dtype=object)
            for i in games:
                final[i] = game_observation(self.single_observation_space, observations, i)
            self._reset_games(games)
            put_games(self.single_observation_space, observations, games, self._observations(games))
            info = {**info, "final_obs": final, "_final_obs": ended}
        return observations, rewards, terminated, truncated, info

    @staticmethod
    def batched_info(values: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, Any]:
        """Gymnasium's vector info: each entry with its ``_key`` mask (the games it is news for)."""
        info: dict[str, Any] = {}
        for key, value in values.items():
            info[key] = value
            info[f"_{key}"] = mask
        return info
