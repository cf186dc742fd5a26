"""The game state of a batch of football games, as plain NumPy arrays.

One :class:`FootballState` holds ``n_games`` games side by side; every array has the game as its
first axis, so the Numba engine, the observation builders and the rewards loop over games without
Python objects. A single environment is a batch of one.

Conventions are Google Research Football's (GRF): x in [-1, 1] (the left team attacks the goal at
x = +1), y in [-0.42, 0.42] (positive y is the bottom of the screen), positions in pitch units,
directions in pitch units per step (10 steps per game second). Player slots 0..10 are the left
team, 11..21 the right team; a scenario's players fill each team's first slots, the rest are
absent (``present`` False) and ignored everywhere. The agent controls left-team players.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

PLAYERS_PER_TEAM = 11
SLOTS = 2 * PLAYERS_PER_TEAM
LEFT, RIGHT, NO_TEAM = 0, 1, -1

# GRF's game modes
NORMAL, KICK_OFF, GOAL_KICK, FREE_KICK, CORNER, THROW_IN, PENALTY = range(7)
GAME_MODES = ("normal", "kick_off", "goal_kick", "free_kick", "corner", "throw_in", "penalty")

# GRF's player roles
GK, CB, LB, RB, DM, CM, LM, RM, AM, CF = range(10)
ROLES = ("GK", "CB", "LB", "RB", "DM", "CM", "LM", "RM", "AM", "CF")

# why an episode (or a game) ended; RUNNING while it goes on
RUNNING, ENDED_SCORE, ENDED_OUT_OF_PLAY, ENDED_POSSESSION_CHANGE, ENDED_TIME = range(5)

N_STICKY = 10  # left, top_left, top, top_right, right, bottom_right, bottom, bottom_left, sprint, dribble


# dims of a field's shape: B the games of the batch, C the agent slots
B, C = "B", "C"

# The state's fields, each (dtype, shape, value of a fresh batch, meaning): the one definition that
# FootballState, its allocation and the engine's kernels (which take the state as one bundle) share.
STATE_FIELDS = {
    "pos": (np.float64, (B, SLOTS, 2), 0, "player positions"),
    "dir": (np.float64, (B, SLOTS, 2), 0, "player movement per step"),
    "present": (np.bool_, (B, SLOTS), False, "slot used by the scenario (and not sent off)"),
    "roles": (np.int8, (B, SLOTS), 0, "GK ... CF"),
    "tired": (np.float64, (B, SLOTS), 0, "tired factor in [0, 1] (0 fresh)"),
    "yellow": (np.bool_, (B, SLOTS), False, "yellow cards"),
    "ball": (np.float64, (B, 3), 0, "ball position (z = height)"),
    "ball_dir": (np.float64, (B, 3), 0, "ball movement per step"),
    "ball_rot": (np.float64, (B, 3), 0, "ball spin"),
    "owner_team": (np.int8, (B,), NO_TEAM, "LEFT, RIGHT or NO_TEAM"),
    "owner_player": (np.int8, (B,), -1, "index within the owning team, -1 when nobody owns it"),
    "game_mode": (np.int8, (B,), NORMAL, "NORMAL ... PENALTY"),
    "score": (np.int32, (B, 2), 0, "goals of the left and right team"),
    "steps_left": (np.int32, (B,), 0, "steps until the episode's time limit"),
    "controlled": (np.int8, (B, C), 0, "left-team player index (0..10) behind agent slot c"),
    "designated": (np.int8, (B,), 0, "the player single-player control would pick"),
    "sticky": (np.bool_, (B, C, N_STICKY), False, "sticky-action flags of agent slot c"),
    "goal": (np.int8, (B,), 0, "+1 left scored in the last step, -1 right scored, 0 neither"),
    "done": (np.bool_, (B,), False, "the episode has ended"),
    "end_reason": (np.int8, (B,), RUNNING, "RUNNING or ENDED_*"),
    "checkpoints": (np.int8, (B, C), 0, "checkpoint rewards already paid to agent slot c"),
    "rng": (np.uint64, (B,), 0, "per-game random stream state (the engine's generator)"),
}


def allocate_fields(fields: dict, n_games: int, n_controlled: int = 1) -> dict:
    """The arrays of ``fields`` (a dict like :data:`STATE_FIELDS`) for a batch, by name."""
    sizes = {B: n_games, C: n_controlled}
    return {name: np.full(tuple(sizes.get(d, d) for d in shape), fill, dtype)
            for name, (dtype, shape, fill, _) in fields.items()}


class FootballState(NamedTuple("FootballStateFields", [(name, np.ndarray) for name in STATE_FIELDS])):
    """The arrays of :data:`STATE_FIELDS` (``state.pos``, ``state.done``, ...), game first; a named
    tuple so that the Numba kernels take it as one argument at no run-time cost."""

    __slots__ = ()

    @classmethod
    def allocate(cls, n_games: int, n_controlled: int = 1) -> "FootballState":
        """Fresh arrays for ``n_games`` games with ``n_controlled`` agent-controlled players."""
        if n_games < 1 or n_controlled < 1:
            raise ValueError(f"need n_games >= 1 and n_controlled >= 1, got {n_games}, {n_controlled}")
        return cls(**allocate_fields(STATE_FIELDS, n_games, n_controlled))

    @property
    def n_games(self) -> int:
        return self.pos.shape[0]

    @property
    def n_controlled(self) -> int:
        return self.controlled.shape[1]

    def copy(self) -> "FootballState":
        return FootballState(*(a.copy() for a in self))

    def game(self, index: int) -> "FootballState":
        """Game ``index`` as a batch of one (copies)."""
        return FootballState(*(a[index : index + 1].copy() for a in self))
