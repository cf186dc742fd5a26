"""Batched engines of the gridworlds: ``num_envs`` games of one gridworld stepped together with numpy.

``gym.make_vec("rlkit/ProcMaze-v0", num_envs=n, vectorization_mode="vector_entry_point")`` builds a
:class:`ProcMazeVectorEnv` (``rlkit/ButtonGrid-v0`` a :class:`ButtonGridVectorEnv`, ``rlkit/PanFlute-v0``
a :class:`PanFluteVectorEnv`). Game ``i`` replays the single env (through ``gym.make``, its 100-step
time limit included) seeded with the ``i``-th seed, step for step and across resets; see
:mod:`envs.batched` for seeding, partial resets and the two autoreset modes.

Every step of every gridworld draws one ``random()`` from each game's generator, so one Python call per
game per step would cost more than the rest of the step: the games' PCG64 states are also held in
arrays and advanced together (:class:`LockstepPCG64`). The draws of a reset (mazes, layouts) are made
on the game's own generator, in a Python loop over the few games that restart.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from envs.batched import BatchedEnv
from envs.gridworlds import EPISODE_STEPS, MOVES, checked_int
from envs.gridworlds.button_grid import BUTTON_OFF, BUTTON_ON, ButtonGridEnv, draw_layout
from envs.gridworlds.button_grid import CHANNELS as BUTTON_CHANNELS
from envs.gridworlds.button_grid import PLAYER as BUTTON_PLAYER
from envs.gridworlds.pan_flute import PanFluteEnv
from envs.gridworlds.proc_maze import CHANNELS as MAZE_CHANNELS
from envs.gridworlds.proc_maze import EMPTY, GOAL, PLAYER, WALL, ProcMazeEnv, new_maze

_PCG64_MULTIPLIER = 0x2360ED051FC65DA44385DF649FCCF645  # the 128-bit LCG multiplier of numpy's PCG64
_MULT_HI, _MULT_LO = np.uint64(_PCG64_MULTIPLIER >> 64), np.uint64(_PCG64_MULTIPLIER & (2**64 - 1))
_LOW32, _U11, _U32, _U58, _U63, _U64 = (np.uint64(v) for v in (2**32 - 1, 11, 32, 58, 63, 64))


def _mulhi64(a: np.ndarray, b: np.uint64) -> np.ndarray:
    """The high 64 bits of the 128-bit products ``a * b`` (numpy has no 128-bit integers)."""
    a0, a1, b0, b1 = a & _LOW32, a >> _U32, b & _LOW32, b >> _U32
    p01, p10 = a0 * b1, a1 * b0
    carries = ((a0 * b0) >> _U32) + (p01 & _LOW32) + (p10 & _LOW32)
    return a1 * b1 + (p01 >> _U32) + (p10 >> _U32) + (carries >> _U32)


class LockstepPCG64:
    """The games' PCG64 generators, advanced together for the one ``random()`` each game draws a step.

    numpy's PCG64 (what ``gymnasium.utils.seeding.np_random`` makes) is a 128-bit LCG, ``state <-
    state * M + inc``, whose 64-bit output is the XOR of the new state's halves rotated right by the
    state's top 6 bits; ``Generator.random()`` scales that output's top 53 bits into [0, 1). Each game's
    state and increment are held here as (high, low) uint64 arrays and that update is done with 64-bit
    numpy operations for the whole batch, giving each game exactly the doubles its generator would.

    The ``Generator`` objects stay the games' generators. Before drawing anything else from one (a
    reset's maze or layout), :meth:`checkout` writes the draws made here into it; afterwards,
    :meth:`adopt` reads its state back. Bounded integer draws keep half of a 64-bit output for the next
    one (``has_uint32``, ``uinteger``); ``random()`` neither uses nor clears that half, so it is kept
    as the generator left it.
    """

    def __init__(self, n: int) -> None:
        self.state_hi, self.state_lo, self.inc_hi, self.inc_lo = (np.zeros(n, np.uint64) for _ in range(4))
        self._half: list[tuple[int, int]] = [(0, 0)] * n  # (has_uint32, uinteger) of each generator
        self._owner: list[np.random.Generator | None] = [None] * n  # whose stream the arrays continue
        self._ahead = np.zeros(n, np.bool_)  # the arrays hold draws not yet written into the owner

    def holds(self, game: int, rng: np.random.Generator) -> bool:
        """Whether the arrays continue ``rng``'s stream for ``game`` (false for a newly seeded one)."""
        return self._owner[game] is rng

    def checkout(self, game: int, rng: np.random.Generator) -> np.random.Generator:
        """``rng``, game ``game``'s generator, with the draws made here written into it."""
        if self._owner[game] is rng and self._ahead[game]:
            has_uint32, uinteger = self._half[game]
            rng.bit_generator.state = {
                "bit_generator": "PCG64",
                "state": {"state": (int(self.state_hi[game]) << 64) | int(self.state_lo[game]),
                          "inc": (int(self.inc_hi[game]) << 64) | int(self.inc_lo[game])},
                "has_uint32": has_uint32, "uinteger": uinteger}
            self._ahead[game] = False
        return rng

    def adopt(self, game: int, rng: np.random.Generator) -> None:
        """Continue ``rng``'s stream from its current state for game ``game``."""
        if not isinstance(rng.bit_generator, np.random.PCG64):
            raise TypeError(f"game {game}'s generator must be a PCG64 one (as seeding.np_random makes), "
                            f"got {type(rng.bit_generator).__name__}")
        state = rng.bit_generator.state
        pcg = state["state"]
        self.state_hi[game], self.state_lo[game] = pcg["state"] >> 64, pcg["state"] & (2**64 - 1)
        self.inc_hi[game], self.inc_lo[game] = pcg["inc"] >> 64, pcg["inc"] & (2**64 - 1)
        self._half[game] = (state["has_uint32"], state["uinteger"])
        self._owner[game] = rng
        self._ahead[game] = False

    def random(self, live: np.ndarray) -> np.ndarray:
        """One ``Generator.random()`` for each game where ``live`` (only those advance); the other
        entries are meaningless."""
        hi, lo = self.state_hi, self.state_lo
        product_lo = lo * _MULT_LO
        new_lo = product_lo + self.inc_lo
        new_hi = _mulhi64(lo, _MULT_LO) + lo * _MULT_HI + hi * _MULT_LO + self.inc_hi + (new_lo < product_lo)
        mixed = new_hi ^ new_lo
        rotation = new_hi >> _U58
        output = (mixed >> rotation) | (mixed << ((_U64 - rotation) & _U63))
        np.copyto(hi, new_hi, where=live)
        np.copyto(lo, new_lo, where=live)
        self._ahead |= live
        return (output >> _U11) * (1.0 / 9007199254740992.0)


class _GridworldVectorEnv(BatchedEnv):
    """What the three engines share: the spaces and argument checks of a single env, the time limit,
    the lockstep generators. A subclass implements ``_restart(games)`` and ``_advance(actions, live)``
    (rewards, terminated of every game)."""

    metadata = {"render_modes": [], "autoreset_mode": BatchedEnv.metadata["autoreset_mode"]}

    def _setup_gridworld(self, single: Any, num_envs: Any, max_episode_steps: Any, autoreset_mode: Any) -> None:
        self.single_observation_space = single.observation_space
        self.single_action_space = single.action_space
        self._setup_batch(num_envs, autoreset_mode)
        # -1 is gym.make's "no time limit", which make_vec passes on as it is
        self.max_episode_steps = (None if max_episode_steps is None or max_episode_steps == -1
                                  else checked_int("max_episode_steps", max_episode_steps, 1))
        self._elapsed = np.zeros(self.num_envs, np.int64)  # steps since each game's reset, as TimeLimit counts
        self._streams = LockstepPCG64(self.num_envs)
        self._games = np.arange(self.num_envs)

    def _restart(self, games: np.ndarray) -> None:
        raise NotImplementedError

    def _advance(self, actions: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _draw_each(self, games: np.ndarray, draw: Callable[[np.random.Generator], Any]) -> list[Any]:
        """``draw(rng)`` on each game's own generator, in order, keeping the lockstep copy in step."""
        results = []
        for i in games:
            rng = self._streams.checkout(i, self.game_rngs[i])
            results.append(draw(rng))
            self._streams.adopt(i, rng)
        return results

    def sync_game_rngs(self) -> None:
        """Write the step draws into ``self.game_rngs``: between resets a game's step draws advance a
        copy of its generator's state (:class:`LockstepPCG64`), so read or save ``game_rngs[i]`` after
        this call."""
        for i in range(self.num_envs):
            self._streams.checkout(i, self.game_rngs[i])

    def _reset_games(self, games: np.ndarray) -> None:
        self._elapsed[games] = 0
        self._restart(games)

    def _step_games(self, actions: np.ndarray, live: np.ndarray):
        rewards, terminated = self._advance(actions, live)
        self._elapsed += live
        truncated = np.zeros(self.num_envs, np.bool_)
        if self.max_episode_steps is not None:
            # as TimeLimit: truncated once the limit is reached, whether or not the step terminated
            truncated = live & (self._elapsed >= self.max_episode_steps)
        return rewards, terminated, truncated

    def _observations(self, games: np.ndarray | None = None) -> np.ndarray:
        return self._obs.copy() if games is None else self._obs[games]


def _padded_grid(grid_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The grid with a one-cell border around it, flat (``grid_size + 2`` per row), so that a move is an
    index offset and never leaves the array: (padded index of each row-major cell, row-major cell of
    each padded index (-1 on the border), index offset of each action)."""
    width = grid_size + 2
    cells = np.arange(grid_size * grid_size)
    padded = (cells // grid_size + 1) * width + cells % grid_size + 1
    cell_of = np.full(width * width, -1, np.int64)
    cell_of[padded] = cells
    offsets = np.array([dr * width + dc for dr, dc in MOVES], np.int64)
    return padded, cell_of, offsets


class ProcMazeVectorEnv(_GridworldVectorEnv):
    """``num_envs`` ProcMaze games (:class:`~envs.gridworlds.proc_maze.ProcMazeEnv`) stepped together.

    Spaces
        ``single_observation_space`` / ``single_action_space`` are ProcMazeEnv's: ``Box(0, 1,
        (grid_size * grid_size * 4,), float32)`` (cells in row-major order, channels ``player, goal,
        wall, empty``) and ``Discrete(5)`` (no-op, up, left, down, right). ``observation_space`` and
        ``action_space`` batch them: ``(num_envs, grid_size * grid_size * 4)`` and
        ``MultiDiscrete([5] * num_envs)``.
    Reward
        -1 per step of each game (float32 array), the last one included; 0 for a game's autoreset step
        (``next_step`` mode).
    Episode end
        ``terminated[i]`` on the step taken from the goal (the step after the player reaches it, by
        walking or by the teleport, drawn with probability ``teleport_prob`` after each move);
        ``truncated[i]`` when game ``i``'s episode reaches ``max_episode_steps`` steps, even on a
        terminating step (as Gymnasium's TimeLimit around the single env). Each reset carves a new maze.
    Arguments
        num_envs: games, at least 1. grid_size (4), teleport_prob (None: the paper's rule): as
        ProcMazeEnv, checked by it. max_episode_steps: the time limit (100, the registered one; None or
        -1 for none). autoreset_mode: ``next_step`` (default) or ``same_step`` (see :mod:`envs.batched`).

    Game ``i`` reproduces ``gym.make("rlkit/ProcMaze-v0")`` seeded with ``seed + i``. Between resets
    the step draws advance a copy of each generator's state: call :meth:`sync_game_rngs` before reading
    ``game_rngs``.
    """

    def __init__(self, num_envs: int = 1, grid_size: int = 4, teleport_prob: float | None = None,
                 max_episode_steps: int | None = EPISODE_STEPS, autoreset_mode: str = "next_step") -> None:
        single = ProcMazeEnv(grid_size, teleport_prob)
        self.grid_size, self.teleport_prob = single.grid_size, single.teleport_prob
        self._setup_gridworld(single, num_envs, max_episode_steps, autoreset_mode)
        g, n = self.grid_size, self.num_envs
        self._padded, cell_of, self._offsets = _padded_grid(g)
        self._player_slot = np.maximum(cell_of, 0) * len(MAZE_CHANNELS) + PLAYER  # observation index
        self._open = np.zeros((n, (g + 2) ** 2), np.bool_)  # free cells; walls and border are closed
        self._player = np.zeros(n, np.int64)  # padded indices
        self._goal = np.zeros(n, np.int64)
        self._obs = np.zeros((n, g * g * len(MAZE_CHANNELS)), np.float32)

    def _restart(self, games: np.ndarray) -> None:
        starts = self._draw_each(games, lambda rng: new_maze(rng, self.grid_size))
        walls = np.array([walls for walls, _, _ in starts]).reshape(len(games), -1)
        rows = np.arange(len(games))
        player = np.array([start for _, start, _ in starts], np.int64)
        goal = np.array([goal for _, _, goal in starts], np.int64)
        opened = np.zeros((len(games), self._open.shape[1]), np.bool_)
        opened[:, self._padded] = ~walls
        self._open[games] = opened
        self._player[games], self._goal[games] = self._padded[player], self._padded[goal]
        grid = np.zeros((len(games), walls.shape[1], len(MAZE_CHANNELS)), np.float32)
        grid[..., WALL] = walls
        grid[..., EMPTY] = ~walls
        grid[rows, player, PLAYER] = 1.0
        grid[rows, goal, GOAL] = 1.0
        self._obs[games] = grid.reshape(len(games), -1)

    def _advance(self, actions: np.ndarray, live: np.ndarray):
        player, goal = self._player, self._goal
        terminated = live & (player == goal)
        target = player + self._offsets[actions]
        moved = np.where(self._open[self._games, target], target, player)
        teleported = self._streams.random(live) < self.teleport_prob
        moved = np.where(teleported, goal, moved)
        games = np.flatnonzero(live & (moved != player))
        self._obs[games, self._player_slot[player[games]]] = 0.0
        self._obs[games, self._player_slot[moved[games]]] = 1.0
        player[games] = moved[games]
        rewards = np.zeros(self.num_envs, np.float32)
        rewards[live] = -1.0
        return rewards, terminated


class ButtonGridVectorEnv(_GridworldVectorEnv):
    """``num_envs`` ButtonGrid games (:class:`~envs.gridworlds.button_grid.ButtonGridEnv`) stepped together.

    Spaces
        ``single_observation_space`` / ``single_action_space`` are ButtonGridEnv's: ``Box(0, 1,
        (grid_size * grid_size * 3,), float32)`` (cells in row-major order, channels ``player, button
        on, button off``) and ``Discrete(5)`` (no-op, up, left, down, right). ``observation_space`` and
        ``action_space`` batch them: ``(num_envs, grid_size * grid_size * 3)`` and
        ``MultiDiscrete([5] * num_envs)``.
    Reward
        +1 for a game's step taken while all its buttons are on (that step re-draws its layout), else 0
        (float32 array).
    Episode end
        Never terminated (the task is continuing); ``truncated[i]`` when game ``i``'s episode reaches
        ``max_episode_steps`` steps (as Gymnasium's TimeLimit around the single env). Moving onto a
        button toggles it; after each move, with probability ``spontaneous_prob``, all buttons switch on.
    Arguments
        num_envs: games, at least 1. grid_size (10), buttons (3), spontaneous_prob (None: the paper's
        ``1 / (10 grid_size^2)``): as ButtonGridEnv, checked by it. max_episode_steps: the time limit
        (100, the registered one; None or -1 for none). autoreset_mode: ``next_step`` (default) or
        ``same_step`` (see :mod:`envs.batched`).

    Game ``i`` reproduces ``gym.make("rlkit/ButtonGrid-v0")`` seeded with ``seed + i``. Between resets
    the step draws advance a copy of each generator's state: call :meth:`sync_game_rngs` before reading
    ``game_rngs``.
    """

    def __init__(self, num_envs: int = 1, grid_size: int = 10, buttons: int = 3,
                 spontaneous_prob: float | None = None, max_episode_steps: int | None = EPISODE_STEPS,
                 autoreset_mode: str = "next_step") -> None:
        single = ButtonGridEnv(grid_size, buttons, spontaneous_prob)
        self.grid_size, self.n_buttons = single.grid_size, single.n_buttons
        self.spontaneous_prob = single.spontaneous_prob
        self._setup_gridworld(single, num_envs, max_episode_steps, autoreset_mode)
        g, n, c = self.grid_size, self.num_envs, len(BUTTON_CHANNELS)
        self._padded, self._cell_of, self._offsets = _padded_grid(g)
        self._inside = self._cell_of >= 0
        self._player = np.zeros(n, np.int64)  # padded index
        self._buttons = np.zeros((n, self.n_buttons), np.int64)  # row-major cells, in button order
        self._on = np.zeros((n, self.n_buttons), np.bool_)
        self._button_at = np.full((n, g * g), -1, np.int64)  # each cell's button, -1 for none
        self._obs = np.zeros((n, g * g * c), np.float32)

    def _restart(self, games: np.ndarray) -> None:
        cells = np.array(self._draw_each(games, lambda rng: draw_layout(rng, self.grid_size, self.n_buttons)))
        k, c = len(games), len(BUTTON_CHANNELS)
        rows = np.arange(k)[:, None]
        self._player[games] = self._padded[cells[:, 0]]
        self._buttons[games] = cells[:, 1:]
        self._on[games] = False
        button_at = np.full((k, self.grid_size**2), -1, np.int64)
        button_at[rows, cells[:, 1:]] = np.arange(self.n_buttons)
        self._button_at[games] = button_at
        obs = np.zeros((k, self.grid_size**2 * c), np.float32)
        obs[rows[:, 0], cells[:, 0] * c + BUTTON_PLAYER] = 1.0
        obs[rows, cells[:, 1:] * c + BUTTON_OFF] = 1.0
        self._obs[games] = obs

    def _advance(self, actions: np.ndarray, live: np.ndarray):
        c, obs = len(BUTTON_CHANNELS), self._obs
        success = live & self._on.all(axis=1)  # before anything changes: paid on the step after
        target = self._player + self._offsets[actions]
        walking = np.flatnonzero(live & (actions != 0) & self._inside[target])
        here, there = self._cell_of[self._player[walking]], self._cell_of[target[walking]]
        obs[walking, here * c + BUTTON_PLAYER] = 0.0
        obs[walking, there * c + BUTTON_PLAYER] = 1.0
        self._player[walking] = target[walking]
        button = self._button_at[walking, there]
        pressed = button >= 0
        games, button, cell = walking[pressed], button[pressed], there[pressed]
        on = ~self._on[games, button]
        self._on[games, button] = on
        obs[games, cell * c + BUTTON_ON] = on
        obs[games, cell * c + BUTTON_OFF] = ~on
        spontaneous = np.flatnonzero(live & (self._streams.random(live) < self.spontaneous_prob)
                                     & ~self._on.all(axis=1))
        if spontaneous.size:
            self._on[spontaneous] = True
            slots = self._buttons[spontaneous] * c
            obs[spontaneous[:, None], slots + BUTTON_ON] = 1.0
            obs[spontaneous[:, None], slots + BUTTON_OFF] = 0.0
        if success.any():
            self._restart(np.flatnonzero(success))
        return success.astype(np.float32), np.zeros(self.num_envs, np.bool_)


class PanFluteVectorEnv(_GridworldVectorEnv):
    """``num_envs`` PanFlute games (:class:`~envs.gridworlds.pan_flute.PanFluteEnv`) stepped together.

    Spaces
        ``single_observation_space`` / ``single_action_space`` are PanFluteEnv's: ``Box(0, 1,
        (pipes * (pipes + 1) / 2,), float32)`` (the pipes' shift registers, pipe 0 first, each from its
        head to its last bit) and ``Discrete(pipes)`` (the pipe played). ``observation_space`` and
        ``action_space`` batch them: ``(num_envs, pipes * (pipes + 1) / 2)`` and
        ``MultiDiscrete([pipes] * num_envs)``.
    Reward
        1 for a game's step taken from a state whose pipes' last bits are all 1, else 0 (float32 array).
    Episode end
        Never terminated (the task is continuing); ``truncated[i]`` when game ``i``'s episode reaches
        ``max_episode_steps`` steps (as Gymnasium's TimeLimit around the single env). Each step shifts
        every register and plays one head; then, with probability ``spontaneous_prob``, every last bit
        is set. Every episode starts with all bits 0.
    Arguments
        num_envs: games, at least 1. pipes (5), spontaneous_prob (None: the paper's ``1 / pipes^2``):
        as PanFluteEnv, checked by it. max_episode_steps: the time limit (100, the registered one; None or
        -1 for none). autoreset_mode: ``next_step`` (default) or ``same_step`` (see :mod:`envs.batched`).

    Game ``i`` reproduces ``gym.make("rlkit/PanFlute-v0")`` seeded with ``seed + i``. Between resets
    the step draws advance a copy of each generator's state: call :meth:`sync_game_rngs` before reading
    ``game_rngs``.
    """

    def __init__(self, num_envs: int = 1, pipes: int = 5, spontaneous_prob: float | None = None,
                 max_episode_steps: int | None = EPISODE_STEPS, autoreset_mode: str = "next_step") -> None:
        single = PanFluteEnv(pipes, spontaneous_prob)
        self.pipes, self.spontaneous_prob = single.pipes, single.spontaneous_prob
        self.heads, self.tails = single.heads, single.tails
        self._setup_gridworld(single, num_envs, max_episode_steps, autoreset_mode)
        self._obs = np.zeros((self.num_envs,) + single.observation_space.shape, np.float32)  # the bits

    def _restart(self, games: np.ndarray) -> None:
        self._obs[games] = 0.0
        for i in games:  # a reset draws nothing, but a newly seeded generator must be followed
            if not self._streams.holds(i, self.game_rngs[i]):
                self._streams.adopt(i, self.game_rngs[i])

    def _advance(self, actions: np.ndarray, live: np.ndarray):
        bits = self._obs
        rewards = (live & bits[:, self.tails].all(axis=1)).astype(np.float32)
        # one shift of the flat register shifts every pipe; each head is then overwritten
        shifted = np.empty_like(bits)
        shifted[:, 1:] = bits[:, :-1]
        shifted[:, self.heads] = 0.0
        shifted[self._games, self.heads[actions]] = 1.0
        spontaneous = np.flatnonzero(live & (self._streams.random(live) < self.spontaneous_prob))
        shifted[spontaneous[:, None], self.tails] = 1.0
        np.copyto(bits, shifted, where=live[:, None])
        return rewards, np.zeros(self.num_envs, np.bool_)
