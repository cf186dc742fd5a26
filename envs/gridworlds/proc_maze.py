"""ProcMaze: reach the goal of a maze that is new every episode.

Each reset carves a maze on a ``grid_size`` x ``grid_size`` grid of cells, each a wall or free, by
randomised depth-first search (:func:`carve_maze`): from a random cell, the search frees a random wall
neighbour of the cell on top of its stack that touches no free cell but that one, and backtracks when
there is none. The free cells therefore form one-cell-wide corridors that are a tree (all connected,
no loops, free cells - 1 adjacent free pairs) and cannot grow further (every wall touches no free cell
or at least two). The player and the goal start on two distinct random free cells.

Observation
    ``grid_size * grid_size * 4`` values in {0, 1} (float32): the grid's cells in row-major order,
    each with four channels ``player, goal, wall, empty`` (index ``(row * grid_size + col) * 4 +
    channel``; empty = not a wall).
Action
    ``Discrete(5)``: 0 no-op, 1 up (row - 1), 2 left (col - 1), 3 down (row + 1), 4 right (col + 1).
    A move into a wall or off the grid leaves the player where it is.
Reward
    -1 every step, the last one included.
Episode end
    Terminated by the step taken *from* the goal, i.e. on the step after the player reaches it (the
    agent sees the player on the goal first; that step's move is still applied). After each move, with
    probability ``teleport_prob`` the player is teleported onto the goal. Registered as
    ``rlkit/ProcMaze-v0`` with a 100-step time limit (truncated), as the paper's evaluation episodes.
Arguments
    grid_size: cells per side, at least 2 (4). teleport_prob: per-step chance of the teleport, in
    [0, 1]; ``None`` (default) takes the source paper's rule, a tenth of the inverse of the longest
    shortest path a maze of this size can have, ``0.1 / ((g + 1) * ceil(g / 2) - g % 2)`` (0.01 at g = 4).

State
    ``get_state()`` returns a picklable snapshot (walls, player, goal, random generator state);
    ``set_state(state)`` restores it exactly. ``set_state_from_observation(obs)`` sets walls, player
    and goal from an observation (the random generator is left as it is).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.gridworlds import MOVES, checked_action, checked_int, checked_probability

PLAYER, GOAL, WALL, EMPTY = range(4)
CHANNELS = ("player", "goal", "wall", "empty")


def default_teleport_prob(grid_size: int) -> float:
    """A tenth of the inverse of the longest shortest path in a ``grid_size`` maze (the paper's rule)."""
    return 0.1 / ((grid_size + 1) * math.ceil(grid_size / 2) - grid_size % 2)


@functools.lru_cache(maxsize=None)
def _padded_neighbours(grid_size: int) -> tuple[tuple[int, ...], ...]:
    """For each cell of the grid with a border of permanent walls around it (flat indices, ``grid_size
    + 2`` per row), its neighbours inside the grid in the order of ``MOVES[1:]`` (none for a border cell)."""
    width = grid_size + 2
    inside = [0 < i // width <= grid_size and 0 < i % width <= grid_size for i in range(width * width)]
    offsets = [dr * width + dc for dr, dc in MOVES[1:]]
    return tuple(tuple(i + o for o in offsets if inside[i + o]) if inside[i] else () for i in range(width * width))


def carve_maze(rng: np.random.Generator, grid_size: int) -> np.ndarray:
    """A ``(grid_size, grid_size)`` bool array, True for walls, carved by randomised depth-first search."""
    # Every reset carves one (the batched engine's resets are its bottleneck), hence the cached
    # neighbour lists and the running count of free neighbours instead of recounting them per test.
    width = grid_size + 2
    neighbours = _padded_neighbours(grid_size)
    free = [False] * (width * width)
    touching = [0] * (width * width)  # free neighbours of each cell
    start = (int(rng.integers(grid_size)) + 1) * width + int(rng.integers(grid_size)) + 1
    free[start] = True
    stack = [start]
    for n in neighbours[start]:
        touching[n] += 1
    while stack:
        cell = stack[-1]
        # a wall next to this cell can be freed only if it touches no other free cell: no loop
        options = [n for n in neighbours[cell] if touching[n] == 1 and not free[n]]
        if options:
            chosen = options[int(rng.integers(len(options)))] if len(options) > 1 else options[0]
            free[chosen] = True
            for n in neighbours[chosen]:
                touching[n] += 1
            stack.append(chosen)
        else:
            stack.pop()
    grid = np.array(free, dtype=bool).reshape(width, width)[1:-1, 1:-1]
    return ~grid


def new_maze(rng: np.random.Generator, grid_size: int) -> tuple[np.ndarray, int, int]:
    """An episode's start: the walls (:func:`carve_maze`) and the player's and goal's cells (row-major
    indices, distinct free cells), drawn from ``rng`` as :meth:`ProcMazeEnv.reset` draws them."""
    walls = carve_maze(rng, grid_size)
    start, goal = rng.choice(np.flatnonzero(~walls), size=2, replace=False)
    return walls, int(start), int(goal)


class ProcMazeEnv(gym.Env):
    metadata = {"render_modes": []}
    supports_state_restore = True

    def __init__(self, grid_size: int = 4, teleport_prob: float | None = None) -> None:
        self.grid_size = checked_int("grid_size", grid_size, 2)
        self.teleport_prob = (default_teleport_prob(self.grid_size) if teleport_prob is None
                              else checked_probability("teleport_prob", teleport_prob))
        n = self.grid_size * self.grid_size * len(CHANNELS)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32)
        self.action_space = spaces.Discrete(len(MOVES))
        self.walls: np.ndarray | None = None
        self.player = self.goal = (0, 0)
        self._obs = np.zeros(n, dtype=np.float32)

    def _index(self, cell: tuple[int, int], channel: int) -> int:
        return (cell[0] * self.grid_size + cell[1]) * len(CHANNELS) + channel

    def _render_observation(self) -> None:
        grid = self._obs.reshape(self.grid_size, self.grid_size, len(CHANNELS))
        grid[:] = 0.0
        grid[..., WALL] = self.walls
        grid[..., EMPTY] = ~self.walls
        grid[self.player + (PLAYER,)] = 1.0
        grid[self.goal + (GOAL,)] = 1.0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.walls, start, goal = new_maze(self.np_random, self.grid_size)
        self.player, self.goal = divmod(start, self.grid_size), divmod(goal, self.grid_size)
        self._render_observation()
        return self._obs.copy(), {}

    def step(self, action):
        if self.walls is None:
            raise RuntimeError("call reset() before step()")
        dr, dc = MOVES[checked_action(action, len(MOVES))]
        terminated = self.player == self.goal  # the step after reaching the goal ends the episode
        row, col = self.player[0] + dr, self.player[1] + dc
        moved_to = self.player
        if 0 <= row < self.grid_size and 0 <= col < self.grid_size and not self.walls[row, col]:
            moved_to = (row, col)
        if self.np_random.random() < self.teleport_prob:
            moved_to = self.goal
        if moved_to != self.player:
            self._obs[self._index(self.player, PLAYER)] = 0.0
            self._obs[self._index(moved_to, PLAYER)] = 1.0
            self.player = moved_to
        return self._obs.copy(), -1.0, terminated, False, {}

    # -- state save and restore -----------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """A picklable snapshot of the full simulator state (random generator included)."""
        if self.walls is None:
            raise RuntimeError("call reset() before get_state()")
        return {"walls": self.walls.copy(), "player": self.player, "goal": self.goal,
                "rng": self.np_random.bit_generator.state}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a snapshot from :meth:`get_state` exactly."""
        walls = np.array(state["walls"], dtype=bool)
        if walls.shape != (self.grid_size, self.grid_size):
            raise ValueError(f"state is for a {walls.shape} grid, this env's is {(self.grid_size,) * 2}")
        self.walls = walls
        self.player, self.goal = tuple(state["player"]), tuple(state["goal"])
        self.np_random.bit_generator.state = state["rng"]
        self._render_observation()

    def set_state_from_observation(self, observation: np.ndarray) -> None:
        """Set walls, player and goal to those an observation shows (the random generator is unchanged)."""
        grid = np.asarray(observation).reshape(self.grid_size, self.grid_size, len(CHANNELS)) > 0.5
        self.walls = grid[..., WALL].copy()
        self.player = tuple(int(i) for i in np.argwhere(grid[..., PLAYER])[0])
        self.goal = tuple(int(i) for i in np.argwhere(grid[..., GOAL])[0])
        self._render_observation()
