"""Observations of the football games: Google Research Football's representations and a graph view.

Two families of builders produce the same arrays:

- fast builders read a :class:`~envs.football.state.FootballState` and write the whole batch at
  once (Numba kernels looping over games), ``(B, C, ...)`` with ``B`` games and ``C`` agent slots:
  :func:`simple115v2`, :func:`extracted`, :func:`graph`; :func:`raw` builds GRF's raw dict for one
  game and slot;
- reference builders read one GRF raw dict (from :func:`raw` or from the real engine) and return
  one observation: :func:`simple115v2_from_raw`, :func:`extracted_from_raw`, :func:`graph_from_raw`.
  They are written plainly and independently of the kernels: the real-engine backend uses them, and
  the tests use them as oracles for the fast builders.

Representations (``REPRESENTATIONS``):

``raw``
    GRF's dict: ``ball`` [x, y, z], ``ball_direction``, ``ball_rotation``, ``ball_owned_team``
    (-1 nobody, 0 left, 1 right), ``ball_owned_player`` (-1 or the index within the owning team),
    ``left_team`` (n_left x 2), ``left_team_direction``, ``left_team_active`` (False when sent off),
    ``left_team_roles``, ``left_team_tired_factor``, ``left_team_yellow_card``, the same six
    ``right_team*`` keys, ``active`` (the slot's controlled player), ``designated``, ``game_mode``,
    ``score`` [left, right], ``steps_left``, ``sticky_actions`` (10 flags).
``simple115v2``
    float32 (115,): left positions (indices 0-21), left directions (22-43), right positions (44-65),
    right directions (66-87), each team block padded with -1 for missing players; ball position
    (88-90), ball direction (91-93), ball owner one-hot none/left/right (94-96), active player
    one-hot (97-107), game mode one-hot (108-114).
``extracted``
    GRF's super mini map (SMM): uint8 (72, 96, 4), planes left team, right team, ball, active
    player; each point sets one pixel to 255 at ``col = int((x + 1) / 2 * 96)``,
    ``row = int((y + 1/2.25) / (2/2.25) * 72)``, clipped to the frame (GRF's minimap spans
    y in [-1/2.25, 1/2.25], a little more than the pitch's [-0.42, 0.42]).
``graph``
    float32 (24, 16): nodes 0-10 the left player slots, 11-21 the right ones, 22 the ball, 23 a
    global node; columns in ``GRAPH_FEATURE_NAMES``; column 15 is the mask (1 for a present
    player, the ball and the global node); an absent player's row is all zeros.

A team's rows in ``raw`` (and so its entries in ``simple115v2`` and ``extracted``) are its slots up
to its last present player; a player sent off inside that range stays, with ``*_active`` False.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from numba import njit

from envs.football.state import GK, LEFT, N_STICKY, PLAYERS_PER_TEAM, RIGHT, SLOTS, FootballState

REPRESENTATIONS = ("raw", "simple115v2", "extracted", "graph")

# simple115v2 layout: start index of each block
SIMPLE115_SIZE = 115
SIMPLE115_LEFT_POSITIONS = 0
SIMPLE115_LEFT_DIRECTIONS = 22
SIMPLE115_RIGHT_POSITIONS = 44
SIMPLE115_RIGHT_DIRECTIONS = 66
SIMPLE115_BALL = 88
SIMPLE115_BALL_DIRECTION = 91
SIMPLE115_BALL_OWNER = 94
SIMPLE115_ACTIVE = 97
SIMPLE115_GAME_MODE = 108

# super mini map (SMM) geometry, GRF's
SMM_HEIGHT, SMM_WIDTH = 72, 96
SMM_LAYERS = ("left_team", "right_team", "ball", "active")
SMM_MARK = 255
SMM_Y_HALF = 1.0 / 2.25  # the minimap spans y in [-SMM_Y_HALF, SMM_Y_HALF]

# graph layout
GRAPH_NODES = SLOTS + 2
BALL_NODE = SLOTS
GLOBAL_NODE = SLOTS + 1
GRAPH_FEATURE_NAMES = (
    "x", "y", "z", "dx", "dy", "left_team", "right_team", "is_ball", "is_global", "active",
    "owns_ball", "ball_distance", "goalkeeper", "steps_left", "score_difference", "present",
)
GRAPH_FEATURES = len(GRAPH_FEATURE_NAMES)
GRAPH_DIRECTION_SCALE = 100.0  # movement per step (~0.01) scaled to O(1)
GRAPH_SCORE_CLIP = 5
DEFAULT_EPISODE_STEPS = 3000  # GRF's full game; pass the scenario's length for academy scenarios

RAW_KEYS = (
    "ball", "ball_direction", "ball_rotation", "ball_owned_team", "ball_owned_player",
    "left_team", "left_team_direction", "left_team_active", "left_team_roles",
    "left_team_tired_factor", "left_team_yellow_card",
    "right_team", "right_team_direction", "right_team_active", "right_team_roles",
    "right_team_tired_factor", "right_team_yellow_card",
    "active", "designated", "game_mode", "score", "steps_left", "sticky_actions",
)
_INT_MAX = np.iinfo(np.int32).max


# ---------------------------------------------------------------- fast builders (Numba kernels)


@njit(cache=True, nogil=True, inline="always")
def _team_rows(present, g, first):
    """Rows a team shows: its slots up to its last present player."""
    rows = 0
    for i in range(PLAYERS_PER_TEAM):
        if present[g, first + i]:
            rows = i + 1
    return rows


@njit(cache=True, nogil=True)
def _simple115_kernel(pos, dirs, present, ball, ball_dir, owner_team, game_mode, controlled, out):
    n_games, n_slots = controlled.shape
    for g in range(n_games):
        n_left = _team_rows(present, g, 0)
        n_right = _team_rows(present, g, PLAYERS_PER_TEAM)
        for c in range(n_slots):
            o = out[g, c]
            for t in range(2):
                rows = n_left if t == 0 else n_right
                first = t * PLAYERS_PER_TEAM
                p_start = SIMPLE115_LEFT_POSITIONS if t == 0 else SIMPLE115_RIGHT_POSITIONS
                d_start = SIMPLE115_LEFT_DIRECTIONS if t == 0 else SIMPLE115_RIGHT_DIRECTIONS
                for i in range(PLAYERS_PER_TEAM):
                    if i < rows:
                        o[p_start + 2 * i] = pos[g, first + i, 0]
                        o[p_start + 2 * i + 1] = pos[g, first + i, 1]
                        o[d_start + 2 * i] = dirs[g, first + i, 0]
                        o[d_start + 2 * i + 1] = dirs[g, first + i, 1]
                    else:
                        o[p_start + 2 * i] = -1.0
                        o[p_start + 2 * i + 1] = -1.0
                        o[d_start + 2 * i] = -1.0
                        o[d_start + 2 * i + 1] = -1.0
            for k in range(3):
                o[SIMPLE115_BALL + k] = ball[g, k]
                o[SIMPLE115_BALL_DIRECTION + k] = ball_dir[g, k]
            for k in range(SIMPLE115_BALL_OWNER, SIMPLE115_SIZE):
                o[k] = 0.0
            o[SIMPLE115_BALL_OWNER + owner_team[g] + 1] = 1.0
            if controlled[g, c] >= 0:
                o[SIMPLE115_ACTIVE + controlled[g, c]] = 1.0
            o[SIMPLE115_GAME_MODE + game_mode[g]] = 1.0


@njit(cache=True, nogil=True, inline="always")
def _smm_col(x):
    col = int((x + 1.0) / 2.0 * SMM_WIDTH)
    return min(max(col, 0), SMM_WIDTH - 1)


@njit(cache=True, nogil=True, inline="always")
def _smm_row(y):
    row = int((y + SMM_Y_HALF) / (2.0 * SMM_Y_HALF) * SMM_HEIGHT)
    return min(max(row, 0), SMM_HEIGHT - 1)


@njit(cache=True, nogil=True)
def _extracted_kernel(pos, present, ball, controlled, out):
    n_games, n_slots = controlled.shape
    rows = np.empty(SLOTS, dtype=np.int64)
    cols = np.empty(SLOTS, dtype=np.int64)
    for g in range(n_games):
        n_left = _team_rows(present, g, 0)
        n_right = _team_rows(present, g, PLAYERS_PER_TEAM)
        for s in range(SLOTS):
            rows[s] = _smm_row(pos[g, s, 1])
            cols[s] = _smm_col(pos[g, s, 0])
        ball_row = _smm_row(ball[g, 1])
        ball_col = _smm_col(ball[g, 0])
        for c in range(n_slots):
            o = out[g, c]
            o[:] = 0
            for i in range(n_left):
                o[rows[i], cols[i], 0] = SMM_MARK
            for i in range(n_right):
                s = PLAYERS_PER_TEAM + i
                o[rows[s], cols[s], 1] = SMM_MARK
            o[ball_row, ball_col, 2] = SMM_MARK
            active = controlled[g, c]
            if active >= 0:
                o[rows[active], cols[active], 3] = SMM_MARK


@njit(cache=True, nogil=True)
def _graph_kernel(pos, dirs, present, roles, ball, ball_dir, owner_team, owner_player, score,
                  steps_left, controlled, episode_steps, out):
    n_games, n_slots = controlled.shape
    for g in range(n_games):
        bx, by = ball[g, 0], ball[g, 1]
        owner = -1  # the owner's slot
        if owner_team[g] == LEFT and owner_player[g] >= 0:
            owner = owner_player[g]
        elif owner_team[g] == RIGHT and owner_player[g] >= 0:
            owner = PLAYERS_PER_TEAM + owner_player[g]
        diff = min(max(score[g, 0] - score[g, 1], -GRAPH_SCORE_CLIP), GRAPH_SCORE_CLIP)
        for c in range(n_slots):
            o = out[g, c]
            o[:] = 0.0
            for s in range(SLOTS):
                if not present[g, s]:
                    continue
                x, y = pos[g, s, 0], pos[g, s, 1]
                o[s, 0] = x
                o[s, 1] = y
                o[s, 3] = dirs[g, s, 0] * GRAPH_DIRECTION_SCALE
                o[s, 4] = dirs[g, s, 1] * GRAPH_DIRECTION_SCALE
                if s < PLAYERS_PER_TEAM:
                    o[s, 5] = 1.0
                else:
                    o[s, 6] = 1.0
                if s == owner:
                    o[s, 10] = 1.0
                o[s, 11] = np.sqrt((x - bx) ** 2 + (y - by) ** 2)
                if roles[g, s] == GK:
                    o[s, 12] = 1.0
                o[s, 15] = 1.0
            active = controlled[g, c]
            if active >= 0 and present[g, active]:
                o[active, 9] = 1.0
            b = o[BALL_NODE]
            b[0] = bx
            b[1] = by
            b[2] = ball[g, 2]
            b[3] = ball_dir[g, 0] * GRAPH_DIRECTION_SCALE
            b[4] = ball_dir[g, 1] * GRAPH_DIRECTION_SCALE
            b[7] = 1.0
            if owner_team[g] == LEFT:
                b[10] = 1.0
            elif owner_team[g] == RIGHT:
                b[10] = -1.0
            b[15] = 1.0
            glob = o[GLOBAL_NODE]
            glob[8] = 1.0
            glob[13] = steps_left[g] / episode_steps
            glob[14] = diff / GRAPH_SCORE_CLIP
            glob[15] = 1.0


def _output(out, state: FootballState, shape: tuple[int, ...], dtype, name: str) -> np.ndarray:
    full = (state.n_games, state.n_controlled) + shape
    if out is None:
        return np.empty(full, dtype=dtype)
    if out.shape != full or out.dtype != dtype:
        raise ValueError(f"{name}: out must be a {np.dtype(dtype).name} array of shape {full}, "
                         f"got {out.dtype.name} {out.shape}")
    return out


def simple115v2(state: FootballState, out: np.ndarray | None = None) -> np.ndarray:
    """GRF's simple115v2 vector of every game and agent slot: float32 ``(B, C, 115)``.

    Args:
        state: the batch of games.
        out: optional float32 ``(B, C, 115)`` array to fill (and return) instead of a new one.
    """
    out = _output(out, state, (SIMPLE115_SIZE,), np.float32, "simple115v2")
    _simple115_kernel(state.pos, state.dir, state.present, state.ball, state.ball_dir,
                      state.owner_team, state.game_mode, state.controlled, out)
    return out


def extracted(state: FootballState, out: np.ndarray | None = None) -> np.ndarray:
    """GRF's super mini map of every game and agent slot: uint8 ``(B, C, 72, 96, 4)``.

    Args:
        state: the batch of games.
        out: optional uint8 ``(B, C, 72, 96, 4)`` array to fill (and return) instead of a new one.
    """
    out = _output(out, state, (SMM_HEIGHT, SMM_WIDTH, len(SMM_LAYERS)), np.uint8, "extracted")
    _extracted_kernel(state.pos, state.present, state.ball, state.controlled, out)
    return out


def graph(state: FootballState, out: np.ndarray | None = None,
          episode_steps: int = DEFAULT_EPISODE_STEPS) -> np.ndarray:
    """The graph view of every game and agent slot: float32 ``(B, C, 24, GRAPH_FEATURES)``.

    Args:
        state: the batch of games.
        out: optional float32 ``(B, C, 24, 16)`` array to fill (and return) instead of a new one.
        episode_steps: the scenario's episode length; the global node shows
            ``steps_left / episode_steps``.
    """
    if episode_steps <= 0:
        raise ValueError(f"episode_steps must be a positive number of steps, got {episode_steps}")
    out = _output(out, state, (GRAPH_NODES, GRAPH_FEATURES), np.float32, "graph")
    _graph_kernel(state.pos, state.dir, state.present, state.roles, state.ball, state.ball_dir,
                  state.owner_team, state.owner_player, state.score, state.steps_left,
                  state.controlled, float(episode_steps), out)
    return out


def raw(state: FootballState, game: int, slot: int) -> dict:
    """GRF's raw observation dict of agent slot ``slot`` in game ``game`` (arrays are copies)."""
    if not (0 <= game < state.n_games and 0 <= slot < state.n_controlled):
        raise ValueError(f"no game {game} / agent slot {slot}: the state holds games "
                         f"0..{state.n_games - 1} and slots 0..{state.n_controlled - 1}")
    obs = {
        "ball": state.ball[game].astype(np.float64),
        "ball_direction": state.ball_dir[game].astype(np.float64),
        "ball_rotation": state.ball_rot[game].astype(np.float64),
        "ball_owned_team": int(state.owner_team[game]),
        "ball_owned_player": int(state.owner_player[game]),
    }
    present = state.present[game]
    for name, first in (("left_team", 0), ("right_team", PLAYERS_PER_TEAM)):
        shown = np.flatnonzero(present[first:first + PLAYERS_PER_TEAM])
        team = slice(first, first + (shown[-1] + 1 if shown.size else 0))
        obs[name] = state.pos[game, team].astype(np.float64)
        obs[name + "_direction"] = state.dir[game, team].astype(np.float64)
        obs[name + "_active"] = present[team].copy()
        obs[name + "_roles"] = state.roles[game, team].astype(np.int64)
        obs[name + "_tired_factor"] = state.tired[game, team].astype(np.float64)
        obs[name + "_yellow_card"] = state.yellow[game, team].copy()
    obs["active"] = int(state.controlled[game, slot])
    obs["designated"] = int(state.designated[game])
    obs["game_mode"] = int(state.game_mode[game])
    obs["score"] = state.score[game].astype(np.int64)
    obs["steps_left"] = int(state.steps_left[game])
    obs["sticky_actions"] = state.sticky[game, slot].astype(np.uint8)
    return {key: obs[key] for key in RAW_KEYS}


# ---------------------------------------------------------------- reference builders (one raw dict)


def simple115v2_from_raw(obs: dict) -> np.ndarray:
    """GRF's simple115v2 vector (float32 (115,)) from one raw observation dict."""
    blocks = []
    for key in ("left_team", "left_team_direction", "right_team", "right_team_direction"):
        values = list(np.asarray(obs[key], dtype=np.float64).reshape(-1))
        blocks += values + [-1.0] * (2 * PLAYERS_PER_TEAM - len(values))
    blocks += list(obs["ball"]) + list(obs["ball_direction"])
    owner = [0.0, 0.0, 0.0]
    owner[int(obs["ball_owned_team"]) + 1] = 1.0
    active = [0.0] * PLAYERS_PER_TEAM
    if obs["active"] != -1:
        active[int(obs["active"])] = 1.0
    mode = [0.0] * 7
    mode[int(obs["game_mode"])] = 1.0
    return np.array(blocks + owner + active + mode, dtype=np.float32)


def _smm_pixel(x: float, y: float) -> tuple[int, int]:
    col = int((x + 1.0) / 2.0 * SMM_WIDTH)
    row = int((y + SMM_Y_HALF) / (2.0 * SMM_Y_HALF) * SMM_HEIGHT)
    return min(max(row, 0), SMM_HEIGHT - 1), min(max(col, 0), SMM_WIDTH - 1)


def extracted_from_raw(obs: dict) -> np.ndarray:
    """GRF's super mini map (uint8 (72, 96, 4)) from one raw observation dict."""
    frame = np.zeros((SMM_HEIGHT, SMM_WIDTH, len(SMM_LAYERS)), dtype=np.uint8)
    points = [
        [tuple(p) for p in np.asarray(obs["left_team"]).reshape(-1, 2)],
        [tuple(p) for p in np.asarray(obs["right_team"]).reshape(-1, 2)],
        [tuple(obs["ball"][:2])],
        [tuple(obs["left_team"][obs["active"]])] if obs["active"] != -1 else [],
    ]
    for layer, layer_points in enumerate(points):
        for x, y in layer_points:
            frame[_smm_pixel(float(x), float(y)) + (layer,)] = SMM_MARK
    return frame


def graph_from_raw(obs: dict, episode_steps: int = DEFAULT_EPISODE_STEPS) -> np.ndarray:
    """The graph view (float32 (24, 16)) from one raw observation dict (see :func:`graph`)."""
    nodes = np.zeros((GRAPH_NODES, GRAPH_FEATURES), dtype=np.float64)
    column = {name: i for i, name in enumerate(GRAPH_FEATURE_NAMES)}
    ball = np.asarray(obs["ball"], dtype=np.float64)
    for team, prefix in enumerate(("left_team", "right_team")):
        for i, (x, y) in enumerate(np.asarray(obs[prefix], dtype=np.float64).reshape(-1, 2)):
            if not obs[prefix + "_active"][i]:
                continue
            row = nodes[team * PLAYERS_PER_TEAM + i]
            row[column["x"]], row[column["y"]] = x, y
            dx, dy = obs[prefix + "_direction"][i]
            row[column["dx"]] = dx * GRAPH_DIRECTION_SCALE
            row[column["dy"]] = dy * GRAPH_DIRECTION_SCALE
            row[column["left_team" if team == 0 else "right_team"]] = 1.0
            row[column["active"]] = float(team == 0 and i == obs["active"])
            row[column["owns_ball"]] = float(obs["ball_owned_team"] == team and obs["ball_owned_player"] == i)
            row[column["ball_distance"]] = np.hypot(x - ball[0], y - ball[1])
            row[column["goalkeeper"]] = float(obs[prefix + "_roles"][i] == GK)
            row[column["present"]] = 1.0
    row = nodes[BALL_NODE]
    row[column["x"]], row[column["y"]], row[column["z"]] = ball
    row[column["dx"]] = obs["ball_direction"][0] * GRAPH_DIRECTION_SCALE
    row[column["dy"]] = obs["ball_direction"][1] * GRAPH_DIRECTION_SCALE
    row[column["is_ball"]] = 1.0
    row[column["owns_ball"]] = {-1: 0.0, 0: 1.0, 1: -1.0}[int(obs["ball_owned_team"])]
    row[column["present"]] = 1.0
    row = nodes[GLOBAL_NODE]
    row[column["is_global"]] = 1.0
    row[column["steps_left"]] = obs["steps_left"] / episode_steps
    left, right = obs["score"]
    difference = np.clip(int(left) - int(right), -GRAPH_SCORE_CLIP, GRAPH_SCORE_CLIP)
    row[column["score_difference"]] = difference / GRAPH_SCORE_CLIP
    row[column["present"]] = 1.0
    return nodes.astype(np.float32)


# ---------------------------------------------------------------- spaces


def observation_space(representation: str, n_left: int, n_right: int) -> gym.spaces.Space:
    """The observation space of one controlled player for a scenario with these team sizes."""
    if representation not in REPRESENTATIONS:
        raise ValueError(f"unknown representation {representation!r}; allowed: {', '.join(REPRESENTATIONS)}")
    if not (1 <= n_left <= PLAYERS_PER_TEAM and 0 <= n_right <= PLAYERS_PER_TEAM):
        raise ValueError(f"team sizes must be 1..{PLAYERS_PER_TEAM} (left) and 0..{PLAYERS_PER_TEAM} "
                         f"(right), got {n_left} and {n_right}")
    if representation == "simple115v2":
        return gym.spaces.Box(-np.inf, np.inf, (SIMPLE115_SIZE,), dtype=np.float32)
    if representation == "extracted":
        return gym.spaces.Box(0, 255, (SMM_HEIGHT, SMM_WIDTH, len(SMM_LAYERS)), dtype=np.uint8)
    if representation == "graph":
        return gym.spaces.Box(-np.inf, np.inf, (GRAPH_NODES, GRAPH_FEATURES), dtype=np.float32)

    def vector(n: int, *shape: int) -> gym.spaces.Box:
        return gym.spaces.Box(-np.inf, np.inf, (n,) + shape, dtype=np.float64)

    spaces: dict[str, gym.spaces.Space] = {
        "ball": vector(3),
        "ball_direction": vector(3),
        "ball_rotation": vector(3),
        "ball_owned_team": gym.spaces.Discrete(3, start=-1),
        "ball_owned_player": gym.spaces.Discrete(PLAYERS_PER_TEAM + 1, start=-1),
    }
    for name, n in (("left_team", n_left), ("right_team", n_right)):
        spaces[name] = vector(n, 2)
        spaces[name + "_direction"] = vector(n, 2)
        spaces[name + "_active"] = gym.spaces.Box(0, 1, (n,), dtype=np.bool_)
        spaces[name + "_roles"] = gym.spaces.Box(0, 9, (n,), dtype=np.int64)
        spaces[name + "_tired_factor"] = gym.spaces.Box(0.0, 1.0, (n,), dtype=np.float64)
        spaces[name + "_yellow_card"] = gym.spaces.Box(0, 1, (n,), dtype=np.bool_)
    spaces["active"] = gym.spaces.Discrete(n_left + 1, start=-1)
    spaces["designated"] = gym.spaces.Discrete(n_left + 1, start=-1)
    spaces["game_mode"] = gym.spaces.Discrete(7)
    spaces["score"] = gym.spaces.Box(0, _INT_MAX, (2,), dtype=np.int64)
    spaces["steps_left"] = gym.spaces.Discrete(_INT_MAX)
    spaces["sticky_actions"] = gym.spaces.MultiBinary(N_STICKY)
    return gym.spaces.Dict({key: spaces[key] for key in RAW_KEYS})
