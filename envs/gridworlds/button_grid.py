"""ButtonGrid: switch every button of an open grid on (a continuing task).

The player walks on a ``grid_size`` x ``grid_size`` grid without walls on which ``buttons`` buttons lie
on distinct cells. Moving onto a button's cell toggles it (on <-> off); standing still, or bumping into
the grid's edge, toggles nothing. Once all buttons are on, the next step pays +1 and re-draws the
layout: the player and the buttons go to new random cells (buttons on distinct cells other than the
player's), all off.

Observation
    ``grid_size * grid_size * 3`` values in {0, 1} (float32): the grid's cells in row-major order,
    each with three channels ``player, button on, button off`` (index ``(row * grid_size + col) * 3 +
    channel``).
Action
    ``Discrete(5)``: 0 no-op, 1 up (row - 1), 2 left (col - 1), 3 down (row + 1), 4 right (col + 1);
    a move off the grid leaves the player where it is.
Reward
    +1 on the step taken while all buttons are on (the step after they all came on), else 0.
Episode end
    Never: the task is continuing. Each step, after the move and its toggle, with probability
    ``spontaneous_prob`` all buttons switch on at once (paying +1 on the next step). Registered as
    ``rlkit/ButtonGrid-v0`` with a 100-step time limit (truncated): the continuing task is cut into
    100-step episodes for rlkit's host, as the paper's evaluation episodes.
Arguments
    grid_size: cells per side, at least 2 (10). buttons: how many, in [1, grid_size^2 - 1] (3).
    spontaneous_prob: per-step chance that all switch on, in [0, 1]; ``None`` (default) is the
    paper's ``1 / (10 grid_size^2)``.

State
    ``get_state()`` returns a picklable snapshot (player, buttons, their states, random generator
    state); ``set_state(state)`` restores it exactly. ``set_state_from_observation(obs)`` sets the
    player and buttons from an observation (the random generator is left as it is).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.gridworlds import MOVES, checked_action, checked_int, checked_probability

PLAYER, BUTTON_ON, BUTTON_OFF = range(3)
CHANNELS = ("player", "button_on", "button_off")


def draw_layout(rng: np.random.Generator, grid_size: int, n_buttons: int) -> np.ndarray:
    """A new layout: ``n_buttons + 1`` distinct row-major cell indices, the player's first, then the
    buttons' in button order, drawn from ``rng`` as :class:`ButtonGridEnv` draws them."""
    return rng.choice(grid_size**2, size=n_buttons + 1, replace=False)


class ButtonGridEnv(gym.Env):
    metadata = {"render_modes": []}
    supports_state_restore = True

    def __init__(self, grid_size: int = 10, buttons: int = 3, spontaneous_prob: float | None = None) -> None:
        self.grid_size = checked_int("grid_size", grid_size, 2)
        self.n_buttons = checked_int("buttons", buttons, 1, self.grid_size**2 - 1)
        self.spontaneous_prob = (1.0 / (10 * self.grid_size**2) if spontaneous_prob is None
                                 else checked_probability("spontaneous_prob", spontaneous_prob))
        n = self.grid_size * self.grid_size * len(CHANNELS)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32)
        self.action_space = spaces.Discrete(len(MOVES))
        self.player = (0, 0)
        self.buttons: list[tuple[int, int]] = []  # cells, in button order
        self.on = np.zeros(self.n_buttons, dtype=bool)
        self._button_at: dict[tuple[int, int], int] = {}
        self._obs = np.zeros(n, dtype=np.float32)

    def _index(self, cell: tuple[int, int], channel: int) -> int:
        return (cell[0] * self.grid_size + cell[1]) * len(CHANNELS) + channel

    def _render_observation(self) -> None:
        self._button_at = {cell: i for i, cell in enumerate(self.buttons)}
        self._obs[:] = 0.0
        self._obs[self._index(self.player, PLAYER)] = 1.0
        for cell, on in zip(self.buttons, self.on):
            self._obs[self._index(cell, BUTTON_ON if on else BUTTON_OFF)] = 1.0

    def _place(self) -> None:
        """New random cells for the player and the buttons (distinct), all buttons off."""
        cells = draw_layout(self.np_random, self.grid_size, self.n_buttons)
        self.player = divmod(int(cells[0]), self.grid_size)
        self.buttons = [divmod(int(c), self.grid_size) for c in cells[1:]]
        self.on = np.zeros(self.n_buttons, dtype=bool)
        self._render_observation()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._place()
        return self._obs.copy(), {}

    def step(self, action):
        if not self.buttons:
            raise RuntimeError("call reset() before step()")
        dr, dc = MOVES[checked_action(action, len(MOVES))]
        success = bool(self.on.all())  # checked before anything changes: paid the step after
        row, col = self.player[0] + dr, self.player[1] + dc
        if (row, col) != self.player and 0 <= row < self.grid_size and 0 <= col < self.grid_size:
            obs = self._obs
            obs[self._index(self.player, PLAYER)] = 0.0
            self.player = (row, col)
            obs[self._index(self.player, PLAYER)] = 1.0
            button = self._button_at.get(self.player)
            if button is not None:
                on = not self.on[button]
                self.on[button] = on
                obs[self._index(self.player, BUTTON_ON)] = float(on)
                obs[self._index(self.player, BUTTON_OFF)] = float(not on)
        if self.np_random.random() < self.spontaneous_prob and not self.on.all():
            self.on[:] = True
            self._render_observation()
        if success:
            self._place()
        return self._obs.copy(), 1.0 if success else 0.0, False, False, {}

    # -- state save and restore -----------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """A picklable snapshot of the full simulator state (random generator included)."""
        if not self.buttons:
            raise RuntimeError("call reset() before get_state()")
        return {"player": self.player, "buttons": list(self.buttons), "on": self.on.copy(),
                "rng": self.np_random.bit_generator.state}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a snapshot from :meth:`get_state` exactly."""
        if len(state["buttons"]) != self.n_buttons:
            raise ValueError(f"state has {len(state['buttons'])} buttons, this env has {self.n_buttons}")
        self.player = tuple(state["player"])
        self.buttons = [tuple(cell) for cell in state["buttons"]]
        self.on = np.array(state["on"], dtype=bool)
        self.np_random.bit_generator.state = state["rng"]
        self._render_observation()

    def set_state_from_observation(self, observation: np.ndarray) -> None:
        """Set the player and buttons to those an observation shows (the random generator is unchanged;
        buttons are numbered in row-major order of their cells)."""
        grid = np.asarray(observation).reshape(self.grid_size, self.grid_size, len(CHANNELS)) > 0.5
        self.player = tuple(int(i) for i in np.argwhere(grid[..., PLAYER])[0])
        cells = np.argwhere(grid[..., BUTTON_ON] | grid[..., BUTTON_OFF])
        if len(cells) != self.n_buttons:
            raise ValueError(f"observation shows {len(cells)} buttons, this env has {self.n_buttons}")
        self.buttons = [(int(r), int(c)) for r, c in cells]
        self.on = np.array([grid[r, c, BUTTON_ON] for r, c in self.buttons], dtype=bool)
        self._render_observation()
