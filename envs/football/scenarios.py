"""The 14 scenarios of Google Research Football (GRF), as data for the built-in engine.

Every scenario gives the players' starting positions and roles, the ball's starting position, the
episode length, the end-of-episode rules and the right team's AI difficulty, all taken from GRF's
``gfootball/scenarios/*.py``. GRF writes the right team's positions in that team's own (mirrored)
frame; here every position is in the left team's frame (``x -> -x, y -> -y`` for the right team),
which is the frame of :class:`~envs.football.state.FootballState`.

Full games (``11_vs_11_*``) start with the left team's kick-off (GRF alternates the kick-off team
between episodes; this engine always gives the first one to the left team) and keep playing after
goals and balls out of play; academy scenarios end on a goal, on the ball leaving the pitch, on the
right team winning the ball (all but ``academy_corner``) or at the time limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from envs.football.state import CB, CF, CM, CORNER, GK, KICK_OFF, LB, LM, NORMAL, RB, RM, PLAYERS_PER_TEAM

Point = tuple[float, float]

# GRF's default right-team difficulty (academy scenarios keep it) and its left-team one, used for
# the left team's AI-run players.
DEFAULT_DIFFICULTY = 0.6
LEFT_TEAM_DIFFICULTY = 1.0


@dataclass(frozen=True)
class Scenario:
    """One GRF scenario. Positions are in the left team's frame (the right team defends x = +1).

    Attributes:
        name: GRF's scenario name.
        left: ``(x, y)`` of the left team's players, slot order.
        left_roles: their roles (``state.GK`` ... ``state.CF``).
        right: ``(x, y)`` of the right team's players in the left team's frame.
        right_roles: their roles.
        ball: the ball's starting ``(x, y)``.
        episode_steps: the time limit in steps (10 per game second).
        end_on_score, end_on_out_of_play, end_on_possession_change: academy end rules.
        difficulty: the right team's AI strength in [0, 1] (GRF: 0.05 easy, 0.6 normal, 0.95 hard).
        lazy_opponents: the right team's outfield players stand still (GRF's lazy players).
        full_game: goals lead to a kick-off and balls out of play to a restart, never to an end.
        initial_mode: the game mode at the start (``state.NORMAL``, ``KICK_OFF`` or ``CORNER``).
        initial_owner: left slot that holds the ball at the start (the restart taker), -1 none.
        left_home, right_home: the formation (left frame) the AI keeps when it is not on the ball.
        deterministic: GRF's flag; every scenario here is stochastic (False).
    """

    name: str
    left: tuple[Point, ...]
    left_roles: tuple[int, ...]
    right: tuple[Point, ...]
    right_roles: tuple[int, ...]
    ball: Point
    episode_steps: int = 400
    end_on_score: bool = True
    end_on_out_of_play: bool = True
    end_on_possession_change: bool = True
    difficulty: float = DEFAULT_DIFFICULTY
    lazy_opponents: bool = False
    full_game: bool = False
    initial_mode: int = NORMAL
    initial_owner: int = -1
    left_home: tuple[Point, ...] = ()
    right_home: tuple[Point, ...] = ()
    deterministic: bool = False

    def __post_init__(self) -> None:
        for side, pos, roles in (("left", self.left, self.left_roles), ("right", self.right, self.right_roles)):
            if not 1 <= len(pos) <= PLAYERS_PER_TEAM or len(roles) != len(pos):
                raise ValueError(f"scenario {self.name!r}: {side} team needs 1..11 players with one role each")
        if not self.left_home:
            object.__setattr__(self, "left_home", self.left)
        if not self.right_home:
            object.__setattr__(self, "right_home", self.right)

    @property
    def n_left(self) -> int:
        return len(self.left)

    @property
    def n_right(self) -> int:
        return len(self.right)


def _mirror(points: tuple[Point, ...]) -> tuple[Point, ...]:
    """A team's own-frame positions in the other team's frame."""
    return tuple((-x if x else 0.0, -y if y else 0.0) for x, y in points)


# GRF's full-game formations, in the team's own frame: the kick-off team's (two players on the
# centre spot) and the other team's (a 4-4-2 outside the centre circle). Roles in slot order.
_KICK_OFF_TEAM = ((-1.0, 0.0), (0.0, 0.02), (0.0, -0.02), (-0.422, -0.19576), (-0.5, -0.06356),
                  (-0.5, 0.063559), (-0.422, 0.19576), (-0.184212, -0.10568), (-0.267574, 0.0),
                  (-0.184212, 0.10568), (-0.01, -0.2161))
_OTHER_TEAM = ((-1.0, 0.0), (-0.05, 0.0), (-0.01, 0.216102), (-0.422, -0.19576), (-0.5, -0.06356),
               (-0.5, 0.063559), (-0.422, 0.19576), (-0.184212, -0.10568), (-0.267574, 0.0),
               (-0.184212, 0.10568), (-0.01, -0.2161))
_FULL_ROLES = (GK, RM, CF, LB, CB, CB, RB, CM, CM, CM, LM)


def _full_game(name: str, difficulty: float) -> Scenario:
    return Scenario(
        name=name, left=_KICK_OFF_TEAM, left_roles=_FULL_ROLES, right=_mirror(_OTHER_TEAM),
        right_roles=_FULL_ROLES, ball=(0.0, 0.0), episode_steps=3000, end_on_score=False,
        end_on_out_of_play=False, end_on_possession_change=False, difficulty=difficulty, full_game=True,
        initial_mode=KICK_OFF, initial_owner=1, left_home=_OTHER_TEAM, right_home=_mirror(_OTHER_TEAM))


def _academy(name: str, left, right, ball: Point, **kwargs) -> Scenario:
    """``left``/``right``: ``(x, y, role)`` as GRF writes them (right in its own frame)."""
    return Scenario(
        name=name, left=tuple((x, y) for x, y, _ in left), left_roles=tuple(r for *_, r in left),
        right=_mirror(tuple((x, y) for x, y, _ in right)), right_roles=tuple(r for *_, r in right),
        ball=ball, **kwargs)


_COUNTER_LEFT = ((-1.0, 0.0, GK), (-0.672, -0.19576, LB), (-0.75, -0.06356, CB), (-0.75, 0.063559, CB),
                 (-0.672, 0.19576, RB), (-0.434, -0.10568, CM), (-0.434, 0.10568, CM), (0.5, -0.3161, CM),
                 (0.25, -0.1, LM), (0.25, 0.1, RM), (0.35, 0.316102, CF))


def _counter_right(cb1_x: float) -> tuple:
    return ((-1.0, 0.0, GK), (0.128, -0.19576, LB), (cb1_x, -0.06356, CB), (-0.4, 0.063559, CB),
            (0.128, -0.19576, RB), (0.365, -0.10568, CM), (0.282, 0.0, CM), (0.365, 0.10568, CM),
            (0.54, -0.3161, LM), (0.51, 0.0, RM), (0.54, 0.316102, CF))


_FIVE_DEFENDERS = ((0.12, 0.2, LB), (0.12, 0.1, CB), (0.12, 0.0, CM), (0.12, -0.1, CB), (0.12, -0.2, RB))
# single_goal_versus_lazy: the full-game line-ups, both without a kick-off
_LAZY_LEFT = tuple((x, y, r) for (x, y), r in zip(_KICK_OFF_TEAM, _FULL_ROLES))
_LAZY_RIGHT = tuple((x, y, r) for (x, y), r in zip(_OTHER_TEAM, _FULL_ROLES))

_ALL = (
    # GRF puts the "missing" keeper of the empty-goal drills at the far end: (1, 0) in its own frame
    _academy("academy_empty_goal_close", ((-1.0, 0.0, GK), (0.75, 0.0, CB)), ((1.0, 0.0, GK),), (0.77, 0.0)),
    _academy("academy_empty_goal", ((-1.0, 0.0, GK), (0.0, 0.0, CB)), ((1.0, 0.0, GK),), (0.02, 0.0)),
    _academy("academy_run_to_score", ((-1.0, 0.0, GK), (0.0, 0.0, CB)), ((1.0, 0.0, GK),) + _FIVE_DEFENDERS,
             (0.02, 0.0)),
    _academy("academy_run_to_score_with_keeper", ((-1.0, 0.0, GK), (0.0, 0.0, CB)),
             ((-1.0, 0.0, GK),) + _FIVE_DEFENDERS, (0.02, 0.0)),
    _academy("academy_pass_and_shoot_with_keeper", ((-1.0, 0.0, GK), (0.7, 0.0, CB), (0.7, -0.3, CB)),
             ((-1.0, 0.0, GK), (-0.75, 0.3, CB)), (0.7, -0.28)),
    _academy("academy_run_pass_and_shoot_with_keeper", ((-1.0, 0.0, GK), (0.7, 0.0, CB), (0.7, -0.3, CB)),
             ((-1.0, 0.0, GK), (-0.75, 0.1, CB)), (0.7, -0.28)),
    _academy("academy_3_vs_1_with_keeper",
             ((-1.0, 0.0, GK), (0.6, 0.0, CM), (0.7, 0.2, CM), (0.7, -0.2, CM)),
             ((-1.0, 0.0, GK), (-0.75, 0.0, CB)), (0.62, 0.0)),
    _academy("academy_corner",
             ((-1.0, 0.0, GK), (1.0, 0.42, LB), (0.7, 0.15, CB), (0.7, 0.05, CB), (0.7, -0.05, RB),
              (0.0, 0.0, CM), (0.6, 0.35, CM), (0.8, 0.07, CM), (0.8, -0.03, LM), (0.8, -0.13, RM),
              (0.7, -0.3, CF)),
             ((-1.0, 0.0, GK), (-0.75, -0.18, LB), (-0.75, -0.08, CB), (-0.75, 0.02, CB), (-1.0, -0.1, RB),
              (-0.8, -0.25, CM), (-0.88, -0.07, CM), (-0.88, 0.03, CM), (-0.88, 0.13, LM), (-0.75, 0.25, RM),
              (-0.2, 0.0, CF)),
             (0.99, 0.41), end_on_possession_change=False, initial_mode=CORNER, initial_owner=1),
    _academy("academy_counterattack_easy", _COUNTER_LEFT, _counter_right(0.4), (0.26, -0.11)),
    _academy("academy_counterattack_hard", _COUNTER_LEFT, _counter_right(-0.4), (0.26, -0.11)),
    _academy("academy_single_goal_versus_lazy", _LAZY_LEFT, _LAZY_RIGHT, (-0.48, -0.06356), episode_steps=3000,
             lazy_opponents=True),
    _full_game("11_vs_11_easy_stochastic", 0.05),
    _full_game("11_vs_11_stochastic", 0.6),
    _full_game("11_vs_11_hard_stochastic", 0.95),
)

SCENARIOS: dict[str, Scenario] = {s.name: s for s in _ALL}


def scenario(name: str) -> Scenario:
    """The scenario called ``name`` (GRF's names); ValueError listing the valid names otherwise."""
    try:
        return SCENARIOS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown football scenario {name!r}; valid: {', '.join(SCENARIOS)}") from None
