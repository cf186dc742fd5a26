"""The built-in football engine: GRF-like physics, rules and AI over a batch of games, in Numba.

:class:`FootballEngine` steps ``n_games`` games of one :class:`~envs.football.scenarios.Scenario`
together; the state lives in a :class:`~envs.football.state.FootballState` (the contract with the
observation builders and the environments). All per-step work is one compiled kernel looping over
the games; each game draws its randomness from its own splitmix64 stream (``state.rng``), so a game's
trajectory depends only on its seed and its actions: a batch of N games equals N single games.

One step is 0.1 s of game time and does, per game:

1. the agents' actions: sticky flags (8 directions, sprint, dribble) of each agent slot, the move
   direction of its player, kicks (short pass on the ground, long and high lofted passes, shots) when
   the player has the ball, sliding tackles and pressure (short pass without the ball) otherwise;
2. the built-in AI for every other player of both teams: the keeper holds his goal line and dives
   at shots, the nearest player presses the ball (standing tackles, the odd slide), a second one
   covers, the others keep a formation that shifts with the ball; a carrier dribbles at goal, passes
   when pressed or when a team-mate is better placed and shoots in range. ``difficulty`` (right team;
   the left team's AI players use GRF's left difficulty 1.0) sets a skill ``0.35 + 0.65 * difficulty``
   that scales reaction, speed, tackling, shooting and passing accuracy, keeping and decision
   quality; lazy opponents (``lazy_opponents``) stand still but for their keeper;
3. players move with limited acceleration (run 0.011, sprint 0.016 units per step, slower with the
   ball, when dribbling and when tired; sprinting tires);
4. tackles, then the ball: carried just ahead of its owner, or free with ground friction, gravity,
   bounces and air drag; players on the ball's path take it (the first one reached, with a chance
   that falls with the ball's speed), keepers save shots with a reach and chance set by their skill;
5. goals (the ball crossing x = +-1 with |y| < 0.044 under the bar), balls out of play, the end
   rules of academy scenarios, and in full games the restarts: a kick-off after a goal (the team
   that conceded kicks off), throw-ins, goal kicks, corners and free kicks (fouls from slides), with
   ``game_mode`` set until the taker plays the ball;
6. control switching: agent slot 0 controls the designated player (the ball owner when the left
   team has the ball, else the receiver of a left pass in flight, else the left outfield player
   nearest the ball); further slots take the next-nearest left players.

Units are GRF's: x in [-1, 1], y in [-0.42, 0.42], ball height z in the same units (the bar at
0.047), speeds per step. ``ball_rot`` stays zero (no spin model). Beside the shared state the engine
keeps private per-game arrays (an :class:`EngineWork`: last touch, pass receiver, kick cool-down,
restart timer, facing, AI intents): copying a ``FootballState`` does not copy a game in progress.

Not modelled: offsides, player collisions, red cards, penalties, GRF's alternating kick-off between
episodes (the left team always kicks off first).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, typeof

from envs.football.scenarios import LEFT_TEAM_DIFFICULTY, Scenario, scenario as _scenario
from envs.football.state import (CORNER, ENDED_OUT_OF_PLAY, ENDED_POSSESSION_CHANGE, ENDED_SCORE, ENDED_TIME,
                                 FREE_KICK, GK, GOAL_KICK, KICK_OFF, NORMAL, PLAYERS_PER_TEAM, RUNNING, SLOTS,
                                 THROW_IN, B, FootballState, allocate_fields)

# GRF's default action set, in its order
ACTIONS = ("idle", "left", "top_left", "top", "top_right", "right", "bottom_right", "bottom", "bottom_left",
           "long_pass", "high_pass", "short_pass", "shot", "sprint", "release_direction", "release_sprint",
           "sliding", "dribble", "release_dribble")
N_ACTIONS = len(ACTIONS)
IDLE, LONG_PASS, HIGH_PASS, SHORT_PASS, SHOT, SPRINT, RELEASE_DIRECTION, RELEASE_SPRINT, SLIDING, DRIBBLE, \
    RELEASE_DRIBBLE = 0, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18
STICKY_SPRINT, STICKY_DRIBBLE = 8, 9

# -- physics (pitch units, steps of 0.1 s) -------------------------------------------------------
RUN_SPEED = 0.011
SPRINT_INTENT = 1.45  # intent magnitude of a sprint: 0.016 per step
KEEPER_DIVE = 1.6  # intent magnitude of a keeper diving at a shot
ACCELERATION = 0.0032  # the most a player's velocity changes in one step
CARRY_SPEED = 0.93  # speed factor with the ball
DRIBBLE_SPEED = 0.8  # further factor with the dribble flag
CARRY_OFFSET = 0.011  # the ball sits this far ahead of its owner (dribbling: closer)
DRIBBLE_OFFSET = 0.008
CONTROL_RADIUS = 0.021  # a player reaches a ball passing this close
CONTROL_HEIGHT = 0.025  # ... and this low
KEEPER_HEIGHT = 0.05  # keepers reach higher balls
KEEPER_REACH, KEEPER_REACH_SKILL = 0.018, 0.014  # how far a keeper gets to a shot: base + skill part
TACKLE_RADIUS = 0.022
SLIDE_STEPS = 4
SLIDE_SPEED = 0.02
SLIDE_RADIUS = 0.03
GROUND_FRICTION = 0.965  # rolling ball: v <- v * friction - decel
GROUND_DECEL = 0.0003
AIR_DRAG = 0.995
GRAVITY = 0.0019  # 9.8 m/s^2 in units per step^2
BOUNCE = 0.45
GOAL_HALF_WIDTH = 0.044
GOAL_HEIGHT = 0.047
PITCH_HALF_WIDTH = 0.42
PLAYER_X_LIMIT = 1.1  # players may step a little off the pitch
PLAYER_Y_LIMIT = 0.5
KICK_COOLDOWN = 4  # steps before a kicker may take the ball again
RESTART_DELAY = 8  # steps an AI taker waits before a restart kick
AGENT_RESTART_PATIENCE = 50  # steps the AI waits for an agent taker before kicking for him
TIRE_SPRINT, RECOVER = 0.003, 0.0015

# diagonals are unit vectors; "top" is -y
DIRECTIONS = np.array([[-1.0, 0.0], [-1.0, -1.0], [0.0, -1.0], [1.0, -1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0],
                       [-1.0, 1.0]])
DIRECTIONS /= np.sqrt((DIRECTIONS ** 2).sum(axis=1, keepdims=True))

# What a game's play is about, beside the shared state: one record per game (a structured array is one
# array to the kernels, where a field per array would cost reference counting on every helper call).
PLAY = np.dtype([
    ("last_touch", np.int32),  # team that touched the ball last (-1 nobody)
    ("kicker", np.int32),  # player who kicked it last (-1 nobody): he may not retake it during the cooldown
    ("cooldown", np.int32),  # steps before the kicker may take the ball again
    ("pass_target", np.int32),  # receiver of the pass in flight (-1 none)
    ("shot", np.int32),  # team whose shot is in flight (-1 none)
    ("restart_t", np.int32),  # steps since the restart began
    ("hold", np.int32),  # steps the owner has held the ball
    ("last_owner", np.int32),  # team that owned the ball last (-1 nobody)
], align=True)

# The engine's private per-game arrays, defined once as STATE_FIELDS defines the shared ones.
WORK_FIELDS = {
    "play": (PLAY, (B,), 0, "the PLAY record of each game"),
    "slide": (np.int32, (B, SLOTS), 0, "steps of a sliding tackle left"),
    "facing": (np.float64, (B, SLOTS, 2), 0, "the way each player faces (unit vector)"),
    "intent": (np.float64, (B, SLOTS, 2), 0, "the movement each player wants (1: run, SPRINT_INTENT: sprint)"),
}


class EngineWork(NamedTuple("EngineWorkFields", [(name, np.ndarray) for name in WORK_FIELDS])):
    """The arrays of :data:`WORK_FIELDS`, game first: what the engine keeps beside the state."""

    __slots__ = ()


class Rules(NamedTuple):
    """A scenario's numbers: plain values, passed to the kernels' helpers without reference counting."""

    skill_left: float
    skill_right: float
    end_on_score: bool
    end_on_out_of_play: bool
    end_on_possession_change: bool
    full_game: bool
    episode_steps: int
    initial_mode: int
    initial_owner: int  # left player on the ball at the start, -1 nobody
    ball_x: float
    ball_y: float


class Setup(NamedTuple):
    """What every game of an engine shares: the scenario's start, formations and rules."""

    init_pos: np.ndarray  # float64 (22, 2) kick-off positions
    init_present: np.ndarray  # bool (22,)
    init_roles: np.ndarray  # int8 (22,)
    home: np.ndarray  # float64 (22, 2) formation spots
    lazy: np.ndarray  # bool (22,) players that stand still
    formations: np.ndarray  # float64 (2, 22, 2) positions at a kick-off of the left [0] or right [1] team
    rules: Rules


# -- random numbers ------------------------------------------------------------------------------
@njit(cache=True, fastmath=True)
def _uniform(rng, g):
    """splitmix64: the next uniform in [0, 1) of game ``g``'s stream."""
    z = rng[g] + np.uint64(0x9E3779B97F4A7C15)
    rng[g] = z
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, fastmath=True)
def _normal(rng, g):
    u1 = _uniform(rng, g)
    u2 = _uniform(rng, g)
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


# -- small geometry ------------------------------------------------------------------------------
@njit(cache=True, fastmath=True)
def _seg_dist(px, py, ax, ay, bx, by):
    """Distance from (px, py) to the segment a-b and the segment parameter of the closest point."""
    dx, dy = bx - ax, by - ay
    dd = dx * dx + dy * dy
    t = 0.0
    if dd > 1e-14:
        t = ((px - ax) * dx + (py - ay) * dy) / dd
        t = min(max(t, 0.0), 1.0)
    cx, cy = ax + t * dx - px, ay + t * dy - py
    return math.sqrt(cx * cx + cy * cy), t


@njit(cache=True, fastmath=True)
def _slot_team(p):
    return 0 if p < PLAYERS_PER_TEAM else 1


@njit(cache=True, fastmath=True)
def _owner_slot(owner_team, owner_player, g):
    if owner_team[g] < 0:
        return -1
    return owner_team[g] * PLAYERS_PER_TEAM + owner_player[g]


@njit(cache=True, fastmath=True)
def _controller(controlled, g, p):
    """The agent slot that controls player slot ``p`` of game ``g`` (-1: the AI runs him)."""
    if p >= PLAYERS_PER_TEAM:
        return -1
    for c in range(controlled.shape[1]):
        if controlled[g, c] == p:
            return c
    return -1


@njit(cache=True, fastmath=True)
def _openness(pos, present, g, p, j, team):
    """How far (capped at 0.1) the nearest opponent is from the line of a pass p -> j."""
    best = 0.1
    lo = PLAYERS_PER_TEAM if team == 0 else 0
    for q in range(lo, lo + PLAYERS_PER_TEAM):
        if present[g, q]:
            d, _ = _seg_dist(pos[g, q, 0], pos[g, q, 1], pos[g, p, 0], pos[g, p, 1], pos[g, j, 0], pos[g, j, 1])
            if d < best:
                best = d
    return best


@njit(cache=True, fastmath=True)
def _choose_receiver(pos, present, roles, rng, g, p, dirx, diry, prefer, noise):
    """The team-mate of ``p`` best placed for a pass in direction (dirx, diry) (unit; zero: any),
    preferring distance ``prefer``; ``noise`` blurs the judgement. -1 when there is nobody."""
    team = _slot_team(p)
    lo = team * PLAYERS_PER_TEAM
    best, best_j = -1e9, -1
    for j in range(lo, lo + PLAYERS_PER_TEAM):
        if j == p or not present[g, j]:
            continue
        vx, vy = pos[g, j, 0] - pos[g, p, 0], pos[g, j, 1] - pos[g, p, 1]
        d = math.sqrt(vx * vx + vy * vy)
        if d < 0.03:
            continue
        score = -1.5 * abs(d - prefer) + 2.5 * _openness(pos, present, g, p, j, team) / 0.1
        if dirx != 0.0 or diry != 0.0:
            cos = (vx * dirx + vy * diry) / d
            score += 2.0 * cos
            if cos < 0.25:
                score -= 3.0
        if roles[g, j] == GK:
            score -= 2.0
        if noise > 0.0:
            score += noise * _normal(rng, g)
        if score > best:
            best, best_j = score, j
    return best_j


# -- kicks ---------------------------------------------------------------------------------------
@njit(cache=True, fastmath=True)
def _release(owner_team, owner_player, game_mode, play, g, p):
    """The ball leaves player ``p``: nobody owns it, he cannot retake it at once, play is on."""
    owner_team[g] = -1
    owner_player[g] = -1
    play[g].kicker = p
    play[g].cooldown = KICK_COOLDOWN
    play[g].last_touch = _slot_team(p)
    play[g].hold = 0
    play[g].restart_t = 0
    game_mode[g] = NORMAL


@njit(cache=True, fastmath=True)
def _take(owner_team, owner_player, play, g, p):
    """Player ``p`` wins the ball: his team owns it, no pass or shot is in flight any more."""
    team = _slot_team(p)
    owner_team[g] = team
    owner_player[g] = p - team * PLAYERS_PER_TEAM
    play[g].last_touch = team
    play[g].pass_target = -1
    play[g].shot = -1
    play[g].hold = 0


@njit(cache=True, fastmath=True)
def _slide_knocks_loose(play, slide, g, q):
    """Player ``q``'s slide sends the ball on, loose: his touch, nobody's pass or shot; the slide ends."""
    play[g].last_touch = _slot_team(q)
    play[g].pass_target = -1
    play[g].shot = -1
    play[g].kicker = q
    play[g].cooldown = 2
    slide[g, q] = 0


@njit(cache=True, fastmath=True)
def _pass(pos, vel, present, roles, tired, ball, ball_dir, owner_team, owner_player, game_mode, play, rng, g, p,
          kind, dirx, diry, accuracy, decision_noise):
    """Player ``p`` passes (SHORT_PASS on the ground, LONG_PASS / HIGH_PASS lofted) to the team-mate
    best placed in direction (dirx, diry); ``accuracy`` in (0, 1] scales the error."""
    prefer = 0.22 if kind == SHORT_PASS else 0.5
    j = _choose_receiver(pos, present, roles, rng, g, p, dirx, diry, prefer, decision_noise)
    to_keeper = j >= 0 and roles[g, j] == GK
    if to_keeper:  # a back pass: along the ground, to the keeper's feet on the side away from goal
        kind = SHORT_PASS
        dx, dy = ball[g, 0] - pos[g, j, 0], ball[g, 1] - pos[g, j, 1]
        d = max(math.sqrt(dx * dx + dy * dy), 1e-6)
        tx, ty = pos[g, j, 0] + dx / d * 0.03, pos[g, j, 1] + dy / d * 0.03
    elif j >= 0:
        # lead the receiver by where he runs while the ball travels
        dx, dy = pos[g, j, 0] - ball[g, 0], pos[g, j, 1] - ball[g, 1]
        t = math.sqrt(dx * dx + dy * dy) / (0.035 if kind == SHORT_PASS else 0.03)
        t = min(t, 12.0)
        tx, ty = pos[g, j, 0] + vel[g, j, 0] * t, pos[g, j, 1] + vel[g, j, 1] * t
    else:  # nobody there: play it into space
        ux, uy = dirx, diry
        if ux == 0.0 and uy == 0.0:
            ux = 1.0 if p < PLAYERS_PER_TEAM else -1.0
        tx, ty = ball[g, 0] + ux * 0.25, ball[g, 1] + uy * 0.25
    dx, dy = tx - ball[g, 0], ty - ball[g, 1]
    d = max(math.sqrt(dx * dx + dy * dy), 1e-6)
    sigma = (0.025 + 0.06 * tired[g, p]) / accuracy
    ang = math.atan2(dy, dx) + sigma * _normal(rng, g)
    d *= 1.0 + 0.5 * sigma * _normal(rng, g)
    if kind == SHORT_PASS:
        speed = min(max(d * (1.0 - GROUND_FRICTION) + 0.022, 0.025), 0.04 if to_keeper else 0.065)
        vz = 0.0
    else:
        d *= 0.85  # land short of the receiver and let it run on to him
        if kind == LONG_PASS:
            speed = min(max(0.02 + 0.035 * d, 0.025), 0.055)
        else:
            speed = min(max(0.015 + 0.025 * d, 0.02), 0.045)
        vz = GRAVITY * (d / speed) * 0.5
    ball_dir[g, 0] = speed * math.cos(ang)
    ball_dir[g, 1] = speed * math.sin(ang)
    ball_dir[g, 2] = vz
    _release(owner_team, owner_player, game_mode, play, g, p)
    play[g].pass_target = j
    play[g].shot = -1


@njit(cache=True, fastmath=True)
def _shoot(tired, ball, ball_dir, owner_team, owner_player, game_mode, play, rng, g, p, aim_y, accuracy):
    """Player ``p`` shoots at (goal line, ``aim_y``); the error grows with distance and tiredness."""
    s = 1.0 if p < PLAYERS_PER_TEAM else -1.0
    dx, dy = s * 1.02 - ball[g, 0], aim_y - ball[g, 1]
    d = math.sqrt(dx * dx + dy * dy)
    sigma = (0.012 + 0.07 * d) * (1.0 + tired[g, p]) / accuracy
    ang = math.atan2(dy, dx) + sigma * _normal(rng, g)
    speed = 0.055 + 0.025 * min(d, 1.0)
    ball_dir[g, 0] = speed * math.cos(ang)
    ball_dir[g, 1] = speed * math.sin(ang)
    ball_dir[g, 2] = 0.002 + _uniform(rng, g) * 0.012 * d / accuracy
    _release(owner_team, owner_player, game_mode, play, g, p)
    play[g].pass_target = -1
    play[g].shot = _slot_team(p)


@njit(cache=True, fastmath=True)
def _aim(pos, present, roles, rng, g, p, noise):
    """AI shot target y: the side of the goal away from the keeper (with some misjudgement)."""
    lo = PLAYERS_PER_TEAM if p < PLAYERS_PER_TEAM else 0
    ky = 0.0
    for q in range(lo, lo + PLAYERS_PER_TEAM):
        if present[g, q] and roles[g, q] == GK:
            ky = pos[g, q, 1]
            break
    side = -1.0 if ky > pos[g, p, 1] * 0.2 else 1.0
    if _uniform(rng, g) < noise:
        side = -side
    return side * (0.022 + 0.01 * _uniform(rng, g))


# -- restarts ------------------------------------------------------------------------------------
@njit(cache=True, fastmath=True)
def _restart(game_mode, play, g, mode, team):
    """Enter restart ``mode`` with ``team`` on the ball: no pass, shot, kicker or hold in flight."""
    game_mode[g] = mode
    play[g].restart_t = 0
    play[g].pass_target = -1
    play[g].shot = -1
    play[g].hold = 0
    play[g].kicker = -1
    play[g].last_owner = team


@njit(cache=True, fastmath=True)
def _kick_off(pos, vel, ball, ball_dir, owner_team, owner_player, game_mode, play, slide, intent, formations, g,
              team):
    """Everybody back to the kick-off formation of ``team`` (which kicks off)."""
    for p in range(SLOTS):
        pos[g, p, 0] = formations[team, p, 0]
        pos[g, p, 1] = formations[team, p, 1]
        vel[g, p, 0] = vel[g, p, 1] = 0.0
        intent[g, p, 0] = intent[g, p, 1] = 0.0
        slide[g, p] = 0
    ball[g, 0] = ball[g, 1] = ball[g, 2] = 0.0
    ball_dir[g, 0] = ball_dir[g, 1] = ball_dir[g, 2] = 0.0
    owner_team[g] = team
    owner_player[g] = 1
    _restart(game_mode, play, g, KICK_OFF, team)


@njit(cache=True, fastmath=True)
def _set_piece(pos, vel, present, roles, ball, ball_dir, owner_team, owner_player, game_mode, play, slide, g,
               mode, team, x, y):
    """A restart (throw-in, goal kick, corner, free kick) for ``team`` with the ball at (x, y)."""
    ball[g, 0], ball[g, 1], ball[g, 2] = x, y, 0.0
    ball_dir[g, 0] = ball_dir[g, 1] = ball_dir[g, 2] = 0.0
    lo = team * PLAYERS_PER_TEAM
    taker, best = -1, 1e9
    for p in range(lo, lo + PLAYERS_PER_TEAM):
        if not present[g, p]:
            continue
        is_gk = roles[g, p] == GK
        if (mode == GOAL_KICK) != is_gk:
            continue
        d = (pos[g, p, 0] - x) ** 2 + (pos[g, p, 1] - y) ** 2
        if d < best:
            best, taker = d, p
    if taker < 0:  # no keeper for a goal kick (or only a keeper): anybody
        for p in range(lo, lo + PLAYERS_PER_TEAM):
            if present[g, p]:
                d = (pos[g, p, 0] - x) ** 2 + (pos[g, p, 1] - y) ** 2
                if d < best:
                    best, taker = d, p
    pos[g, taker, 0], pos[g, taker, 1] = x, y
    vel[g, taker, 0] = vel[g, taker, 1] = 0.0
    slide[g, taker] = 0
    # opponents give the taker room
    olo = PLAYERS_PER_TEAM - lo
    for q in range(olo, olo + PLAYERS_PER_TEAM):
        if present[g, q]:
            dx, dy = pos[g, q, 0] - x, pos[g, q, 1] - y
            d = math.sqrt(dx * dx + dy * dy)
            if d < 0.08:
                if d < 1e-6:
                    dx, dy, d = (-1.0 if team == 0 else 1.0), 0.0, 1.0
                pos[g, q, 0] = x + dx / d * 0.08
                pos[g, q, 1] = y + dy / d * 0.08
    owner_team[g] = team
    owner_player[g] = taker - lo
    _restart(game_mode, play, g, mode, team)


# -- the AI --------------------------------------------------------------------------------------
@njit(cache=True, fastmath=True)
def _intercept(pos, ball, ball_dir, g, p, speed):
    """Where player ``p`` (running at ``speed``) can first meet the free ball."""
    bx, by, bz = ball[g, 0], ball[g, 1], ball[g, 2]
    vx, vy, vz = ball_dir[g, 0], ball_dir[g, 1], ball_dir[g, 2]
    px, py = pos[g, p, 0], pos[g, p, 1]
    for t in range(1, 30):
        if bz > 0.0 or vz > 0.0:
            vx *= AIR_DRAG
            vy *= AIR_DRAG
            vz -= GRAVITY
            bz += vz
            if bz < 0.0:
                bz = 0.0
                vz = 0.0
        else:
            v = math.sqrt(vx * vx + vy * vy)
            if v > 1e-9:
                f = max(v * GROUND_FRICTION - GROUND_DECEL, 0.0) / v
                vx *= f
                vy *= f
        bx += vx
        by += vy
        if bz < CONTROL_HEIGHT and math.sqrt((bx - px) ** 2 + (by - py) ** 2) <= speed * t + CONTROL_RADIUS:
            return bx, by
        if vx * vx + vy * vy < 1e-8 and bz <= 0.0:
            return bx, by
    return bx, by


@njit(cache=True, fastmath=True)
def _go_to(intent, g, p, px, py, tx, ty, magnitude, arrive):
    """Intent towards (tx, ty); within ``arrive`` of it the player slows down."""
    dx, dy = tx - px, ty - py
    d = math.sqrt(dx * dx + dy * dy)
    if d < 1e-6:
        intent[g, p, 0] = intent[g, p, 1] = 0.0
        return
    m = magnitude
    if d < arrive:
        m *= d / arrive
    intent[g, p, 0] = dx / d * m
    intent[g, p, 1] = dy / d * m


@njit(cache=True, fastmath=True)
def _formation(pos, home, ball, intent, g, p, team, attacking, role):
    """Keep the formation spot shifted with the ball (in the team's own frame, attacking +x)."""
    s = 1.0 if team == 0 else -1.0
    hx, hy = s * home[p, 0], s * home[p, 1]
    bx, by = s * ball[g, 0], s * ball[g, 1]
    if attacking:
        tx = 0.5 * hx + 0.5 * bx + (0.05 if role <= 3 else 0.2)
    else:
        tx = 0.6 * hx + 0.4 * bx - 0.05
        tx = min(tx, bx - 0.04)  # goal side of the ball
    tx = min(max(tx, -0.92), 0.85)
    ty = min(max(0.8 * hy + 0.25 * by, -0.38), 0.38)
    _go_to(intent, g, p, pos[g, p, 0], pos[g, p, 1], s * tx, s * ty, 1.0 if attacking else 1.15, 0.06)


@njit(cache=True, fastmath=True)
def _keeper(pos, vel, present, roles, ball, ball_dir, owner_team, owner_player, game_mode, play, rng, intent, tired,
            g, p, team, skill, own):
    """Keeper: hold the goal line between ball and goal, dive at shots, come for close loose balls,
    and distribute the ball after holding it a moment."""
    s = 1.0 if team == 0 else -1.0
    gx = -s  # own goal line
    px, py = pos[g, p, 0], pos[g, p, 1]
    if own == p:
        intent[g, p, 0] = intent[g, p, 1] = 0.0
        if play[g].hold > 6 or (game_mode[g] != NORMAL and play[g].restart_t >= RESTART_DELAY):
            _pass(pos, vel, present, roles, tired, ball, ball_dir, owner_team, owner_player, game_mode, play, rng,
                  g, p, LONG_PASS, s, 0.0, 0.6 + 0.4 * skill, 0.6 * (1.0 - skill))
        return
    bx, by = ball[g, 0], ball[g, 1]
    vx, vy = ball_dir[g, 0], ball_dir[g, 1]
    dgx, dgy = bx - gx, by
    dball = math.sqrt(dgx * dgx + dgy * dgy)
    # default: stand on the line from goal centre to ball, further out as the ball comes closer
    r = 0.02 + 0.05 * min(max(1.0 - dball / 0.6, 0.0), 1.0) * (0.5 + 0.5 * skill)
    tx = gx + dgx / max(dball, 1e-6) * r
    ty = dgy / max(dball, 1e-6) * r
    ty = min(max(ty, -GOAL_HALF_WIDTH - 0.005), GOAL_HALF_WIDTH + 0.005)
    m, arrive = 1.2, 0.03
    if own < 0 and vx * s < -0.015 and abs(vx) > 1e-9:  # ball flying at our goal: get across to its line
        t = (px - bx) / vx
        yp = by + vy * t
        if 0.0 <= t < 25.0 and abs(yp) < GOAL_HALF_WIDTH + 0.04:
            tx, ty, m, arrive = px, yp, KEEPER_DIVE * (0.75 + 0.25 * skill), 0.01
    elif own < 0 and play[g].pass_target == p:  # a back pass: meet it
        tx, ty = _intercept(pos, ball, ball_dir, g, p, RUN_SPEED)
        m, arrive = 1.0, 0.02
    elif own < 0 and dball < 0.2 and ball[g, 2] < KEEPER_HEIGHT:  # loose ball near goal: claim it
        # only if no opponent is clearly closer
        dme = math.sqrt((bx - px) ** 2 + (by - py) ** 2)
        olo = PLAYERS_PER_TEAM * (1 - team)
        closest = 1e9
        for q in range(olo, olo + PLAYERS_PER_TEAM):
            if present[g, q]:
                dq = math.sqrt((bx - pos[g, q, 0]) ** 2 + (by - pos[g, q, 1]) ** 2)
                closest = min(closest, dq)
        if dme < closest + 0.02:
            tx, ty = _intercept(pos, ball, ball_dir, g, p, RUN_SPEED * SPRINT_INTENT)
            m, arrive = SPRINT_INTENT, 0.02
    if s * (tx - gx) < 0.008:  # never behind the goal line
        tx = gx + s * 0.008
    _go_to(intent, g, p, px, py, tx, ty, m, arrive)


@njit(cache=True, fastmath=True)
def _carrier(pos, vel, present, roles, tired, ball, ball_dir, owner_team, owner_player, game_mode, play, rng,
             intent, g, p, team, skill):
    """The AI player with the ball: restart kicks, shots in range, passes when pressed or when a
    team-mate is better placed, otherwise a dribble at goal round the nearest opponent."""
    s = 1.0 if team == 0 else -1.0
    px, py = pos[g, p, 0], pos[g, p, 1]
    mode = game_mode[g]
    noise = 0.8 * (1.0 - skill)
    accuracy = 0.6 + 0.4 * skill
    if mode != NORMAL:
        intent[g, p, 0] = intent[g, p, 1] = 0.0
        if play[g].restart_t < RESTART_DELAY:
            return
        if mode == CORNER:  # cross into the box
            dx, dy = s * 0.88 - px, -py
            d = max(math.sqrt(dx * dx + dy * dy), 1e-6)
            _pass(pos, vel, present, roles, tired, ball, ball_dir, owner_team, owner_player, game_mode, play, rng,
                  g, p, HIGH_PASS, dx / d, dy / d, accuracy, noise)
        elif mode == GOAL_KICK:
            _pass(pos, vel, present, roles, tired, ball, ball_dir, owner_team, owner_player, game_mode, play, rng,
                  g, p, LONG_PASS, s, 0.0, accuracy, noise)
        elif mode == FREE_KICK and abs(s * 1.0 - px) < 0.3 and abs(py) < 0.2:
            _shoot(tired, ball, ball_dir, owner_team, owner_player, game_mode, play, rng, g, p,
                   _aim(pos, present, roles, rng, g, p, noise), accuracy)
        else:
            _pass(pos, vel, present, roles, tired, ball, ball_dir, owner_team, owner_player, game_mode, play, rng,
                  g, p, SHORT_PASS, 0.0, 0.0, accuracy, noise)
        return
    gx = s * 1.0
    dgoal = math.sqrt((gx - px) ** 2 + py * py)
    # nearest opponent, and the nearest one ahead (between me and the goal)
    olo = PLAYERS_PER_TEAM * (1 - team)
    dop, ahead, ax, ay = 1e9, 1e9, 0.0, 0.0
    for q in range(olo, olo + PLAYERS_PER_TEAM):
        if not present[g, q]:
            continue
        dx, dy = pos[g, q, 0] - px, pos[g, q, 1] - py
        d = math.sqrt(dx * dx + dy * dy)
        dop = min(dop, d)
        if dx * s > -0.01 and roles[g, q] != GK and d < ahead:
            ahead, ax, ay = d, dx, dy
    u = _uniform(rng, g)
    if dgoal < 0.2 + 0.06 * skill or (dgoal < 0.42 and abs(py) < 0.25 and u < 0.04 + 0.1 * skill):
        _shoot(tired, ball, ball_dir, owner_team, owner_player, game_mode, play, rng, g, p,
               _aim(pos, present, roles, rng, g, p, noise), accuracy)
        return
    hold = play[g].hold
    u = _uniform(rng, g)
    if hold > 2 and ((dop < 0.04 and u < 0.12 + 0.3 * skill) or u < 0.01 + 0.02 * skill):
        kind = SHORT_PASS if _uniform(rng, g) < 0.75 else LONG_PASS
        j = _choose_receiver(pos, present, roles, rng, g, p, s, 0.0, 0.22 if kind == SHORT_PASS else 0.5, noise)
        if j >= 0 and s * (pos[g, j, 0] - px) > -0.1:
            _pass(pos, vel, present, roles, tired, ball, ball_dir, owner_team, owner_player, game_mode, play, rng,
                  g, p, kind, s, 0.0, accuracy, noise)
            return
    # dribble at goal, bending away from the opponent in front
    tx, ty = gx - s * 0.05, 0.0
    dx, dy = tx - px, ty - py
    d = max(math.sqrt(dx * dx + dy * dy), 1e-6)
    ux, uy = dx / d, dy / d
    if ahead < 0.12:
        side = 1.0 if (ux * ay - uy * ax) < 0.0 else -1.0  # the other side of the opponent
        w = (0.12 - ahead) / 0.12 * (0.6 + 0.6 * skill)
        ux, uy = ux - side * uy * w, uy + side * ux * w
        n = math.sqrt(ux * ux + uy * uy)
        ux, uy = ux / n, uy / n
    m = SPRINT_INTENT if (dop > 0.1 and skill > 0.3) or dop > 0.2 else 1.0
    intent[g, p, 0] = ux * m
    intent[g, p, 1] = uy * m


@njit(cache=True, fastmath=True)
def _run_ai(pos, vel, present, roles, tired, ball, ball_dir, owner_team, owner_player, game_mode, controlled,
            play, rng, intent, slide, home, lazy, rules, g):
    """Intents (and kicks, slides) for every player of game ``g`` not controlled by an agent."""
    own = _owner_slot(owner_team, owner_player, g)
    bx, by = ball[g, 0], ball[g, 1]
    # per team: nearest and second-nearest AI-run outfield players to the ball
    n1l, n2l, n1r, n2r = -1, -1, -1, -1
    d1l, d2l, d1r, d2r = 1e9, 1e9, 1e9, 1e9
    for p in range(SLOTS):
        # the agents' players are not counted: the AI presses and chases with its own
        if not present[g, p] or roles[g, p] == GK or _controller(controlled, g, p) >= 0:
            continue
        d = (pos[g, p, 0] - bx) ** 2 + (pos[g, p, 1] - by) ** 2
        if p < PLAYERS_PER_TEAM:
            if d < d1l:
                n2l, d2l, n1l, d1l = n1l, d1l, p, d
            elif d < d2l:
                n2l, d2l = p, d
        else:
            if d < d1r:
                n2r, d2r, n1r, d1r = n1r, d1r, p, d
            elif d < d2r:
                n2r, d2r = p, d
    for p in range(SLOTS):
        if not present[g, p] or slide[g, p] > 0:
            continue
        team = _slot_team(p)
        if team == 0 and _controller(controlled, g, p) >= 0:
            # an agent plays him, unless he is a restart taker the agent keeps waiting with
            if not (own == p and game_mode[g] != NORMAL and play[g].restart_t >= AGENT_RESTART_PATIENCE):
                continue
        skill = rules.skill_left if team == 0 else rules.skill_right
        if lazy[p]:
            intent[g, p, 0] = intent[g, p, 1] = 0.0
            continue
        if roles[g, p] == GK:
            _keeper(pos, vel, present, roles, ball, ball_dir, owner_team, owner_player, game_mode, play, rng, intent,
                    tired, g, p, team, skill, own)
            continue
        if own == p:
            _carrier(pos, vel, present, roles, tired, ball, ball_dir, owner_team, owner_player, game_mode, play,
                     rng, intent, g, p, team, skill)
            continue
        # slow reactions: a weak player keeps yesterday's idea
        if _uniform(rng, g) > 0.3 + 0.7 * skill:
            continue
        first = n1l if team == 0 else n1r
        second = n2l if team == 0 else n2r
        px, py = pos[g, p, 0], pos[g, p, 1]
        s = 1.0 if team == 0 else -1.0
        if own >= 0 and _slot_team(own) == team:  # we have the ball
            _formation(pos, home, ball, intent, g, p, team, True, roles[g, p])
        elif own >= 0:  # they have it: press, cover, or hold the shape
            if game_mode[g] != NORMAL:
                _formation(pos, home, ball, intent, g, p, team, False, roles[g, p])
            elif p == first:
                ox, oy = pos[g, own, 0] + 2.0 * vel[g, own, 0], pos[g, own, 1] + 2.0 * vel[g, own, 1]
                # approach from the goal side
                ox -= s * 0.012
                _go_to(intent, g, p, px, py, ox, oy, 1.0 + 0.45 * skill, 0.0)
                d = math.sqrt((bx - px) ** 2 + (by - py) ** 2)
                if d < 0.03 and _uniform(rng, g) < 0.03 * skill:
                    slide[g, p] = SLIDE_STEPS
                    _go_to(intent, g, p, px, py, bx, by, 1.0, 0.0)
            elif p == second and skill >= 0.3:
                gx = -s
                dx, dy = gx - bx, -by
                d = max(math.sqrt(dx * dx + dy * dy), 1e-6)
                _go_to(intent, g, p, px, py, bx + dx / d * 0.1, by + dy / d * 0.1, 1.0 + 0.3 * skill, 0.04)
            else:
                _formation(pos, home, ball, intent, g, p, team, False, roles[g, p])
        else:  # loose ball
            if p == play[g].pass_target or p == first:
                tx, ty = _intercept(pos, ball, ball_dir, g, p, RUN_SPEED * SPRINT_INTENT)
                _go_to(intent, g, p, px, py, tx, ty, SPRINT_INTENT if p == first or skill > 0.5 else 1.0, 0.0)
            else:
                _formation(pos, home, ball, intent, g, p, team, play[g].last_touch == team, roles[g, p])


# -- control switching ---------------------------------------------------------------------------
@njit(cache=True, fastmath=True)
def _update_control(pos, present, roles, ball, owner_team, owner_player, controlled, designated, play, g):
    """Designated player (owner, pass receiver, or nearest outfield player) and the further agent
    slots' players (next-nearest; the keeper last)."""
    bx, by = ball[g, 0], ball[g, 1]
    des = -1
    if owner_team[g] == 0:
        des = owner_player[g]
    elif owner_team[g] < 0 and 0 <= play[g].pass_target < PLAYERS_PER_TEAM:
        if roles[g, play[g].pass_target] != GK:
            des = play[g].pass_target
    if des < 0:
        best = 1e9
        for p in range(PLAYERS_PER_TEAM):
            if present[g, p] and roles[g, p] != GK:
                d = (pos[g, p, 0] - bx) ** 2 + (pos[g, p, 1] - by) ** 2
                if d < best:
                    best, des = d, p
        if des < 0:
            des = 0
    designated[g] = des
    controlled[g, 0] = des
    n_c = controlled.shape[1]
    if n_c == 1:
        return
    # selection by distance (keepers count as far away), skipping those already taken
    for c in range(1, n_c):
        best, pick = 1e18, -1
        for p in range(PLAYERS_PER_TEAM):
            if not present[g, p]:
                continue
            taken = False
            for k in range(c):
                if controlled[g, k] == p:
                    taken = True
            if taken:
                continue
            d = (pos[g, p, 0] - bx) ** 2 + (pos[g, p, 1] - by) ** 2
            if roles[g, p] == GK:
                d += 100.0
            if d < best:
                best, pick = d, p
        controlled[g, c] = pick


# -- the step kernel -----------------------------------------------------------------------------
@njit(cache=True, fastmath=True)
def _agent_actions(actions, pos, vel, present, roles, tired, ball, ball_dir, owner_team, owner_player, game_mode,
                   controlled, sticky, play, rng, intent, slide, g):
    own = _owner_slot(owner_team, owner_player, g)
    for c in range(controlled.shape[1]):
        p = np.int64(controlled[g, c])  # one integer type for all helpers: fewer specialisations
        if p < 0:
            continue
        a = actions[g, c]
        if 1 <= a <= 8:
            for k in range(8):
                sticky[g, c, k] = False
            sticky[g, c, a - 1] = True
        elif a == RELEASE_DIRECTION:
            for k in range(8):
                sticky[g, c, k] = False
        elif a == SPRINT:
            sticky[g, c, STICKY_SPRINT] = True
        elif a == RELEASE_SPRINT:
            sticky[g, c, STICKY_SPRINT] = False
        elif a == DRIBBLE:
            sticky[g, c, STICKY_DRIBBLE] = True
        elif a == RELEASE_DRIBBLE:
            sticky[g, c, STICKY_DRIBBLE] = False
        dx, dy = 0.0, 0.0
        for k in range(8):
            if sticky[g, c, k]:
                dx, dy = DIRECTIONS[k, 0], DIRECTIONS[k, 1]
        m = SPRINT_INTENT if sticky[g, c, STICKY_SPRINT] else 1.0
        if slide[g, p] > 0:
            continue
        intent[g, p, 0] = dx * m
        intent[g, p, 1] = dy * m
        if own == p:
            if LONG_PASS <= a <= SHOT:
                if dx == 0.0 and dy == 0.0:  # no direction held: the way he faces
                    vx, vy = vel[g, p, 0], vel[g, p, 1]
                    v = math.sqrt(vx * vx + vy * vy)
                    if v > 0.002:
                        dx, dy = vx / v, vy / v
                    else:
                        dx, dy = 1.0, 0.0
                if a == SHOT:
                    aim = 0.03 * dy / max(abs(dy), 1e-9) if abs(dy) > 0.1 else 0.025 * (2.0 * _uniform(rng, g) - 1.0)
                    _shoot(tired, ball, ball_dir, owner_team, owner_player, game_mode, play, rng, g, p, aim, 1.0)
                else:
                    _pass(pos, vel, present, roles, tired, ball, ball_dir, owner_team, owner_player, game_mode,
                          play, rng, g, p, a, dx, dy, 1.0, 0.0)
                own = -1
        elif own < 0 and play[g].pass_target == p and dx == 0.0 and dy == 0.0:
            # a pass to him and no direction held: he goes to meet it
            tx, ty = _intercept(pos, ball, ball_dir, g, p, RUN_SPEED)
            _go_to(intent, g, p, pos[g, p, 0], pos[g, p, 1], tx, ty, 1.0, 0.01)
        elif a == SHORT_PASS and (own < 0 or own >= PLAYERS_PER_TEAM):
            # pressure: go for the ball
            bx, by = ball[g, 0], ball[g, 1]
            _go_to(intent, g, p, pos[g, p, 0], pos[g, p, 1], bx, by, m, 0.0)
        elif a == SLIDING and own != p:
            slide[g, p] = SLIDE_STEPS
            if dx == 0.0 and dy == 0.0:
                bx, by = ball[g, 0] - pos[g, p, 0], ball[g, 1] - pos[g, p, 1]
                d = max(math.sqrt(bx * bx + by * by), 1e-6)
                intent[g, p, 0], intent[g, p, 1] = bx / d, by / d


@njit(cache=True, fastmath=True)
def _move_players(pos, vel, present, tired, owner_team, owner_player, game_mode, controlled, sticky, intent,
                  slide, facing, rules, g):
    own = _owner_slot(owner_team, owner_player, g)
    for p in range(SLOTS):
        if not present[g, p]:
            continue
        if own == p and game_mode[g] != NORMAL:  # a restart taker waits on the spot
            vel[g, p, 0] = vel[g, p, 1] = 0.0
            continue
        ix, iy = intent[g, p, 0], intent[g, p, 1]
        m = math.sqrt(ix * ix + iy * iy)
        if slide[g, p] > 0:
            f = SLIDE_SPEED * slide[g, p] / SLIDE_STEPS / max(m, 1e-6)
            vel[g, p, 0], vel[g, p, 1] = ix * f, iy * f
            if m < 1e-6:
                vel[g, p, 0], vel[g, p, 1] = facing[g, p, 0] * SLIDE_SPEED, facing[g, p, 1] * SLIDE_SPEED
            slide[g, p] -= 1
        else:
            speed = RUN_SPEED * (1.0 - 0.3 * tired[g, p])
            team = _slot_team(p)
            if team == 1:
                speed *= 0.9 + 0.1 * rules.skill_right
            if own == p:
                speed *= CARRY_SPEED
                c = _controller(controlled, g, p)
                if c >= 0 and sticky[g, c, STICKY_DRIBBLE]:
                    speed *= DRIBBLE_SPEED
            tx, ty = ix * speed, iy * speed
            dvx, dvy = tx - vel[g, p, 0], ty - vel[g, p, 1]
            dv = math.sqrt(dvx * dvx + dvy * dvy)
            acc = ACCELERATION * (1.5 if m > SPRINT_INTENT + 0.01 else 1.0)  # keepers dive fast
            if dv > acc:
                dvx *= acc / dv
                dvy *= acc / dv
            vel[g, p, 0] += dvx
            vel[g, p, 1] += dvy
            if m > 1.05:
                tired[g, p] = min(tired[g, p] + TIRE_SPRINT, 1.0)
            else:
                tired[g, p] = max(tired[g, p] - RECOVER, 0.0)
        x = pos[g, p, 0] + vel[g, p, 0]
        y = pos[g, p, 1] + vel[g, p, 1]
        if abs(x) > PLAYER_X_LIMIT:
            x = math.copysign(PLAYER_X_LIMIT, x)
            vel[g, p, 0] = 0.0
        if abs(y) > PLAYER_Y_LIMIT:
            y = math.copysign(PLAYER_Y_LIMIT, y)
            vel[g, p, 1] = 0.0
        pos[g, p, 0], pos[g, p, 1] = x, y
        v = math.sqrt(vel[g, p, 0] ** 2 + vel[g, p, 1] ** 2)
        if v > 0.002:
            facing[g, p, 0], facing[g, p, 1] = vel[g, p, 0] / v, vel[g, p, 1] / v


@njit(cache=True, fastmath=True)
def _tackles(pos, present, roles, yellow, ball, ball_dir, owner_team, owner_player, game_mode, controlled, sticky,
             intent, play, rng, slide, facing, lazy, rules, g):
    """Standing tackles on the ball carrier and sliding tackles; returns the team given a free kick
    by a foul (-1 none)."""
    own = _owner_slot(owner_team, owner_player, g)
    if game_mode[g] != NORMAL:
        return -1
    bx, by = ball[g, 0], ball[g, 1]
    for q in range(SLOTS):
        if not present[g, q] or lazy[q]:
            continue
        team = _slot_team(q)
        if own >= 0 and _slot_team(own) == team:
            continue
        d = math.sqrt((pos[g, q, 0] - bx) ** 2 + (pos[g, q, 1] - by) ** 2)
        if slide[g, q] > 0:
            if d > SLIDE_RADIUS:
                continue
            skill = rules.skill_left if team == 0 else rules.skill_right
            if own < 0 and ball[g, 2] < CONTROL_HEIGHT:  # a loose ball: poke it on
                ball_dir[g, 0] = facing[g, q, 0] * 0.025
                ball_dir[g, 1] = facing[g, q, 1] * 0.025
                _slide_knocks_loose(play, slide, g, q)
                return -1
            if own < 0:
                continue
            u = _uniform(rng, g)
            if u < 0.45 + 0.25 * skill:  # clean: the ball runs loose in the slide's direction
                owner_team[g] = -1
                owner_player[g] = -1
                ball_dir[g, 0] = facing[g, q, 0] * 0.025 + 0.3 * (_uniform(rng, g) - 0.5) * 0.02
                ball_dir[g, 1] = facing[g, q, 1] * 0.025 + 0.3 * (_uniform(rng, g) - 0.5) * 0.02
                ball_dir[g, 2] = 0.0
                play[g].hold = 0
                _slide_knocks_loose(play, slide, g, q)
                return -1
            slide[g, q] = 0
            if rules.full_game and u < 0.45 + 0.25 * skill + 0.35:  # foul
                if _uniform(rng, g) < 0.2:
                    yellow[g, q] = True
                return 1 - team
            return -1
        if own < 0 or d > TACKLE_RADIUS or roles[g, q] == GK:
            continue
        if team == 0 and _controller(controlled, g, q) >= 0:
            chance = 0.22
        else:
            skill = rules.skill_left if team == 0 else rules.skill_right
            chance = 0.06 + 0.24 * skill
        c = _controller(controlled, g, own)
        if c >= 0 and sticky[g, c, STICKY_DRIBBLE]:
            chance *= 0.5
        if intent[g, own, 0] ** 2 + intent[g, own, 1] ** 2 > 1.1:  # sprinting with the ball
            chance *= 1.3
        ahead = ((pos[g, q, 0] - pos[g, own, 0]) * facing[g, own, 0]
                 + (pos[g, q, 1] - pos[g, own, 1]) * facing[g, own, 1])
        if ahead < 0.0:
            chance *= 0.5  # a tackle from behind
        if _uniform(rng, g) < chance:
            _take(owner_team, owner_player, play, g, q)
            play[g].kicker = own  # the loser cannot steal it straight back
            play[g].cooldown = 3
            return -1
    return -1


@njit(cache=True, fastmath=True)
def _ball_free(pos, present, roles, ball, ball_dir, owner_team, owner_player, play, rng, rules, g):
    """Move the free ball one step; the first player on its path may take it (keepers may save)."""
    x0, y0, z0 = ball[g, 0], ball[g, 1], ball[g, 2]
    vx, vy, vz = ball_dir[g, 0], ball_dir[g, 1], ball_dir[g, 2]
    if z0 > 0.0 or vz > 0.0:
        vx *= AIR_DRAG
        vy *= AIR_DRAG
        vz -= GRAVITY
        z1 = z0 + vz
        if z1 <= 0.0:
            z1 = 0.0
            if vz < -0.004:
                vz = -vz * BOUNCE
                vx *= 0.75
                vy *= 0.75
            else:
                vz = 0.0
    else:
        z1 = 0.0
        v = math.sqrt(vx * vx + vy * vy)
        if v > 1e-12:
            f = max(v * GROUND_FRICTION - GROUND_DECEL, 0.0) / v
            vx *= f
            vy *= f
    x1, y1 = x0 + vx, y0 + vy
    ball_dir[g, 0], ball_dir[g, 1], ball_dir[g, 2] = vx, vy, vz
    ball[g, 0], ball[g, 1], ball[g, 2] = x1, y1, z1
    if play[g].cooldown > 0:
        play[g].cooldown -= 1
    # who does the ball reach first on its way?
    speed = math.sqrt(vx * vx + vy * vy)
    best_t, best_p, best_d = 2.0, -1, 0.0
    zlow = min(z0, z1)
    shot = play[g].shot
    for p in range(SLOTS):
        if not present[g, p]:
            continue
        if p == play[g].kicker and play[g].cooldown > 0:
            continue
        team = _slot_team(p)
        is_gk = roles[g, p] == GK
        reach = CONTROL_RADIUS
        height = CONTROL_HEIGHT
        if is_gk:
            skill = rules.skill_left if team == 0 else rules.skill_right
            height = KEEPER_HEIGHT
            reach = 0.03
            if shot >= 0 and shot != team:
                reach = KEEPER_REACH + KEEPER_REACH_SKILL * skill
        if zlow > height:
            continue
        d, t = _seg_dist(pos[g, p, 0], pos[g, p, 1], x0, y0, x1, y1)
        if d <= reach and t < best_t:
            best_t, best_p, best_d = t, p, d
    if best_p < 0:
        return
    p = best_p
    team = _slot_team(p)
    cx, cy = x0 + best_t * (x1 - x0), y0 + best_t * (y1 - y0)
    if roles[g, p] == GK and shot >= 0 and shot != team:
        skill = rules.skill_left if team == 0 else rules.skill_right
        reach = KEEPER_REACH + KEEPER_REACH_SKILL * skill
        chance = (0.4 + 0.5 * skill) * (1.0 - 0.6 * best_d / reach) * min(max(1.4 - 8.0 * speed, 0.5), 1.0)
        u = _uniform(rng, g)
        if u >= chance:
            return  # beaten
        if u < 0.55 * chance:  # caught
            owner_team[g] = team
            owner_player[g] = p - team * PLAYERS_PER_TEAM
            ball[g, 0], ball[g, 1], ball[g, 2] = cx, cy, 0.0
        else:  # parried away from goal
            s = 1.0 if team == 0 else -1.0
            ball[g, 0], ball[g, 1] = cx, cy
            ball_dir[g, 0] = s * speed * (0.2 + 0.3 * _uniform(rng, g))
            ball_dir[g, 1] = speed * (_uniform(rng, g) - 0.5) * 1.2
            ball_dir[g, 2] = 0.004 * _uniform(rng, g)
            play[g].kicker = p
            play[g].cooldown = 3
        play[g].shot = -1
        play[g].pass_target = -1
        play[g].last_touch = team
        play[g].hold = 0
        return
    # control: easy for slow balls and for the intended receiver, hard for fast ones
    chance = min(max(1.45 - 14.0 * speed, 0.25), 1.0)
    if speed > 0.01:  # a moving ball is harder to stop at the end of his reach
        chance *= 1.0 - 0.4 * best_d / CONTROL_RADIUS
    if p == play[g].pass_target:
        chance = min(chance + 0.35, 1.0)
    elif play[g].kicker >= 0 and _slot_team(play[g].kicker) != team and play[g].cooldown >= KICK_COOLDOWN - 2:
        chance *= 0.4  # a ball struck past him a moment ago: little time to react
    if _uniform(rng, g) < chance:
        _take(owner_team, owner_player, play, g, p)
        ball[g, 0], ball[g, 1], ball[g, 2] = cx, cy, 0.0
    else:  # a touch that deflects it
        ang = 0.6 * (_uniform(rng, g) - 0.5)
        c, s_ = math.cos(ang), math.sin(ang)
        ball_dir[g, 0], ball_dir[g, 1] = 0.7 * (vx * c - vy * s_), 0.7 * (vx * s_ + vy * c)
        play[g].kicker = p
        play[g].cooldown = 2
        play[g].last_touch = team
        play[g].shot = -1


@njit(cache=True, fastmath=True)
def step_kernel(actions, state, work, setup):
    """Advance every game of ``state`` (a FootballState) that is not done by one step. Returns the
    flat index of the first action outside 0..18 (nothing is advanced then), or -1."""
    # STATE_FIELDS in order (vel: the players' dir)
    (pos, vel, present, roles, tired, yellow, ball, ball_dir, ball_rot, owner_team, owner_player, game_mode, score,
     steps_left, controlled, designated, sticky, goal, done, end_reason, checkpoints, rng) = state
    play, slide, facing, intent = work.play, work.slide, work.facing, work.intent
    home, lazy, formations, rules = setup.home, setup.lazy, setup.formations, setup.rules
    n_games, n_c = actions.shape
    for g in range(n_games):
        for c in range(n_c):
            if actions[g, c] < 0 or actions[g, c] >= N_ACTIONS:
                return g * n_c + c
    for g in range(n_games):
        if done[g]:
            continue
        goal[g] = 0
        steps_left[g] -= 1
        if game_mode[g] != NORMAL:
            play[g].restart_t += 1
        if owner_team[g] >= 0:
            play[g].hold += 1
        # 1-2: decisions of agents and AI
        _agent_actions(actions, pos, vel, present, roles, tired, ball, ball_dir, owner_team, owner_player,
                       game_mode, controlled, sticky, play, rng, intent, slide, g)
        _run_ai(pos, vel, present, roles, tired, ball, ball_dir, owner_team, owner_player, game_mode, controlled,
                play, rng, intent, slide, home, lazy, rules, g)
        # 3: players move
        _move_players(pos, vel, present, tired, owner_team, owner_player, game_mode, controlled, sticky, intent,
                      slide, facing, rules, g)
        # 4: tackles, then the ball
        foul_for = _tackles(pos, present, roles, yellow, ball, ball_dir, owner_team, owner_player, game_mode,
                            controlled, sticky, intent, play, rng, slide, facing, lazy, rules, g)
        x0, y0, z0 = ball[g, 0], ball[g, 1], ball[g, 2]
        own = _owner_slot(owner_team, owner_player, g)
        if own < 0:
            _ball_free(pos, present, roles, ball, ball_dir, owner_team, owner_player, play, rng, rules, g)
            own = _owner_slot(owner_team, owner_player, g)
        if own >= 0:  # the ball at the owner's feet (also when he just took it)
            if game_mode[g] == NORMAL:
                off = CARRY_OFFSET
                c = _controller(controlled, g, own)
                if c >= 0 and sticky[g, c, STICKY_DRIBBLE]:
                    off = DRIBBLE_OFFSET
                nx = pos[g, own, 0] + facing[g, own, 0] * off
                ny = pos[g, own, 1] + facing[g, own, 1] * off
                ball_dir[g, 0], ball_dir[g, 1], ball_dir[g, 2] = nx - x0, ny - y0, 0.0
                ball[g, 0], ball[g, 1], ball[g, 2] = nx, ny, 0.0
            else:
                ball_dir[g, 0] = ball_dir[g, 1] = ball_dir[g, 2] = 0.0
        # 5: goal, out of play, restarts, end rules
        x1, y1 = ball[g, 0], ball[g, 1]
        full = rules.full_game
        scored, out = -1, False
        if abs(x1) > 1.0:
            t = (math.copysign(1.0, x1) - x0) / (x1 - x0) if abs(x1 - x0) > 1e-12 else 1.0
            t = min(max(t, 0.0), 1.0)
            yc = y0 + t * (y1 - y0)
            zc = z0 + t * (ball[g, 2] - z0)
            if abs(yc) < GOAL_HALF_WIDTH and zc < GOAL_HEIGHT:
                scored = 0 if x1 > 0 else 1
            else:
                out = True
        elif abs(y1) > PITCH_HALF_WIDTH:
            out = True
        if scored >= 0:
            score[g, scored] += 1
            goal[g] = 1 if scored == 0 else -1
            owner_team[g] = -1
            owner_player[g] = -1
            if rules.end_on_score:
                done[g] = True
                end_reason[g] = ENDED_SCORE
            else:
                _kick_off(pos, vel, ball, ball_dir, owner_team, owner_player, game_mode, play, slide, intent,
                          formations, g, 1 - scored)
        elif out:
            owner_team[g] = -1
            owner_player[g] = -1
            if rules.end_on_out_of_play:
                done[g] = True
                end_reason[g] = ENDED_OUT_OF_PLAY
            elif full:
                last = play[g].last_touch
                if abs(x1) > 1.0:
                    defending = 1 if x1 > 0 else 0  # the team whose goal line it crossed
                    if last == defending:
                        _set_piece(pos, vel, present, roles, ball, ball_dir, owner_team, owner_player, game_mode,
                                   play, slide, g, CORNER, 1 - defending, math.copysign(0.99, x1),
                                   math.copysign(0.41, y1))
                    else:
                        _set_piece(pos, vel, present, roles, ball, ball_dir, owner_team, owner_player, game_mode,
                                   play, slide, g, GOAL_KICK, defending, math.copysign(0.92, x1), 0.0)
                else:
                    team = 1 - last if last >= 0 else 0
                    _set_piece(pos, vel, present, roles, ball, ball_dir, owner_team, owner_player, game_mode, play,
                               slide, g, THROW_IN, team, min(max(x1, -0.98), 0.98), math.copysign(0.42, y1))
        elif foul_for >= 0 and full:
            _set_piece(pos, vel, present, roles, ball, ball_dir, owner_team, owner_player, game_mode, play, slide, g,
                       FREE_KICK, foul_for, min(max(x1, -0.97), 0.97), min(max(y1, -0.4), 0.4))
        if not done[g]:
            if owner_team[g] == 1 and play[g].last_owner != 1 and rules.end_on_possession_change:
                done[g] = True
                end_reason[g] = ENDED_POSSESSION_CHANGE
            elif steps_left[g] <= 0:
                done[g] = True
                end_reason[g] = ENDED_TIME
        if owner_team[g] >= 0:
            play[g].last_owner = owner_team[g]
        # 6: who the agents control next
        _update_control(pos, present, roles, ball, owner_team, owner_player, controlled, designated, play, g)
    return -1


@njit(cache=True, fastmath=True)
def reset_kernel(mask, seeds, use_seeds, state, work, setup):
    """Restart the games where ``mask`` from the scenario's start; with ``use_seeds`` the i-th of them
    takes its random stream from ``seeds[i]``."""
    # STATE_FIELDS in order (vel: the players' dir)
    (pos, vel, present, roles, tired, yellow, ball, ball_dir, ball_rot, owner_team, owner_player, game_mode, score,
     steps_left, controlled, designated, sticky, goal, done, end_reason, checkpoints, rng) = state
    play, slide, facing, intent, rules = work.play, work.slide, work.facing, work.intent, setup.rules
    init_pos, init_present, init_roles = setup.init_pos, setup.init_present, setup.init_roles
    k = 0
    for g in range(mask.shape[0]):
        if not mask[g]:
            continue
        if use_seeds:
            rng[g] = seeds[k]
        k += 1
        for p in range(SLOTS):
            pos[g, p, 0], pos[g, p, 1] = init_pos[p, 0], init_pos[p, 1]
            vel[g, p, 0] = vel[g, p, 1] = 0.0
            intent[g, p, 0] = intent[g, p, 1] = 0.0
            facing[g, p, 0], facing[g, p, 1] = (1.0 if p < PLAYERS_PER_TEAM else -1.0), 0.0
            present[g, p] = init_present[p]
            roles[g, p] = init_roles[p]
            tired[g, p] = 0.0
            yellow[g, p] = False
            slide[g, p] = 0
        ball[g, 0], ball[g, 1], ball[g, 2] = rules.ball_x, rules.ball_y, 0.0
        for i in range(3):
            ball_dir[g, i] = 0.0
            ball_rot[g, i] = 0.0
        owner = rules.initial_owner
        owner_team[g] = 0 if owner >= 0 else -1
        owner_player[g] = owner
        game_mode[g] = rules.initial_mode
        score[g, 0] = score[g, 1] = 0
        steps_left[g] = rules.episode_steps
        for c in range(sticky.shape[1]):
            for i in range(sticky.shape[2]):
                sticky[g, c, i] = False
            checkpoints[g, c] = 0
        goal[g] = 0
        done[g] = False
        end_reason[g] = RUNNING
        play[g].last_touch = 0 if owner >= 0 else -1
        play[g].kicker = -1
        play[g].cooldown = 0
        play[g].pass_target = -1
        play[g].shot = -1
        play[g].restart_t = 0
        play[g].hold = 0
        play[g].last_owner = 0 if owner >= 0 else -1
        _update_control(pos, present, roles, ball, owner_team, owner_player, controlled, designated, play, g)


def skill(difficulty: float) -> float:
    """The AI's skill in [0.35, 1] for a GRF difficulty in [0, 1]: even GRF's easiest opponents
    defend and keep goal a little."""
    return 0.35 + 0.65 * difficulty


def scenario_setup(s: Scenario, difficulty: float) -> Setup:
    """The :class:`Setup` of scenario ``s`` with the right team's AI at ``difficulty``."""
    init_pos = np.zeros((SLOTS, 2))
    init_present = np.zeros(SLOTS, np.bool_)
    init_roles = np.zeros(SLOTS, np.int8)
    home = np.zeros((SLOTS, 2))
    for lo, pts, roles, spots in ((0, s.left, s.left_roles, s.left_home),
                                  (PLAYERS_PER_TEAM, s.right, s.right_roles, s.right_home)):
        n = len(pts)
        init_pos[lo:lo + n] = pts
        init_present[lo:lo + n] = True
        init_roles[lo:lo + n] = roles
        home[lo:lo + n] = spots[:n] if len(spots) >= n else pts
    lazy = np.zeros(SLOTS, np.bool_)
    if s.lazy_opponents:
        lazy[PLAYERS_PER_TEAM:PLAYERS_PER_TEAM + s.n_right] = np.asarray(s.right_roles) != GK
    # kick-off formations: [0] the left team kicks off (the scenario's), [1] the right team does
    # (each team takes the other's own-frame formation, mirrored)
    formations = np.zeros((2, SLOTS, 2))
    formations[0] = init_pos
    formations[1] = init_pos
    if s.full_game and s.n_left == s.n_right:
        formations[1, :s.n_left] = -np.asarray(s.right)
        formations[1, PLAYERS_PER_TEAM:PLAYERS_PER_TEAM + s.n_right] = -np.asarray(s.left)
    # plain Python scalars: one Numba type for every scenario, hence one compiled kernel
    rules = Rules(skill_left=float(skill(LEFT_TEAM_DIFFICULTY)), skill_right=float(skill(difficulty)),
                  end_on_score=bool(s.end_on_score), end_on_out_of_play=bool(s.end_on_out_of_play),
                  end_on_possession_change=bool(s.end_on_possession_change), full_game=bool(s.full_game),
                  episode_steps=int(s.episode_steps), initial_mode=int(s.initial_mode),
                  initial_owner=int(s.initial_owner), ball_x=float(s.ball[0]), ball_y=float(s.ball[1]))
    return Setup(init_pos, init_present, init_roles, home, lazy, formations, rules)


def _compiled(kernel, *args):
    """``kernel`` compiled (or loaded from Numba's cache) for the types of ``args``; later calls must pass
    arguments of exactly those types."""
    return kernel.compile(tuple(typeof(a) for a in args))


def _mix_seed(seed: int) -> np.uint64:
    """A well-spread stream state from a small integer seed (splitmix64 of the seed)."""
    z = (int(seed) * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return np.uint64(z ^ (z >> 31))


def integer_actions(actions) -> np.ndarray:
    """``actions`` as int64 (integral floats accepted); ValueError for anything else."""
    a = np.asarray(actions)
    if a.dtype.kind in "iu":
        return a.astype(np.int64)
    if a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
        return a.astype(np.int64)
    raise ValueError(f"actions must be integers in 0..{N_ACTIONS - 1}, got {a.dtype} values {actions!r}")


class FootballEngine:
    """``n_games`` games of one scenario, stepped together by a compiled kernel.

    Arguments:
        scenario: a GRF scenario name or a :class:`~envs.football.scenarios.Scenario`.
        n_games: games in the batch.
        n_controlled: left players driven by the agent (agent slots); at most the scenario's left
            players.
        difficulty: the right team's AI strength in [0, 1]; None takes the scenario's.

    Attributes: ``scenario``, ``state`` (a :class:`~envs.football.state.FootballState`, updated in
    place), ``work`` (the engine's private :class:`EngineWork`), ``setup`` (the scenario's
    :class:`Setup`), ``difficulty``. Game ``i``'s random stream starts from seed ``i`` until
    :meth:`reset` is given seeds.
    """

    def __init__(self, scenario: str | Scenario, n_games: int = 1, n_controlled: int = 1,
                 difficulty: float | None = None) -> None:
        if isinstance(scenario, str):
            scenario = _scenario(scenario)
        elif not isinstance(scenario, Scenario):
            raise ValueError(f"scenario must be a scenario name or a Scenario, got {type(scenario).__name__}")
        if int(n_games) != n_games or n_games < 1:
            raise ValueError(f"n_games must be an integer >= 1, got {n_games!r}")
        if int(n_controlled) != n_controlled or not 1 <= n_controlled <= scenario.n_left:
            raise ValueError(f"n_controlled must be an integer in 1..{scenario.n_left} (the left players of "
                             f"{scenario.name}), got {n_controlled!r}")
        if difficulty is None:
            difficulty = scenario.difficulty
        if not 0.0 <= float(difficulty) <= 1.0:
            raise ValueError(f"difficulty must be in [0, 1], got {difficulty!r}")
        self.scenario = scenario
        self.difficulty = float(difficulty)
        self.n_games, self.n_controlled = int(n_games), int(n_controlled)
        self.state = FootballState.allocate(self.n_games, self.n_controlled)
        self.work = EngineWork(**allocate_fields(WORK_FIELDS, self.n_games))
        self.setup = scenario_setup(scenario, self.difficulty)
        self._action_shape = (self.n_games, self.n_controlled)
        self._no_seeds = np.zeros(0, np.uint64)
        self._all = np.ones(self.n_games, np.bool_)
        # the kernels bound to this engine's types: a call then skips Numba's typing of each named tuple's
        # arrays, which would cost more than a single game's step
        self._reset_kernel = _compiled(reset_kernel, self._all, self._no_seeds, False, self.state, self.work,
                                       self.setup)
        self._step_kernel = _compiled(step_kernel, np.zeros(self._action_shape, np.int64), self.state, self.work,
                                      self.setup)
        self.state.rng[:] = [_mix_seed(i) for i in range(self.n_games)]
        self.reset()

    def reset(self, games: np.ndarray | None = None, seeds: np.ndarray | None = None) -> None:
        """Restart ``games`` (a bool mask or indices; None: all) from the scenario's start.

        ``seeds``: one non-negative int per restarted game, seeding its random stream; None keeps
        the streams going.
        """
        if games is None:
            mask = self._all
        else:
            g = np.asarray(games)
            if g.dtype == np.bool_:
                if g.shape != (self.n_games,):
                    raise ValueError(f"a games mask must have shape ({self.n_games},), got {g.shape}")
                mask = g.copy()  # it may be state.done itself, which the reset rewrites
            else:
                if g.dtype.kind not in "iu" or g.ndim > 1 or (g.size and (g.min() < 0 or g.max() >= self.n_games)):
                    raise ValueError(f"games must be a bool mask or indices in 0..{self.n_games - 1}, got {games!r}")
                mask = np.zeros(self.n_games, np.bool_)
                mask[g] = True
        if seeds is None:
            self._reset_kernel(mask, self._no_seeds, False, self.state, self.work, self.setup)
            return
        s = np.atleast_1d(np.asarray(seeds))
        n = int(mask.sum())
        if s.dtype.kind not in "iu" or s.shape != (n,) or (s.size and s.min() < 0):
            raise ValueError(f"seeds must be {n} non-negative integers (one per reset game), got {seeds!r}")
        mixed = np.array([_mix_seed(x) for x in s], np.uint64)
        self._reset_kernel(mask, mixed, True, self.state, self.work, self.setup)

    def step(self, actions: np.ndarray) -> None:
        """Advance every game that is not done by one step (0.1 s).

        ``actions``: ints in 0..18 of shape (n_games, n_controlled) (for one agent slot also
        (n_games,)). Games already done are left as they are.
        """
        a = actions
        if type(a) is not np.ndarray or a.dtype != np.int64:
            a = integer_actions(a)
        if a.shape != self._action_shape:
            if a.shape == (self.n_games,) and self.n_controlled == 1:
                a = a.reshape(self._action_shape)
            else:
                raise ValueError(f"actions must have shape {self._action_shape} (n_games, n_controlled), "
                                 f"got {a.shape}")
        if not a.flags.c_contiguous:  # the layout the kernel was bound to
            a = np.ascontiguousarray(a)
        bad = self._step_kernel(a, self.state, self.work, self.setup)
        if bad >= 0:
            raise ValueError(f"action {a.flat[bad]!r} at index {np.unravel_index(bad, a.shape)} is not one of "
                             f"0..18 ({', '.join(f'{i} {n}' for i, n in enumerate(ACTIONS))})")
