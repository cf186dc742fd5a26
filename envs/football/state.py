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

from dataclasses import dataclass, fields

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


@dataclass
class FootballState:
    pos: np.ndarray  # float64 (B, 22, 2) player positions
    dir: np.ndarray  # float64 (B, 22, 2) player movement per step
    present: np.ndarray  # bool (B, 22) slot used by the scenario (and not sent off)
    roles: np.ndarray  # int8 (B, 22)
    tired: np.ndarray  # float64 (B, 22) tired factor in [0, 1] (0 fresh)
    yellow: np.ndarray  # bool (B, 22) yellow cards
    ball: np.ndarray  # float64 (B, 3) ball position (z = height)
    ball_dir: np.ndarray  # float64 (B, 3) ball movement per step
    ball_rot: np.ndarray  # float64 (B, 3) ball spin
    owner_team: np.ndarray  # int8 (B,) LEFT, RIGHT or NO_TEAM
    owner_player: np.ndarray  # int8 (B,) index within the owning team, -1 when nobody owns it
    game_mode: np.ndarray  # int8 (B,) NORMAL ... PENALTY
    score: np.ndarray  # int32 (B, 2) goals of the left and right team
    steps_left: np.ndarray  # int32 (B,) steps until the episode's time limit
    controlled: np.ndarray  # int8 (B, C) left-team player index (0..10) behind agent slot c
    designated: np.ndarray  # int8 (B,) the player single-player control would pick
    sticky: np.ndarray  # bool (B, C, 10) sticky-action flags of agent slot c
    goal: np.ndarray  # int8 (B,) +1 left scored in the last step, -1 right scored, 0 neither
    done: np.ndarray  # bool (B,) the episode has ended
    end_reason: np.ndarray  # int8 (B,) RUNNING or ENDED_*
    checkpoints: np.ndarray  # int8 (B, C) checkpoint rewards already paid to agent slot c
    rng: np.ndarray  # uint64 (B,) per-game random stream state (the engine's generator)

    @classmethod
    def allocate(cls, n_games: int, n_controlled: int = 1) -> "FootballState":
        """Zeroed arrays for ``n_games`` games with ``n_controlled`` agent-controlled players."""
        if n_games < 1 or n_controlled < 1:
            raise ValueError(f"need n_games >= 1 and n_controlled >= 1, got {n_games}, {n_controlled}")
        b, c = n_games, n_controlled
        return cls(
            pos=np.zeros((b, SLOTS, 2)),
            dir=np.zeros((b, SLOTS, 2)),
            present=np.zeros((b, SLOTS), dtype=np.bool_),
            roles=np.zeros((b, SLOTS), dtype=np.int8),
            tired=np.zeros((b, SLOTS)),
            yellow=np.zeros((b, SLOTS), dtype=np.bool_),
            ball=np.zeros((b, 3)),
            ball_dir=np.zeros((b, 3)),
            ball_rot=np.zeros((b, 3)),
            owner_team=np.full(b, NO_TEAM, dtype=np.int8),
            owner_player=np.full(b, -1, dtype=np.int8),
            game_mode=np.zeros(b, dtype=np.int8),
            score=np.zeros((b, 2), dtype=np.int32),
            steps_left=np.zeros(b, dtype=np.int32),
            controlled=np.zeros((b, c), dtype=np.int8),
            designated=np.zeros(b, dtype=np.int8),
            sticky=np.zeros((b, c, N_STICKY), dtype=np.bool_),
            goal=np.zeros(b, dtype=np.int8),
            done=np.zeros(b, dtype=np.bool_),
            end_reason=np.zeros(b, dtype=np.int8),
            checkpoints=np.zeros((b, c), dtype=np.int8),
            rng=np.zeros(b, dtype=np.uint64),
        )

    @property
    def n_games(self) -> int:
        return self.pos.shape[0]

    @property
    def n_controlled(self) -> int:
        return self.controlled.shape[1]

    def copy(self) -> "FootballState":
        return FootballState(**{f.name: getattr(self, f.name).copy() for f in fields(self)})

    def game(self, index: int) -> "FootballState":
        """Game ``index`` as a batch of one (copies)."""
        return FootballState(**{f.name: getattr(self, f.name)[index : index + 1].copy() for f in fields(self)})
